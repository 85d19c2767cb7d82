"""A bounded pool that runs blocking provider calls (and the decoding before them) off the loop.

Admission comes first and is cheap: at most ``max_concurrent`` requests hold a *turn* at once
(more would thrash a CPU), up to ``max_queued`` more wait for one in FIFO order, and beyond that
callers get a 503 with ``Retry-After`` rather than an ever-growing queue. A request decodes its
audio only once it holds a turn, so memory is bounded by the number of turns, not by how many
uploads arrive: queued requests wait with their upload on disk.

A turn is given back only after the worker thread it ran has returned; a caller that is
cancelled (its client went away) sets the ticket's cancel event, which stops the provider at its
next segment (:mod:`providers.cancellation`), and waits for that.
"""

from __future__ import annotations

import asyncio
import contextvars
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import anyio

from app.core import metrics
from providers.cancellation import cancel_scope
from schemas.errors import ServiceUnavailable

T = TypeVar("T")
_DONE = object()


class Ticket:
    """One admitted request. Take a turn before :meth:`call`; :meth:`release` exactly once
    (it is idempotent, so every exit path may call it)."""

    def __init__(self, pool: InferencePool) -> None:
        self._pool = pool
        self._admitted_at = time.perf_counter()
        self._has_turn = False
        self._released = False
        self.waited = 0.0  # seconds between admission and the turn
        self.cancel = threading.Event()

    async def take_turn(self) -> None:
        await self._pool.turns.acquire()
        self._has_turn = True
        self.waited = time.perf_counter() - self._admitted_at
        metrics.observe_queue_wait("inference", self.waited)

    def release(self) -> None:
        if self._released:
            return
        self._released = True
        if self._has_turn:
            self._pool.turns.release()
        self._pool.discharge()

    def _in_scope(self, fn: Callable[..., T], *args: object) -> T:
        with cancel_scope(self.cancel):
            return fn(*args)

    async def call(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn(*args)`` in the pool during this ticket's turn."""
        if not self._has_turn:
            raise RuntimeError("call() before take_turn()")
        context = contextvars.copy_context()
        future = asyncio.get_running_loop().run_in_executor(
            self._pool.executor, context.run, self._in_scope, fn, *args
        )
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            self.cancel.set()
            await _wait_for_thread(future)
            raise

    async def iterate(self, start: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
        """Drive the iterator made by ``start()`` in the pool, yielding items as they appear.

        If the consumer stops early (client gone), the thread stops before the next item and
        the generator returns once it has.
        """
        if not self._has_turn:
            raise RuntimeError("iterate() before take_turn()")
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[object] = asyncio.Queue()

        def pump() -> None:
            try:
                for item in start():
                    if self.cancel.is_set():
                        return
                    loop.call_soon_threadsafe(queue.put_nowait, item)
                loop.call_soon_threadsafe(queue.put_nowait, _DONE)
            except BaseException as exc:  # handed to the consumer, re-raised there
                loop.call_soon_threadsafe(queue.put_nowait, exc)

        context = contextvars.copy_context()
        future = loop.run_in_executor(self._pool.executor, context.run, self._in_scope, pump)
        try:
            while (item := await queue.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                yield item  # type: ignore[misc]
        finally:
            self.cancel.set()
            await _wait_for_thread(future)


async def _wait_for_thread(future: asyncio.Future[Any]) -> None:
    """Wait, immune to cancellation, until the worker thread behind ``future`` has returned."""
    with anyio.CancelScope(shield=True):
        await asyncio.wait([future])
    if not future.cancelled():
        future.exception()  # retrieved: the caller is already raising its own error


class InferencePool:
    def __init__(self, *, max_concurrent: int, max_queued: int) -> None:
        self.executor = ThreadPoolExecutor(
            max_workers=max_concurrent, thread_name_prefix="inference"
        )
        self.turns = asyncio.Semaphore(max_concurrent)
        self._max_concurrent = max_concurrent
        self._max_queued = max_queued
        self._admitted = 0

    @property
    def in_flight(self) -> int:
        return self._admitted

    def admit(self) -> Ticket:
        """Admit one request or refuse it with a 503 when the turns and the queue are full."""
        if self._admitted >= self._max_concurrent + self._max_queued:
            raise ServiceUnavailable(
                "all transcription slots are busy and the wait queue is full; retry shortly",
                code="capacity_exhausted",
                retry_after=5,
            )
        self._admitted += 1
        metrics.INFERENCE_IN_FLIGHT.inc()
        return Ticket(self)

    def discharge(self) -> None:
        self._admitted -= 1
        metrics.INFERENCE_IN_FLIGHT.dec()

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[Ticket]:
        """Admission, then a turn, held for the block."""
        ticket = self.admit()
        try:
            await ticket.take_turn()
            yield ticket
        finally:
            ticket.release()

    async def run(self, fn: Callable[..., T], *args: object) -> tuple[T, float]:
        """Run ``fn(*args)`` in its own turn. Returns its result and the seconds it waited."""
        async with self.turn() as ticket:
            return await ticket.call(fn, *args), ticket.waited

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
