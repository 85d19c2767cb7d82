"""Shared streaming capacity: session leases and the decode pool.

Why a dedicated pool rather than the batch ``InferencePool``: a live session needs a decode
every half second, while one batch request can hold a worker for minutes; sharing one queue
would freeze every live caption behind an upload. So live decodes get their own small pool
(``STT_STREAM_DECODE_WORKERS`` threads), and admission is by session, not by decode: at most
``STT_STREAM_MAX_SESSIONS`` leases exist, each session keeps at most one decode in flight, and
the pool's FIFO queue serves sessions round-robin. On CPU the provider gives live windows a
model instance with one CTranslate2 worker per decode thread, so decodes run side by side.
Batch and live work still share the CPU cores, so on a small CPU keep both caps low; see
Docs/Streaming.md.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from loguru import logger

from app.core.config import Settings
from app.services.streaming.agreement import TimedWord
from app.services.streaming.engine import Hypothesis, WindowDecoder
from app.services.vocabulary import Vocabulary
from providers.base import AudioInput
from providers.registry import Resolved
from schemas.errors import ServiceUnavailable
from schemas.options import TranscriptionOptions

T = TypeVar("T")


@dataclass
class StreamLease:
    """One session's claim on streaming capacity. Releasing twice is harmless."""

    id: str
    user_id: str
    _pool: LeasePool
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._pool._release(self)


class LeasePool:
    """At most ``capacity`` concurrent sessions; the rest are refused, never queued."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._held: dict[str, StreamLease] = {}
        self._ids = itertools.count(1)

    @property
    def active(self) -> int:
        return len(self._held)

    def holders(self) -> list[str]:
        return [lease.user_id for lease in self._held.values()]

    def acquire(self, user_id: str) -> StreamLease:
        if len(self._held) >= self.capacity:
            raise ServiceUnavailable(
                f"all {self.capacity} live transcription sessions are in use; retry shortly",
                code="too_many_sessions",
                retry_after=5,
            )
        lease = StreamLease(id=f"ws-{next(self._ids)}", user_id=user_id, _pool=self)
        self._held[lease.id] = lease
        return lease

    def _release(self, lease: StreamLease) -> None:
        self._held.pop(lease.id, None)


class StreamingManager:
    """The long-lived streaming state a gateway holds: settings, leases, decode pool and the
    deployment's custom vocabulary."""

    def __init__(self, settings: Settings, vocabulary: Vocabulary | None = None) -> None:
        self.settings = settings
        self.vocabulary = vocabulary or Vocabulary()  # corrects every session's finals
        self.leases = LeasePool(settings.stream_max_sessions)
        self._pool = ThreadPoolExecutor(
            max_workers=settings.stream_decode_workers, thread_name_prefix="stream-decode"
        )

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        """Run blocking ``fn(*args)`` (a decode step, a model load) in the decode pool."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        if self.leases.active:
            logger.info("closing with {} live sessions", self.leases.active)
        self._pool.shutdown(wait=False, cancel_futures=True)


def provider_decoder(target: Resolved, options: TranscriptionOptions) -> WindowDecoder:
    """A :data:`WindowDecoder` over ``target``'s ``transcribe_stream``.

    A language detected on the first window with words is kept for the rest of the session,
    so a multilingual model does not flip languages between windows.
    """
    language = options.language

    def decode(samples: np.ndarray, prompt: str | None) -> Hypothesis:
        nonlocal language
        opts = options.model_copy(update={"prompt": prompt, "language": language})
        stream = target.provider.transcribe_stream(AudioInput(samples), opts, target.model)
        words = [
            TimedWord(w.word, w.start, w.end, w.probability)
            for segment in stream.segments
            for w in segment.words or ()
        ]
        if words and language is None:
            language = stream.language
        return Hypothesis(words=words, language=stream.language)

    return decode
