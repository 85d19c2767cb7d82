"""Streamed multipart intake: the upload goes straight to a temporary file.

The size cap is enforced while bytes arrive (not after Starlette has spooled the whole body), text
fields are bounded, and the temporary file is removed on every exit path, including parse errors
and clients that disconnect mid-upload. Free disk is checked before the body is read (against
its declared length) and every ``DISK_CHECK_BYTES`` written, so a job upload of gigabytes is
refused with 507 before it fills the disk, not after.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import anyio
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from app.core.request_limits import (
    FILE_FIELD,
    MAX_FIELD_BYTES,
    MAX_FIELDS,
    UploadLimits,
    max_upload_bytes,
)
from schemas.errors import InsufficientStorage, InvalidRequest, UnsupportedMediaType

DISK_CHECK_BYTES = 64 * 1024 * 1024
STORAGE_RETRY_AFTER_S = 60.0


@dataclass
class UploadedFile:
    path: Path
    filename: str
    content_type: str
    size: int = 0


@dataclass
class UploadedForm:
    fields: dict[str, list[str]] = field(default_factory=dict)
    file: UploadedFile | None = None


class _PartCollector:
    """Callbacks for python-multipart: routes the file part to disk, fields to memory."""

    def __init__(self, tmp_dir: Path, limits: UploadLimits) -> None:
        self.form = UploadedForm()
        self.pending = bytearray()  # file bytes parsed but not yet written (written off-loop)
        self._tmp_dir = tmp_dir
        self._limits = limits
        self._headers: dict[bytes, bytes] = {}
        self._header_field = b""
        self._header_value = b""
        self._name = ""
        self._is_file = False
        self._value = bytearray()
        self.handle: int | None = None

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
            "on_header_field": self._header_field_cb,
            "on_header_value": self._header_value_cb,
            "on_header_end": self._header_end,
            "on_headers_finished": self._start_part,
        }

    def _part_begin(self) -> None:
        self._headers, self._value, self._name, self._is_file = {}, bytearray(), "", False

    def _header_field_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _header_value_cb(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_field.lower()] = self._header_value
        self._header_field, self._header_value = b"", b""

    def _start_part(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        if not name:
            raise InvalidRequest("a multipart part has no name")
        self._name = name
        self._is_file = b"filename" in params
        if self._is_file:
            if name != FILE_FIELD:
                raise InvalidRequest(f"unexpected file field '{name}'", param=name)
            if self.form.file is not None:
                raise InvalidRequest("only one file may be uploaded", param=FILE_FIELD)
            filename = os.path.basename(params[b"filename"].decode("utf-8", "replace"))
            content_type = self._headers.get(b"content-type", b"application/octet-stream")
            fd, path = tempfile.mkstemp(prefix="upload-", dir=self._tmp_dir)
            self.handle = fd
            self.form.file = UploadedFile(
                Path(path), filename[:255] or "audio", content_type.decode("latin-1")
            )

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            assert self.form.file is not None
            self.form.file.size += end - start
            if self.form.file.size > self._limits.max_file_bytes:
                raise self._limits.too_large()
            self.pending += data[start:end]
        else:
            self._value += data[start:end]
            if len(self._value) > MAX_FIELD_BYTES:
                raise InvalidRequest(f"field '{self._name}' is too long", param=self._name)

    def _part_end(self) -> None:
        if self._is_file:
            return
        if sum(len(v) for v in self.form.fields.values()) >= MAX_FIELDS:
            raise InvalidRequest("too many form fields")
        try:
            text = self._value.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequest(
                f"field '{self._name}' is not valid UTF-8", param=self._name
            ) from None
        self.form.fields.setdefault(self._name, []).append(text)


def _boundary(request: Request) -> bytes:
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or not params.get(b"boundary"):
        raise UnsupportedMediaType(
            "the request body must be multipart/form-data with an audio 'file' part"
        )
    return params[b"boundary"]


def check_free_disk(directory: Path, needed: int, limits: UploadLimits) -> None:
    """Raise :class:`InsufficientStorage` if writing ``needed`` more bytes in ``directory``
    would leave less than ``limits.min_free_disk_bytes`` free."""
    free = shutil.disk_usage(directory).free
    if free - needed < limits.min_free_disk_bytes:
        raise InsufficientStorage(
            f"not enough free disk for this upload: {free / 2**20:.0f} MB free, "
            f"{limits.min_free_disk_bytes / 2**20:.0f} MB must stay free (STT_MIN_FREE_DISK_MB)",
            param=FILE_FIELD,
            retry_after=STORAGE_RETRY_AFTER_S,
        )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


@asynccontextmanager
async def receive_form(
    request: Request, *, tmp_dir: Path, limits: UploadLimits
) -> AsyncIterator[UploadedForm]:
    """Parse the multipart body; yields the form and deletes the temporary file afterwards."""
    declared_header = request.headers.get("content-length", "")
    declared = int(declared_header) if declared_header.isdigit() else 0
    if declared > max_upload_bytes(limits.max_file_bytes):
        raise limits.too_large(declared)
    await anyio.to_thread.run_sync(check_free_disk, tmp_dir, declared, limits)
    collector = _PartCollector(tmp_dir, limits)
    parser = MultipartParser(_boundary(request), collector.callbacks())  # type: ignore[arg-type]
    checked = 0  # bytes written when free disk was last checked
    try:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
                if collector.pending and collector.handle is not None:
                    data, collector.pending = bytes(collector.pending), bytearray()
                    await anyio.to_thread.run_sync(_write_all, collector.handle, data)
                    written = collector.form.file.size if collector.form.file else 0
                    if not declared and written - checked >= DISK_CHECK_BYTES:
                        checked = written
                        await anyio.to_thread.run_sync(check_free_disk, tmp_dir, 0, limits)
            parser.finalize()
        except MultipartParseError as exc:
            raise InvalidRequest(f"malformed multipart body: {exc}") from None
        except ClientDisconnect:
            raise InvalidRequest(
                "client disconnected during upload", code="client_disconnected"
            ) from None
        if collector.handle is not None:
            await anyio.to_thread.run_sync(os.close, collector.handle)
            collector.handle = None
        yield collector.form
    finally:
        if collector.handle is not None:
            os.close(collector.handle)
        if collector.form.file is not None:
            collector.form.file.path.unlink(missing_ok=True)
