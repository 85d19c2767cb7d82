"""Stop a request's work when its client disconnects.

Uvicorn does not cancel a handler whose client went away. Once the body has been read, the
next ``receive()`` returns ``http.disconnect`` only when the connection closes (or the response
is complete), so watching it beside the work tells when nobody waits for the result any more.
Cancelling the work then stops an abandoned transcription at its next segment
(``app.services.transcription.inference``) instead of decoding minutes of audio for nobody.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import anyio
from loguru import logger
from starlette.requests import Request

from schemas.errors import TranscriptionCancelled

T = TypeVar("T")


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def cancel_on_disconnect(request: Request, work: Callable[[], Awaitable[T]]) -> T:
    """Await ``work()``; if the client disconnects first, cancel it and raise
    :class:`TranscriptionCancelled` (nobody reads the response)."""
    work_task = asyncio.ensure_future(work())
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({work_task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not work_task.done():
            work_task.cancel()
            with anyio.CancelScope(shield=True):  # the thread behind it must stop first
                await asyncio.wait([work_task])
        with anyio.CancelScope(shield=True):
            await asyncio.gather(watcher, return_exceptions=True)
    if work_task.cancelled():
        logger.info("client disconnected: its transcription was cancelled")
        raise TranscriptionCancelled("the client disconnected before the transcription ended")
    return work_task.result()
