"""The Realtime endpoint's refusals and limits against a live server with the mock provider
(the official SDK's tests are in tests/integration/test_realtime.py): auth and scopes,
streaming off, idle timeout, oversized frames. Each refusal is an OpenAI-shaped ``error``
followed by the mapped close code."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import websockets

from tests.conftest import SettingsFactory
from tests.security.conftest import API_KEY, FAST, JWT_SECRET, bearer, token
from tests.support.server import running_server

PATHS = ("/v1/realtime?intent=transcription", "/api/v1/realtime?intent=transcription")
MANUAL = {
    "type": "session.update",
    "session": {"type": "transcription", "audio": {"input": {"turn_detection": None}}},
}


async def session(
    base: str, headers: dict[str, str] | None = None, path: str = PATHS[0], send: Any = ()
) -> tuple[list[dict[str, Any]], int | None]:
    """Connect, send ``send``, read every event until the server closes."""
    url = base.replace("http://", "ws://") + path
    async with websockets.connect(url, additional_headers=headers or {}) as ws:
        for message in send:
            await ws.send(json.dumps(message))
        events = []
        try:
            async for frame in ws:
                events.append(json.loads(frame))
        except websockets.ConnectionClosed:
            pass
        return events, ws.close_code


async def test_refusals(make_settings: SettingsFactory) -> None:
    with running_server(make_settings(**FAST, auth_mode="api_key", api_key=API_KEY)) as base:
        for path in PATHS:
            events, code = await session(base, bearer("wrong"), path)
            assert [e["type"] for e in events] == ["error"] and code == 1008
            assert events[0]["error"]["type"] == "authentication_error"
            assert events[0]["error"]["code"] == "invalid_api_key"
    with running_server(make_settings(**FAST, streaming_enabled=False)) as base:
        events, code = await session(base)
        assert events[0]["error"]["code"] == "streaming_disabled" and code == 1008


async def test_jwt_needs_the_stream_scope(make_settings: SettingsFactory) -> None:
    with running_server(make_settings(**FAST, auth_mode="jwt", jwt_secret=JWT_SECRET)) as base:
        events, code = await session(base, bearer(token("u1", "transcribe")))
        assert events[0]["error"]["type"] == "permission_error" and code == 1008


async def test_idle_timeout_completes_the_open_turn_then_closes(
    make_settings: SettingsFactory,
) -> None:
    t = np.arange(24_000) / 24_000
    tone = (np.sin(2 * np.pi * 440 * t) * 12_000).astype("<i2").tobytes()  # 1 s at 440 Hz
    append = {"type": "input_audio_buffer.append", "audio": base64.b64encode(tone).decode()}
    with running_server(make_settings(**FAST, stream_idle_timeout_s=0.5)) as base:
        events, code = await session(base, send=[MANUAL, append])
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["session.created", "session.updated"]
    assert "conversation.item.input_audio_transcription.completed" in kinds
    assert kinds[-1] == "error" and events[-1]["error"]["code"] == "idle_timeout"
    assert code == 1008


async def test_oversized_frame_is_fatal(make_settings: SettingsFactory) -> None:
    append = {"type": "input_audio_buffer.append", "audio": "A" * 8000}
    with running_server(make_settings(**FAST, stream_max_message_bytes=4096)) as base:
        events, code = await session(base, send=[append])
    assert events[-1]["error"]["code"] == "message_too_big" and code == 1009
