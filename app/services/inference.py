"""A bounded pool that runs blocking provider calls off the event loop.

At most ``max_concurrent`` inferences run at once (more would thrash a CPU); up to
``max_queued`` more wait their turn in FIFO order; beyond that callers get a 503 with
``Retry-After`` rather than an ever-growing queue.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from app.core import metrics
from schemas.errors import ServiceUnavailable

T = TypeVar("T")
_DONE = object()


class InferenceRunner:
    def __init__(self, *, max_concurrent: int, max_queued: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="inference")
        self._max_concurrent = max_concurrent
        self._max_queued = max_queued
        self._admitted = 0

    @property
    def in_flight(self) -> int:
        return self._admitted

    def _admit(self) -> None:
        if self._admitted >= self._max_concurrent + self._max_queued:
            raise ServiceUnavailable(
                "all transcription slots are busy and the wait queue is full; retry shortly",
                code="capacity_exhausted",
                retry_after=5,
            )
        self._admitted += 1
        metrics.INFERENCE_IN_FLIGHT.inc()

    def _release(self) -> None:
        self._admitted -= 1
        metrics.INFERENCE_IN_FLIGHT.dec()

    async def run(self, fn: Callable[..., T], *args: object) -> tuple[T, float]:
        """Run ``fn(*args)`` in the pool. Returns its result and the seconds it waited."""
        self._admit()
        enqueued = time.perf_counter()
        waited = 0.0

        def timed() -> T:
            nonlocal waited
            waited = time.perf_counter() - enqueued
            metrics.observe_queue_wait("inference", waited)
            return fn(*args)

        try:
            result = await asyncio.get_running_loop().run_in_executor(self._pool, timed)
        finally:
            self._release()
        return result, waited

    async def iterate(self, start: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """Drive the iterator made by ``start()`` in the pool, yielding items as they appear.

        If the consumer stops early (client gone), the worker thread stops at the next item.
        """
        self._admit()
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()
        stop = threading.Event()
        enqueued = time.perf_counter()

        def pump() -> None:
            metrics.observe_queue_wait("inference", time.perf_counter() - enqueued)
            try:
                for item in start():
                    if stop.is_set():
                        return
                    loop.call_soon_threadsafe(queue.put_nowait, item)
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)
            except BaseException as exc:  # handed to the consumer, re-raised there
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        future = loop.run_in_executor(self._pool, pump)
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            stop.set()
            self._release()
            if future.done():
                future.result()

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
