"""uvicorn's options, shared by ``stt-gateway serve`` and the tests' live server
(:func:`server_options`), and the socket ``serve`` binds before anything starts.

HTTP: ``serve`` is exposed directly (no reverse proxy is assumed), so the server itself must drop
clients that hold a connection without finishing a request head. uvicorn has no such timeout
(its keep-alive timeout runs only between requests, and any byte resets it), so
:class:`HeaderDeadlineProtocol` adds one to uvicorn's httptools protocol (the one
``uvicorn[standard]`` picks; pinned here so tests exercise what production runs): a connection
must deliver a complete request head within ``STT_HTTP_HEADER_TIMEOUT_S`` of being opened, and
each further keep-alive request's head within that time of its first byte, or it is closed.
Request bodies are bounded by ``app.core.request_limits``.

WebSocket keepalive: the server sends a ping every ``STT_WS_PING_INTERVAL_S`` (it keeps proxies
and NATs from dropping a quiet connection, and lets a client notice a dead server), but never
closes a connection because a pong is late. A live session applies backpressure by not reading
the socket while its decoder is behind (``app.services.streaming.inbox``); the client's pong then
waits in TCP behind the audio it sent earlier, for as long as that audio takes to decode, so a
pong timeout would close a healthy session that sends faster than real time with 1011
"keepalive ping timeout". A dead peer is still detected by the session itself: it ends after
``STT_STREAM_IDLE_TIMEOUT_S`` without a message, and when a send is not taken within that
time (see ``app.services.streaming.session``).
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from loguru import logger
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.core.config import Settings


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """Closes the connection when a request head is not complete in time."""

    header_timeout_s: float = 10.0  # set per server by :func:`server_options`

    _head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._head_timer is None:  # a keep-alive connection's next request
            self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            logger.info(
                "closing a connection from {}: no complete request head within {:g} s",
                self.client[0] if self.client else "unknown",
                self.header_timeout_s,
            )
            self.transport.close()


def server_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.Config``: the HTTP protocol with the header deadline and
    the WebSocket keepalive (pings, no pong timeout)."""
    protocol = type(
        "HeaderDeadlineProtocol",
        (HeaderDeadlineProtocol,),
        {"header_timeout_s": settings.http_header_timeout_s},
    )
    return {
        "http": protocol,
        "ws_ping_interval": settings.ws_ping_interval_s or None,
        "ws_ping_timeout": None,
    }


def bind_listener(host: str, port: int) -> socket.socket:
    """Bind the listening socket (as uvicorn would), before anything else starts.

    ``serve`` binds first so that a second instance on an occupied port fails before its
    lifespan opens the database or starts the embedded worker. Raises ``OSError``.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock
