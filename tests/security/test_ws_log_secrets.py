"""No fragment of a WebSocket credential reaches the logs, even at the most verbose levels.

A live uvicorn server logs at DEBUG or TRACE while clients authenticate: with the first
``auth`` message, a header, a query token, and a wrong credential. The websockets library
dumps frames and handshake headers at DEBUG and elides the middle of long payloads, so a
credential could appear cut in two: the test looks for any 12-character piece of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest
import websockets
from loguru import logger

from app.core.config import Settings
from tests.conftest import SettingsFactory
from tests.security.conftest import FAST, JWT_SECRET, token
from tests.support.server import running_server
from tests.support.stream import ws_url

#: long enough that a frame dump elides its middle (websockets shows 48 + 24 characters)
API_KEY = "sk-live-" + "7Hq2LmZ9pX4vR8tN" * 4
START = {"type": "start", "model": "mock", "sample_rate": 16000}


def pieces(secret: str, size: int = 12) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


@contextmanager
def logged_server(settings: Settings) -> Iterator[tuple[str, list[str]]]:
    """A live server and every log record it writes, as JSON (the sink is added after
    ``create_app``, which replaces the sinks; it sees all that the configured sink sees)."""
    lines: list[str] = []
    with running_server(settings) as url:
        sink = logger.add(lines.append, level="TRACE", serialize=True)
        try:
            yield url, lines
        finally:
            logger.remove(sink)


async def session(url: str, *, auth: str | None = None, **connect: Any) -> list[str]:
    """One session: an ``auth`` message first when ``auth`` is given, then start and stop;
    returns the types of the events received (a refused session ends with ``error``)."""
    events: list[str] = []
    async with websockets.connect(ws_url(url) + connect.pop("query", ""), **connect) as ws:
        with suppress(websockets.ConnectionClosed):  # refused: the socket is already closed
            if auth is not None:
                await ws.send(json.dumps({"type": "auth", "token": auth}))
            await ws.send(json.dumps(START))
            await ws.send(json.dumps({"type": "stop"}))
        with suppress(websockets.ConnectionClosed):  # refused: close 1008 after the error
            async for message in ws:
                events.append(json.loads(message)["type"])
    return events


@pytest.mark.parametrize("level", ["DEBUG", "TRACE"])
@pytest.mark.parametrize("mode", ["jwt", "api_key"])
async def test_websocket_credentials_never_reach_the_logs(
    make_settings: SettingsFactory, mode: str, level: str
) -> None:
    if mode == "jwt":
        good = token("dana", "stream", team="a-claim-that-makes-the-token-longer")
        wrong = token("dana", "stream", secret=JWT_SECRET[::-1])
    else:
        good, wrong = API_KEY, API_KEY[::-1]
    settings = make_settings(
        **FAST,
        log_level=level,
        auth_mode=mode,
        api_key=API_KEY,
        jwt_secret=JWT_SECRET,
        ws_allow_query_token=True,
    )
    with logged_server(settings) as (url, lines):
        assert (await session(url, auth=good))[-1] == "end"
        assert (await session(url, auth=wrong)) == ["error"]
        headers = {"Authorization": f"Bearer {good}"}
        assert (await session(url, additional_headers=headers))[-1] == "end"
        assert (await session(url, query=f"?token={good}"))[-1] == "end"
        assert (await session(url, query=f"?token={wrong}")) == ["error"]
    output = "\n".join(lines)
    assert "opened by dana" in output or "opened by default" in output  # the logs were seen
    leaked = sorted(p for secret in (good, wrong) for p in pieces(secret) if p in output)
    assert not leaked, f"credential fragments in the logs: {leaked[:5]}"
