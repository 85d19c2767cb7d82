"""HTTP intake limits on a live uvicorn server, over raw sockets: body caps enforced while bytes
arrive, stalled bodies and request heads timed out, and concurrent bodies per client capped."""

from __future__ import annotations

import http.client
import json
import select
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from app.core.config import Settings
from tests.security.conftest import FAST
from tests.support.server import running_server

MIB = 1024 * 1024
BOUNDARY = b"XyZ"
FILE_PART = (
    b"--" + BOUNDARY + b'\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
    b"Content-Type: audio/wav\r\n\r\nRIFF"
)


@contextmanager
def live(make_settings: Callable[..., Settings], **overrides: Any) -> Iterator[tuple[str, Path]]:
    """A live server; yields its base URL and its temporary upload folder."""
    settings = make_settings(**{**FAST, **overrides})
    with running_server(settings) as url:
        yield url, settings.data_dir / "tmp"


@contextmanager
def connect(url: str) -> Iterator[socket.socket]:
    parts = urlsplit(url)
    sock = socket.create_connection((parts.hostname, parts.port), timeout=15)
    try:
        yield sock
    finally:
        sock.close()


def head(path: str, content_type: str, length: int | None = None) -> bytes:
    framing = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    return (
        f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: {content_type}\r\n{framing}\r\n\r\n"
    ).encode()


def upload_head(length: int) -> bytes:
    return head(
        "/v1/audio/transcriptions", f"multipart/form-data; boundary={BOUNDARY.decode()}", length
    )


def response_of(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()


def readable(sock: socket.socket, wait: float = 0.0) -> bool:
    return bool(select.select([sock], [], [], wait)[0])


def tmp_files(tmp_dir: Path) -> list[Path]:
    return [p for p in tmp_dir.iterdir() if p.is_file()] if tmp_dir.exists() else []


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def error_code(body: bytes) -> str:
    error = json.loads(body)["error"]
    assert error["type"] in ("invalid_request_error", "rate_limit_error"), error
    return str(error["code"])


def test_chunked_json_over_the_cap_is_refused_while_it_arrives(
    make_settings: Callable[..., Settings],
) -> None:
    """64 MiB of chunked JSON: the 413 arrives long before the client could send it all."""
    total = 64 * MIB
    chunk = b"a" * MIB
    framed = b"%x\r\n" % len(chunk) + chunk + b"\r\n"
    opening = b'{"url": "http://example.com/'
    with live(make_settings) as (url, _), connect(url) as sock:
        sock.sendall(head("/v1/audio/jobs", "application/json"))
        sock.sendall(b"%x\r\n" % len(opening) + opening + b"\r\n")
        sent = 0
        try:
            while sent < total and not readable(sock):
                sock.sendall(framed)
                sent += len(chunk)
            if sent == total:
                sock.sendall(b'2\r\n"}\r\n0\r\n\r\n')
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed; its answer is still readable
        status, headers, body = response_of(sock)
    assert status == 413
    assert error_code(body) == "request_too_large"
    assert headers.get("connection") == "close"
    assert sent < total // 2, f"the client sent {sent // MIB} MiB before the answer"


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/v1/audio/jobs", "application/json"),
        ("/v1/audio/transcriptions", "application/x-www-form-urlencoded"),
        ("/v1/audio/language", "application/json"),
    ],
)
def test_declared_length_over_the_cap_is_refused_before_the_body(
    make_settings: Callable[..., Settings], path: str, content_type: str
) -> None:
    with live(make_settings, max_json_body_kb=64) as (url, _), connect(url) as sock:
        sock.sendall(head(path, content_type, length=64 * 1024 + 1))
        status, headers, body = response_of(sock)  # no body byte was sent
    assert status == 413
    assert error_code(body) == "request_too_large"
    assert headers.get("connection") == "close"


@pytest.mark.parametrize("pace", ["stalled", "trickled"])
def test_slow_body_gets_408_and_its_upload_file_is_removed(
    make_settings: Callable[..., Settings], pace: str
) -> None:
    """A stalled body (no bytes for the timeout) and one trickled a byte at a time (each read
    well inside the timeout, but far below the minimum rate) both end with 408."""
    with live(make_settings, http_body_timeout_s=1.0) as (url, tmp_dir), connect(url) as sock:
        sock.sendall(upload_head(100_000) + FILE_PART)
        wait_for(lambda: len(tmp_files(tmp_dir)) == 1)  # the upload is being written to disk
        started = time.monotonic()
        while not readable(sock, 0.25) and time.monotonic() - started < 10:
            if pace == "trickled":
                sock.sendall(b"\0")
        elapsed = time.monotonic() - started
        status, headers, body = response_of(sock)
    assert status == 408
    assert error_code(body) == "request_timeout"
    assert headers.get("connection") == "close"
    assert elapsed < 5
    assert tmp_files(tmp_dir) == []


@pytest.mark.parametrize("pace", ["dribbled", "silent"])
def test_request_head_slower_than_the_header_timeout_is_disconnected(
    make_settings: Callable[..., Settings], pace: str
) -> None:
    """A head sent a line at a time (or nothing at all) is cut off after the header timeout."""
    with live(make_settings, http_header_timeout_s=1.0) as (url, _), connect(url) as sock:
        started = time.monotonic()
        closed = False
        if pace == "dribbled":
            sock.sendall(b"GET /health HTTP/1.1\r\n")
        for line in range(40):  # at most ~10 s
            if readable(sock, 0.25):
                try:  # the server closed with our unread header lines queued: the kernel resets
                    closed = sock.recv(1024) == b""
                except ConnectionResetError:
                    closed = True
                break
            if pace == "dribbled":
                try:
                    sock.sendall(b"X-Slow-%d: 1\r\n" % line)
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
        elapsed = time.monotonic() - started
    assert closed
    assert elapsed < 4


def test_header_timeout_is_per_request_head(make_settings: Callable[..., Settings]) -> None:
    """A keep-alive connection outlives the header timeout: only unfinished heads are cut."""
    with live(make_settings, http_header_timeout_s=1.0) as (url, _), connect(url) as sock:
        for _ in range(2):
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: test\r\n\r\n")
            status, _headers, _body = response_of(sock)
            assert status == 200
            time.sleep(1.5)


def test_concurrent_bodies_per_client_are_capped(make_settings: Callable[..., Settings]) -> None:
    settings = {"max_concurrent_uploads_per_client": 2, "http_body_timeout_s": 30.0}
    with live(make_settings, **settings) as (url, tmp_dir):
        with connect(url) as first, connect(url) as second:
            for sock in (first, second):
                sock.sendall(upload_head(100_000) + FILE_PART)
            wait_for(lambda: len(tmp_files(tmp_dir)) == 2)  # both bodies are being received
            refused = httpx.post(
                url + "/v1/audio/jobs",
                content=b"{",
                headers={"Content-Type": "application/json"},
                timeout=15,
            )
            assert refused.status_code == 429
            assert refused.json()["error"]["code"] == "too_many_uploads"
            assert int(refused.headers["Retry-After"]) >= 1
        # the two uploads were abandoned: their slots (and files) are freed
        wait_for(lambda: tmp_files(tmp_dir) == [])
        accepted = httpx.post(
            url + "/v1/audio/jobs",
            content=b"{",
            headers={"Content-Type": "application/json"},
            timeout=15,
        )
        assert accepted.status_code == 400  # not valid JSON: the body was read
