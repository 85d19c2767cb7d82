"""A WebSocket streaming client for tests (the real ``websockets`` library, real pacing), and
the live engine fed offline."""

from __future__ import annotations

import asyncio
import json
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import websockets
from websockets.asyncio.client import ClientConnection

from app.services.streaming.engine import LiveEngineConfig, OnlineTranscriber
from app.services.streaming.manager import provider_decoder
from app.services.streaming.vad import StreamingVad
from providers.registry import Resolved
from schemas.options import TranscriptionOptions

#: step of :func:`stream_offline` (the default ``STT_STREAM_MIN_STEP_MS``), in 16 kHz samples
OFFLINE_STEP = 8000


def read_wav(path: Path) -> tuple[bytes, int]:
    """PCM16 mono frames and sample rate of a WAV file (espeak-ng writes 22.05 kHz)."""
    with wave.open(str(path), "rb") as handle:
        assert handle.getsampwidth() == 2 and handle.getnchannels() == 1
        return handle.readframes(handle.getnframes()), handle.getframerate()


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://", 1) + "/v1/audio/stream/transcribe"


@dataclass
class StreamResult:
    events: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)  # monotonic seconds since audio start
    close_code: int | None = None

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    @property
    def final_text(self) -> str:
        return " ".join(e["segment"]["text"] for e in self.of("final"))


async def collect(ws: ClientConnection, result: StreamResult, t0: float) -> None:
    try:
        async for message in ws:
            result.events.append(json.loads(message))
            result.arrivals.append(time.monotonic() - t0)
    except websockets.ConnectionClosed:
        pass
    result.close_code = ws.close_code


async def wait_for(result: StreamResult, predicate: Any, timeout: float = 20.0) -> dict[str, Any]:
    """The first event (already received or arriving) that satisfies ``predicate``."""
    deadline = time.monotonic() + timeout
    seen = 0
    while time.monotonic() < deadline:
        for event in result.events[seen:]:
            if predicate(event):
                return event
        seen = len(result.events)
        await asyncio.sleep(0.02)
    raise AssertionError(f"no matching event within {timeout}s; got {result.events[-5:]}")


async def send_audio(
    ws: ClientConnection, pcm: bytes, rate: int, *, speed: float = 1.0, frame_ms: int = 100
) -> None:
    """Send ``pcm`` as binary frames, ``speed`` times faster than real time (0 = no pacing)."""
    step = rate * frame_ms // 1000 * 2
    t0 = time.monotonic()
    for i, first in enumerate(range(0, len(pcm), step)):
        if speed:
            delay = t0 + i * frame_ms / 1000 / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        await ws.send(pcm[first : first + step])


async def stream(
    base_url: str,
    pcm: bytes,
    rate: int,
    *,
    speed: float = 1.0,
    start: dict[str, Any] | None = None,
    timeout: float = 60.0,
) -> StreamResult:
    """One whole session: start, audio at ``speed``, stop; returns every event."""
    result = StreamResult()
    async with websockets.connect(ws_url(base_url), max_size=2**22) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": rate, **(start or {})}))
        t0 = time.monotonic()
        receiver = asyncio.create_task(collect(ws, result, t0))
        await wait_for(result, lambda e: e["type"] in ("start", "error"))
        await send_audio(ws, pcm, rate, speed=speed)
        await ws.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(receiver, timeout)
    return result


def committed_texts(events: list[dict[str, Any]]) -> list[str]:
    """The session's committed text after each event: finals so far + the stable prefix."""
    finals: list[str] = []
    out = []
    for event in events:
        if event["type"] == "final":
            finals.append(event["segment"]["text"])
            out.append(" ".join(finals))
        elif event["type"] == "partial":
            out.append(" ".join([*finals, event["stable_text"]]).strip())
    return out


def assert_never_retracted(events: list[dict[str, Any]]) -> None:
    """Committed text only grows: every value is a word-prefix of every later one."""
    previous: list[str] = []
    for text in committed_texts(events):
        words = text.split()
        assert words[: len(previous)] == previous, f"retracted: {previous} -> {words}"
        previous = words


def stream_offline(
    target: Resolved, options: TranscriptionOptions, samples: np.ndarray
) -> tuple[str, OnlineTranscriber]:
    """Feed 16 kHz ``samples`` through a live engine (Silero VAD, default config) in 0.5 s
    steps, back to back: the joined finals, and the engine (``decodes``, ``processing_s``)."""
    engine = OnlineTranscriber(
        provider_decoder(target, options), LiveEngineConfig(), StreamingVad(0.5)
    )
    events = [
        e
        for i in range(0, len(samples), OFFLINE_STEP)
        for e in engine.feed(samples[i : i + OFFLINE_STEP])
    ]
    events += engine.finalize("stop")
    return " ".join(e.segment.text for e in events if e.type == "final"), engine
