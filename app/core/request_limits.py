"""Bounds on every HTTP request body, enforced while the bytes arrive.

One ASGI middleware wraps ``receive`` for every HTTP request that carries a body, so no route can
buffer more than its cap or wait on a stalled client, whatever it reads with
(``request.body()``, ``request.stream()``, ``request.form()``):

* **Size.** Multipart uploads may carry the file cap plus the form fields
  (:func:`max_upload_bytes`; ``app.services.transcription.upload`` checks the precise file cap
  and the field limits defined here itself). The file cap is the synchronous endpoints'
  ``STT_MAX_FILE_SIZE_MB`` (OpenAI's 25 MB), or ``STT_JOB_MAX_FILE_SIZE_MB`` for a job upload
  (``POST .../audio/jobs``: :data:`UploadLimits`);
  any other body (JSON, urlencoded, ...) ``STT_MAX_JSON_BODY_KB``. A declared ``Content-Length``
  over the cap is refused before the body is read, a chunked one as soon as the count passes it:
  413 ``request_too_large`` (``file_too_large`` for uploads).
* **Stalls.** Each read may wait at most ``STT_HTTP_BODY_TIMEOUT_S``, and the time spent waiting
  for the body in all may not exceed that timeout plus one second per
  ``STT_HTTP_BODY_MIN_BYTES_PER_S`` bytes received (Apache ``mod_reqtimeout``'s ``MinRate``):
  a body trickled at one byte a second ends too. Then 408 ``request_timeout``. The error is raised
  inside the route's read, so the route's cleanup (the upload's temporary file) runs.
* **Concurrency.** At most ``STT_MAX_CONCURRENT_UPLOADS_PER_CLIENT`` bodies are received at once
  per client IP (the gateway is served directly: the peer address is the client); more are
  refused with 429 ``too_many_uploads`` and ``Retry-After``. A slot is held until its body has
  been read or the request ends.

A response sent before its request body was read to the end (a refusal, or a route that answered
without reading) carries ``Connection: close``, so the unread rest cannot hold the connection open.
The request head's deadline is the HTTP protocol's job (``app.core.http_server``).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import anyio
from loguru import logger
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core.config import Settings
from app.core.errors import error_response
from schemas.errors import GatewayError, PayloadTooLarge, RateLimited, RequestTimeout

UPLOAD_RETRY_AFTER_S = 1.0
# The multipart upload form (parsed by app.services.transcription.upload): one file part named
# FILE_FIELD, at most MAX_FIELDS text fields of at most MAX_FIELD_BYTES each.
MAX_FIELD_BYTES = 64 * 1024
MAX_FIELDS = 64
FILE_FIELD = "file"


JOBS_PATH = "/audio/jobs"  # job submissions under /v1 and /api/v1


def max_upload_bytes(max_file_bytes: int) -> int:
    """The largest multipart body that can be valid: the file plus every field at its limit."""
    return max_file_bytes + MAX_FIELDS * MAX_FIELD_BYTES


@dataclass(frozen=True)
class UploadLimits:
    """What an upload may take: its file size cap (and the setting that sets it, named in the
    413), and the free disk it must leave (507 below ``min_free_disk_bytes``)."""

    max_file_bytes: int
    setting: str
    min_free_disk_bytes: int = 0

    @classmethod
    def sync(cls, settings: Settings) -> UploadLimits:
        """``/audio/transcriptions`` and the other synchronous uploads."""
        free = settings.min_free_disk_mb * 1024 * 1024
        return cls(settings.max_file_size_bytes, "STT_MAX_FILE_SIZE_MB", free)

    @classmethod
    def jobs(cls, settings: Settings) -> UploadLimits:
        """Background job uploads: hours of audio, GBs."""
        free = settings.min_free_disk_mb * 1024 * 1024
        return cls(settings.job_max_file_size_bytes, "STT_JOB_MAX_FILE_SIZE_MB", free)

    def too_large(self, size: int | None = None) -> PayloadTooLarge:
        what = f"the upload ({size} bytes)" if size is not None else "the file"
        return PayloadTooLarge(
            f"{what} exceeds the maximum file size of {self.max_file_bytes / 2**20:g} MB "
            f"({self.setting})",
            param=FILE_FIELD,
        )


@dataclass(frozen=True)
class BodyLimits:
    json_bytes: int
    uploads: UploadLimits
    job_uploads: UploadLimits
    timeout_s: float
    min_bytes_per_s: int  # 0: only the per-read timeout
    per_client: int

    @classmethod
    def from_settings(cls, settings: Settings) -> BodyLimits:
        return cls(
            json_bytes=settings.max_json_body_kb * 1024,
            uploads=UploadLimits.sync(settings),
            job_uploads=UploadLimits.jobs(settings),
            timeout_s=settings.http_body_timeout_s,
            min_bytes_per_s=settings.http_body_min_bytes_per_s,
            per_client=settings.max_concurrent_uploads_per_client,
        )


    def upload_limits(self, scope: Scope) -> UploadLimits:
        """A job submission's caps, or the synchronous endpoints'."""
        return self.job_uploads if scope["path"].endswith(JOBS_PATH) else self.uploads


def _is_upload(headers: Headers) -> bool:
    return headers.get("content-type", "").lower().startswith("multipart/form-data")


def _too_large(
    headers: Headers, size: int, cap: int, uploads: UploadLimits
) -> PayloadTooLarge:
    if _is_upload(headers):
        return uploads.too_large(size)
    return PayloadTooLarge(
        f"the request body exceeds the maximum of {cap // 1024} KB", code="request_too_large"
    )


class _Body:
    """One request's body: counts bytes, times reads, frees the client's slot when done."""

    def __init__(
        self,
        receive: Receive,
        send: Send,
        headers: Headers,
        cap: int,
        limits: BodyLimits,
        uploads: UploadLimits,
        on_end: Callable[[], None],
    ) -> None:
        self._receive = receive
        self._send = send
        self._headers = headers
        self._cap = cap
        self._uploads = uploads
        self._limits = limits
        self._on_end = on_end
        self.received = 0
        self.waited = 0.0
        self.complete = False  # the last body message was read
        self.ended = False  # complete, failed, disconnected or answered: the slot is free

    def end(self) -> None:
        if not self.ended:
            self.ended = True
            self._on_end()

    def _wait_limit(self) -> float:
        """Seconds the next read may wait: the per-read timeout, or less where the minimum
        average rate leaves less."""
        limit = self._limits.timeout_s
        if self._limits.min_bytes_per_s:
            earned = self.received / self._limits.min_bytes_per_s
            limit = min(limit, self._limits.timeout_s + earned - self.waited)
        return max(limit, 0.0)

    async def receive(self) -> Message:
        if self.ended:  # after the body: only http.disconnect, which may take any time
            return await self._receive()
        started = time.monotonic()
        try:
            with anyio.fail_after(self._wait_limit()):
                message = await self._receive()
        except TimeoutError:
            self.end()
            raise RequestTimeout(
                f"the request body stalled: no data for {self._limits.timeout_s:g} s, or slower "
                f"than {self._limits.min_bytes_per_s} bytes/s"
            ) from None
        self.waited += time.monotonic() - started
        if message["type"] != "http.request":
            self.end()
            return message
        self.received += len(message.get("body", b""))
        if self.received > self._cap:
            self.end()
            raise _too_large(self._headers, self.received, self._cap, self._uploads)
        if not message.get("more_body", False):
            self.complete = True
            self.end()
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start" and not self.complete:
            MutableHeaders(scope=message)["Connection"] = "close"
        await self._send(message)


class RequestLimitsMiddleware:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.limits = BodyLimits.from_settings(settings)
        self._active: Counter[str] = Counter()  # bodies being received, per client IP

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length", "")
        length = int(declared) if declared.isdigit() else None
        if not (length or "transfer-encoding" in headers):
            await self.app(scope, receive, send)  # no body
            return
        uploads = self.limits.upload_limits(scope)
        upload_cap = max_upload_bytes(uploads.max_file_bytes)
        cap = upload_cap if _is_upload(headers) else self.limits.json_bytes
        client = scope["client"][0] if scope.get("client") else "unknown"
        if length is not None and length > cap:
            too_large = _too_large(headers, length, cap, uploads)
            await self._refuse(scope, receive, send, client, too_large)
            return
        if self._active[client] >= self.limits.per_client:
            refusal = RateLimited(
                f"at most {self.limits.per_client} request bodies may be sent at once",
                code="too_many_uploads",
                retry_after=UPLOAD_RETRY_AFTER_S,
            )
            await self._refuse(scope, receive, send, client, refusal)
            return
        self._active[client] += 1
        release = partial(self._release, client)
        body = _Body(receive, send, headers, cap, self.limits, uploads, release)
        try:
            await self.app(scope, body.receive, body.send)
        finally:
            body.end()

    def _release(self, client: str) -> None:
        self._active[client] -= 1
        if self._active[client] <= 0:
            del self._active[client]

    async def _refuse(
        self, scope: Scope, receive: Receive, send: Send, client: str, exc: GatewayError
    ) -> None:
        logger.info("request refused before its body: {} (client {})", exc.message, client)
        response = error_response(exc)
        response.headers["Connection"] = "close"
        await response(scope, receive, send)
