"""The ordered queue between a session's socket reader and its decoder, with backpressure.

Audio and control messages keep their order (a ``commit`` applies to the audio sent before
it). When more than ``max_samples`` of audio wait, :meth:`Inbox.put` blocks, so the reader
stops reading the socket and TCP flow control slows the client down: audio is delayed, never
dropped. The client's pongs wait behind its audio meanwhile, which is why the server has no
pong timeout (``app.core.http_server``).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from schemas.errors import GatewayError
from schemas.streaming import ControlType, StartMessage


@dataclass(frozen=True)
class AudioItem:
    samples: np.ndarray  # 16 kHz float32
    paused: bool = False
    # When the reader queued it (monotonic): streaming token latency is measured from here.
    received_at: float = field(default_factory=time.monotonic, compare=False)


@dataclass(frozen=True)
class StartItem:
    message: StartMessage


@dataclass(frozen=True)
class ControlItem:
    control: ControlType
    received_at: float = field(default_factory=time.monotonic, compare=False)


@dataclass(frozen=True)
class DiscardItem:
    """Drop the audio of the current utterance (Realtime ``input_audio_buffer.clear``)."""

    received_at: float = field(default_factory=time.monotonic, compare=False)


@dataclass(frozen=True)
class ShutdownItem:
    """The reader ends the session (idle timeout, limits, abuse): finalize, report, close."""

    error: GatewayError
    received_at: float = field(default_factory=time.monotonic, compare=False)


Item = AudioItem | StartItem | ControlItem | DiscardItem | ShutdownItem


class Inbox:
    def __init__(self, max_samples: int) -> None:
        self._items: deque[Item] = deque()
        self._max = max_samples
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self.samples = 0

    async def put(self, item: Item) -> None:
        while self.samples > self._max:
            self._room.clear()
            await self._room.wait()
        self._items.append(item)
        if isinstance(item, AudioItem):
            self.samples += len(item.samples)
        self._ready.set()

    def drop_audio(self) -> None:
        """Forget the audio still waiting (not yet decoded); control items stay."""
        self._items = deque(item for item in self._items if not isinstance(item, AudioItem))
        self.samples = 0
        self._room.set()

    def peek(self) -> Item | None:
        return self._items[0] if self._items else None

    async def wait(self) -> Item:
        """The next item, without removing it."""
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        return self._items[0]

    async def get(self) -> Item:
        await self.wait()
        item = self._items.popleft()
        if isinstance(item, AudioItem):
            self.samples -= len(item.samples)
            if self.samples <= self._max:
                self._room.set()
        return item
