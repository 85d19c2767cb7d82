"""Drive the official ``openai`` SDK's Realtime client against a live gateway."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import openai
from openai.resources.realtime.realtime import AsyncRealtimeConnection
from websockets.exceptions import ConnectionClosed

from app.services.streaming.realtime.g711 import ULAW

DELTA = "conversation.item.input_audio_transcription.delta"
COMPLETED = "conversation.item.input_audio_transcription.completed"


@dataclass
class Recorder:
    """Every server event with its arrival (monotonic seconds since ``t0``)."""

    connection: AsyncRealtimeConnection
    t0: float = field(default_factory=time.monotonic)
    events: list[dict[str, Any]] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        try:
            async for event in self.connection:
                self.events.append(event.to_dict())
                self.arrivals.append(time.monotonic() - self.t0)
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    async def expect(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 30.0, after: int = 0
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events[after:]:
                if predicate(event):
                    return event
            if self.closed.is_set():
                break
            await asyncio.sleep(0.02)
        raise AssertionError(f"no matching event; last events: {self.events[-6:]}")

    async def expect_type(self, kind: str, timeout: float = 30.0, after: int = 0) -> dict[str, Any]:
        return await self.expect(lambda e: e["type"] == kind, timeout, after)


@asynccontextmanager
async def realtime_session(
    base_url: str, api_key: str = "unused"
) -> AsyncIterator[tuple[AsyncRealtimeConnection, Recorder]]:
    """``client.realtime.connect(extra_query={"intent": "transcription"})``, recorded."""
    client = openai.AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=0)
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as connection:
        recorder = Recorder(connection)
        task = asyncio.create_task(recorder.run())
        try:
            yield connection, recorder
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    await client.close()


async def append_audio(
    connection: AsyncRealtimeConnection,
    data: bytes,
    *,
    bytes_per_s: int,
    speed: float = 1.0,
    frame_ms: int = 100,
) -> None:
    """Send ``data`` in ``frame_ms`` frames, ``speed`` times real time (0: no pacing)."""
    step = bytes_per_s * frame_ms // 1000
    t0 = time.monotonic()
    for n, first in enumerate(range(0, len(data), step)):
        chunk = base64.b64encode(data[first : first + step]).decode()
        await connection.input_audio_buffer.append(audio=chunk)
        if speed:
            delay = t0 + (n + 1) * frame_ms / 1000 / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        else:
            await asyncio.sleep(0)


def mulaw_encode(pcm16: bytes) -> bytes:
    """PCM16 to G.711 mu-law, by nearest value of the decoding table (tests only)."""
    order = np.argsort(ULAW)
    table = ULAW[order].astype(np.int32)
    samples = np.frombuffer(pcm16, dtype="<i2").astype(np.int32)
    index = np.clip(np.searchsorted(table, samples), 1, 255)
    nearer_left = samples - table[index - 1] < table[index] - samples
    return order[index - nearer_left.astype(int)].astype(np.uint8).tobytes()
