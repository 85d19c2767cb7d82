"""Cooperative cancellation of a transcription running in a worker thread.

A thread cannot be interrupted, so a caller that gives up (a client that disconnected) sets the
event of the :func:`cancel_scope` it ran the work in, and the provider stops at its next
segment: :func:`until_cancelled` checks the event before pulling each segment from a lazy
decoder, which is where the next chunk of audio would be decoded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

from schemas.errors import TranscriptionCancelled

T = TypeVar("T")
_EVENT: ContextVar[threading.Event | None] = ContextVar("stt_cancel_event", default=None)


@contextmanager
def cancel_scope(event: threading.Event) -> Iterator[None]:
    """Run the block (in the worker thread) so that setting ``event`` cancels it."""
    token = _EVENT.set(event)
    try:
        yield
    finally:
        _EVENT.reset(token)


def raise_if_cancelled() -> None:
    event = _EVENT.get()
    if event is not None and event.is_set():
        raise TranscriptionCancelled("the transcription was cancelled: its client went away")


def until_cancelled(items: Iterable[T]) -> Iterator[T]:
    """``items``, checking for cancellation before each one is produced."""
    iterator = iter(items)
    while True:
        raise_if_cancelled()
        try:
            item = next(iterator)
        except StopIteration:
            return
        yield item
