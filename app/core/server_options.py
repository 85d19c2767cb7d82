"""uvicorn's WebSocket keepalive options, shared by ``stt-gateway serve`` and the tests' server.

The server sends a ping every ``STT_WS_PING_INTERVAL_S`` (it keeps proxies and NATs from
dropping a quiet connection, and lets a client notice a dead server), but never closes a
connection because a pong is late. A live session applies backpressure by not reading the
socket while its decoder is behind (``app.services.streaming.inbox``); the client's pong then
waits in TCP behind the audio it sent earlier, for as long as that audio takes to decode, so a
pong timeout would close a healthy session that sends faster than real time with 1011
"keepalive ping timeout". A dead peer is still detected by the session itself: it ends after
``STT_STREAM_IDLE_TIMEOUT_S`` without a message, and when a send is not taken within that
time (see ``app.services.streaming.session``).
"""

from __future__ import annotations

from typing import Any

from app.core.config import Settings


def websocket_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config``."""
    return {
        "ws_ping_interval": settings.ws_ping_interval_s or None,
        "ws_ping_timeout": None,
    }
