"""The WebSocket protocol against a live server with the deterministic mock provider.

The mock emits one word per half second of sound, so these tests exercise the session
machinery (state machine, limits, leases, backpressure, errors) without Whisper's CPU cost.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import websockets

from tests.conftest import SettingsFactory
from tests.support.audio import speech
from tests.support.server import running_server
from tests.support.stream import (
    StreamResult,
    assert_never_retracted,
    collect,
    read_wav,
    send_audio,
    stream,
    ws_url,
)

MOCK = {"model": "mock"}
TEXT = "Streaming keeps the words in order. Nothing is lost between the windows."


@pytest.fixture(scope="module")
def clip() -> tuple[bytes, int]:
    return read_wav(speech(TEXT, gap_ms=700))


@pytest.fixture
def server(make_settings: SettingsFactory, request: pytest.FixtureRequest) -> Iterator[str]:
    overrides = getattr(request, "param", {})
    with running_server(make_settings(**overrides)) as url:
        yield url


class Session:
    """A connected client that records every event while the test drives it."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.result = StreamResult()
        self._cursor = 0
        self._task = asyncio.create_task(collect(ws, self.result, time.monotonic()))

    async def send(self, message: dict[str, Any] | bytes) -> None:
        await self.ws.send(message if isinstance(message, bytes) else json.dumps(message))

    async def expect(self, predicate: Any, timeout: float = 15.0) -> dict[str, Any]:
        """The next event (after the last one matched) that satisfies ``predicate``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.result.events
            for i in range(self._cursor, len(events)):
                if predicate(events[i]):
                    self._cursor = i + 1
                    return events[i]
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching event within {timeout}s: {self.result.events[-5:]}")

    async def closed(self, timeout: float = 15.0) -> StreamResult:
        await asyncio.wait_for(self._task, timeout)
        return self.result


async def open_session(url: str, start: dict[str, Any] | None = None) -> Session:
    ws = await websockets.connect(ws_url(url))
    session = Session(ws)
    if start is not None:
        await session.send({"type": "start", **start})
        await session.expect(lambda e: e["type"] == "start")
    return session


def is_error(code: str) -> Any:
    return lambda e: e["type"] == "error" and e["code"] == code


# Unpaced audio piles up in the inbox and is gathered into steps of up to max_step: with the
# default 3 s a whole sentence can fit in one step (a final, no partial) when the server lags.
@pytest.mark.parametrize("server", [{"stream_max_step_ms": 500}], indirect=True)
async def test_start_audio_stop(server: str, clip: tuple[bytes, int]) -> None:
    pcm, rate = clip
    result = await stream(server, pcm, rate, speed=0, start=MOCK)
    start, end = result.of("start")[0], result.of("end")[0]
    assert start["config"]["model"] == "mock:mock"
    assert start["config"]["sample_rate"] == rate
    assert result.of("partial") and len(result.of("final")) == 2  # one per sentence (VAD)
    assert result.close_code == 1000
    # no audio dropped: the whole clip is received and processed
    duration_ms = len(pcm) // 2 * 1000 // rate
    assert end["usage"]["duration_ms"] == pytest.approx(duration_ms, abs=2)
    assert result.of("ack")[-1]["processed_ms"] == pytest.approx(duration_ms, abs=2)
    assert end["summary"]["text"] == result.final_text
    assert_never_retracted(result.events)
    finals = [e["segment"] for e in result.of("final")]
    assert all(f["start"] <= f["end"] <= duration_ms / 1000 for f in finals)
    assert finals[0]["end"] <= finals[1]["start"]
    assert all(w["start"] <= w["end"] for f in finals for w in f["words"])


async def test_pause_resume_commit(server: str, clip: tuple[bytes, int]) -> None:
    pcm, rate = clip
    one_second = rate * 2
    session = await open_session(server, {**MOCK, "vad": {"enabled": False}, "sample_rate": rate})
    await send_audio(session.ws, pcm[: 2 * one_second], rate, speed=0)
    await session.send({"type": "commit"})
    committed = await session.expect(lambda e: e["type"] == "final")
    assert committed["reason"] == "commit" and committed["segment"]["end"] <= 2.0
    await session.expect(lambda e: e["type"] == "ack" and e["control"] == "commit")

    await send_audio(session.ws, pcm[2 * one_second : 3 * one_second], rate, speed=0)
    await session.send({"type": "pause"})
    paused = await session.expect(lambda e: e["type"] == "final" and e["reason"] == "pause")
    assert paused["segment"]["start"] >= 2.0 - 0.05
    await session.expect(lambda e: e["type"] == "ack" and e["control"] == "pause")
    await session.send({"type": "commit"})  # nothing to commit while paused
    await session.expect(is_error("invalid_state"))
    await send_audio(session.ws, pcm[3 * one_second : 5 * one_second], rate, speed=0)  # ignored
    await session.send({"type": "resume"})
    await session.expect(lambda e: e["type"] == "ack" and e["control"] == "resume")
    await send_audio(session.ws, pcm[5 * one_second : 7 * one_second], rate, speed=0)
    await session.send({"type": "stop"})
    result = await session.closed()

    finals = [e["segment"] for e in result.of("final")]
    assert [e["reason"] for e in result.of("final")] == ["commit", "pause", "stop"]
    # audio sent while paused is counted on the timeline but never transcribed
    assert finals[2]["start"] >= 5.0 - 0.05
    assert all(not (3.0 < w["start"] < 5.0 - 0.05) for f in finals for w in f["words"])
    sent_ms = min(7000, len(pcm) // 2 * 1000 // rate)
    assert result.of("end")[0]["usage"]["duration_ms"] == pytest.approx(sent_ms, abs=5)
    assert result.close_code == 1000
    assert_never_retracted(result.events)


async def test_messages_in_the_wrong_state(server: str, clip: tuple[bytes, int]) -> None:
    session = await open_session(server)
    await session.send({"type": "resume"})
    await session.expect(is_error("invalid_state"))
    await session.send(b"\x00\x01" * 100)  # audio before start
    await session.expect(lambda e: e["type"] == "error" and "start" in e["message"])
    await session.send({"type": "start", **MOCK})
    await session.expect(lambda e: e["type"] == "start")
    await session.send({"type": "start", **MOCK})
    await session.expect(is_error("invalid_state"))
    await session.send({"type": "resume"})
    await session.expect(is_error("invalid_state"))
    await session.send({"type": "stop"})
    result = await session.closed()
    assert len(result.of("error")) == 4
    assert not any(e["fatal"] for e in result.of("error"))
    assert result.of("end") and result.close_code == 1000


async def test_garbage_frames_get_error_events(server: str) -> None:
    session = await open_session(server)
    await session.send({"type": "start", "sample_rate": 1000, **MOCK})
    await session.expect(lambda e: e["type"] == "error" and e["param"] == "sample_rate")
    await session.send({"type": "start", "model": "no-such-model"})
    await session.expect(is_error("model_not_found"))
    float_start = {"encoding": "float32", "sample_rate": 48000, "vad": {"enabled": False}}
    await session.send({"type": "start", **float_start, **MOCK})
    await session.expect(lambda e: e["type"] == "start")
    for frame, code in [
        (b"not json at all", "invalid_json"),
        ('["a list"]', "invalid_message"),
        ('{"type": "shout"}', "unknown_message_type"),
        ('{"type": "audio", "data": "***"}', "invalid_audio"),
        ('{"type": "stop", "now": true}', "invalid_message"),
    ]:
        await session.ws.send(frame.decode() if isinstance(frame, bytes) else frame)
        await session.expect(is_error(code))
    await session.send(b"\x00" * 6)  # not a whole number of float32 samples
    await session.expect(lambda e: e["type"] == "error" and "4-byte" in e["message"])
    await session.send(np.array([np.nan, 0.0], dtype="<f4").tobytes())
    await session.expect(lambda e: e["type"] == "error" and "NaN" in e["message"])
    # the session still works: two seconds of 48 kHz float32 tone, sent base64-encoded
    tone = (0.3 * np.sin(np.arange(96_000) * 2 * np.pi * 220 / 48_000)).astype("<f4")
    await session.send({"type": "audio", "data": base64.b64encode(tone.tobytes()).decode()})
    await session.send({"type": "stop"})
    result = await session.closed()
    assert result.close_code == 1000
    assert result.of("end")[0]["usage"]["duration_ms"] == pytest.approx(2000, abs=5)
    assert len(result.of("final")) == 1
    assert result.of("final")[0]["segment"]["end"] == pytest.approx(2.0, abs=0.05)


@pytest.mark.parametrize("server", [{"stream_max_message_bytes": 4096}], indirect=True)
async def test_oversized_frame_closes_with_1009(server: str) -> None:
    session = await open_session(server, MOCK)
    await session.send(b"\x00\x00" * 2000)  # fits
    await session.send(b"\x00\x00" * 4000)  # 8000 bytes: too big
    result = await session.closed()
    error = result.of("error")[-1]
    assert error["code"] == "message_too_big" and error["fatal"]
    assert result.of("end")[0]["reason"] == "message_too_big"
    assert result.close_code == 1009


@pytest.mark.parametrize("server", [{"stream_max_protocol_errors": 3}], indirect=True)
async def test_too_many_invalid_messages_close_with_1008(server: str) -> None:
    session = await open_session(server, MOCK)
    for _ in range(4):
        await session.ws.send("garbage")
    result = await session.closed()
    assert [e["code"] for e in result.of("error")][-1] == "too_many_errors"
    assert result.close_code == 1008


@pytest.mark.parametrize("server", [{"stream_max_sessions": 1}], indirect=True)
async def test_capacity_exhausted_then_released_on_abrupt_disconnect(server: str) -> None:
    first = await open_session(server, MOCK)
    await first.send(b"\x10\x00" * 8000)
    refused = await open_session(server)
    result = await refused.closed()
    assert result.of("error")[0]["code"] == "too_many_sessions"
    assert result.close_code == 1013

    first.ws.transport.abort()  # vanish mid-session: no close frame
    deadline = time.monotonic() + 10
    while True:
        session = await open_session(server)
        try:
            await session.send({"type": "start", **MOCK})
            event = await session.expect(lambda e: e["type"] in ("start", "error"))
        except websockets.ConnectionClosed:  # refused before our start frame got through
            event = {"type": "error", "code": "too_many_sessions"}
        if event["type"] == "start":
            break
        assert event["code"] == "too_many_sessions" and time.monotonic() < deadline
        assert (await session.closed()).close_code == 1013
        await asyncio.sleep(0.1)
    await session.send({"type": "stop"})
    assert (await session.closed()).close_code == 1000


@pytest.mark.parametrize("server", [{"stream_idle_timeout_s": 0.5}], indirect=True)
async def test_idle_timeout_finalizes_and_closes(server: str, clip: tuple[bytes, int]) -> None:
    pcm, rate = clip
    session = await open_session(server, {**MOCK, "sample_rate": rate, "vad": {"enabled": False}})
    await send_audio(session.ws, pcm[: rate * 2], rate, speed=0)
    result = await session.closed()
    assert [e["reason"] for e in result.of("final")] == ["shutdown"]
    assert result.of("error")[-1]["code"] == "idle_timeout"
    assert result.of("end")[0]["reason"] == "idle_timeout"
    assert result.close_code == 1008


@pytest.mark.parametrize("server", [{"streaming_enabled": False}], indirect=True)
async def test_streaming_disabled(server: str) -> None:
    result = await (await open_session(server)).closed()
    assert result.of("error")[0]["code"] == "streaming_disabled"
    assert result.close_code == 1008


@pytest.mark.parametrize("server", [{"stream_max_buffered_ms": 500}], indirect=True)
async def test_fast_sender_is_slowed_not_truncated(server: str, tmp_path: Path) -> None:
    """30 s of sound sent at full speed through a 0.5 s inbox: backpressure, no loss."""
    tone = (8000 * np.sin(np.arange(16_000 * 30) * 2 * np.pi * 300 / 16_000)).astype("<i2")
    result = await stream(
        server, tone.tobytes(), 16_000, speed=0, start={**MOCK, "vad": {"enabled": False}}
    )
    assert result.close_code == 1000
    assert result.of("end")[0]["usage"]["duration_ms"] == 30_000
    words = [w for e in result.of("final") for w in e["segment"]["words"]]
    assert len(words) == 60  # one mock word per half second, none lost
    assert [e["reason"] for e in result.of("final")][-1] == "stop"
    assert {e["reason"] for e in result.of("final")} <= {"max_buffer", "stop"}
    assert_never_retracted(result.events)
