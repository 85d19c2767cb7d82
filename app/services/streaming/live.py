"""The protocol-neutral core of one live WebSocket session: lease, reader, decoder loop.

A socket reader and a decoder loop are joined by an :class:`Inbox`. The reader enforces the
idle/session timeouts, the message size limit and the protocol-error budget, and hands each
frame to the protocol's :meth:`LiveSession._handle`, which converts audio to 16 kHz and
queues it (blocking when the decoder falls behind: backpressure) together with control items.
The decoder loop takes audio in steps of ``STT_STREAM_MIN_STEP_MS``..``STT_STREAM_MAX_STEP_MS``,
runs the engine in the decode pool and gives its events to the protocol's :meth:`_deliver`;
each delivery observes ``audio_stt_streaming_token_latency_seconds`` from the arrival of the
oldest audio (or control message) it answers. The session's lease is released on every exit
path, after any decode still running in a worker thread has finished.

Subclasses speak a wire protocol: :class:`~app.services.streaming.session.StreamSession` the
gateway's own (DESIGN.md section 5), ``realtime.session.RealtimeSession`` OpenAI's Realtime API.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any, TypeVar

import anyio
import numpy as np
from loguru import logger
from pydantic import BaseModel
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

from app.core import metrics
from app.core.errors import WS_CLOSE_NORMAL, websocket_close_code
from app.services.streaming.audio import FrameConverter
from app.services.streaming.engine import Event, OnlineTranscriber
from app.services.streaming.inbox import (
    AudioItem,
    ControlItem,
    DiscardItem,
    Inbox,
    ShutdownItem,
    StartItem,
)
from app.services.streaming.manager import StreamingManager
from app.services.streaming.setup import PendingStart, build_engine, resolve_start
from app.services.streaming.state import Message, SessionState, SessionStateMachine
from app.services.vocabulary import Vocabulary
from providers.base import SAMPLE_RATE
from providers.registry import ProviderRegistry
from schemas.auth import Principal
from schemas.errors import (
    GatewayError,
    InvalidRequest,
    PayloadTooLarge,
    ServiceUnavailable,
)
from schemas.streaming import ControlType, ResolvedConfig, StartMessage

T = TypeVar("T")
MS = SAMPLE_RATE // 1000
#: the step size while more audio would not change the next decode (see ``_coalesce``)
QUIET_STEP_MS = 100
_SEND_ERRORS = (WebSocketDisconnect, WebSocketDisconnected, OSError, TimeoutError)
AdmitProvider = Callable[[str], Awaitable[None]]  # RateLimits.admit_provider


async def _no_provider_limit(_provider: str) -> None:
    return None


class ClientGone(Exception):
    """The peer vanished (or stopped reading); nothing more can be sent."""


class LiveSession:
    """One accepted socket served by the live engine; subclasses implement the protocol hooks
    (``_handle``, ``_deliver``, ``_control``, ``_announce``, ``_error_event``, ``_farewell``)."""

    def __init__(
        self,
        websocket: WebSocket,
        *,
        manager: StreamingManager,
        registry: ProviderRegistry,
        principal: Principal,
        admit_provider: AdmitProvider = _no_provider_limit,
    ) -> None:
        self.id = uuid.uuid4().hex
        self._admit_provider = admit_provider
        self._ws = websocket
        self._manager = manager
        self._settings = s = manager.settings
        self._registry = registry
        self._principal = principal
        self._machine = SessionStateMachine()
        self._inbox = Inbox(max_samples=s.stream_max_buffered_ms * MS)
        self._min_step = s.stream_min_step_ms * MS
        self._max_step = s.stream_max_step_ms * MS
        self._send_lock = asyncio.Lock()
        self._closed = False
        self._errors = 0
        self._received = 0  # samples (16 kHz) accepted from the client
        self._started = time.monotonic()
        self._converter: FrameConverter | None = None
        self._pending_start: PendingStart | None = None
        self._config: ResolvedConfig | None = None
        self._engine: OnlineTranscriber | None = None
        self._inflight: asyncio.Future[Any] | None = None

    # -- protocol hooks -------------------------------------------------------------------
    async def _open(self) -> None:
        """Called once the lease is held, before the first frame is read."""

    async def _handle(self, message: MutableMapping[str, Any]) -> bool:
        """Handle one frame (size already checked); True once the reader is done."""
        raise NotImplementedError

    async def _deliver(self, events: Sequence[Event], since: float) -> None:
        """Render engine events; ``since``: when the audio or control they answer arrived."""
        raise NotImplementedError

    async def _control(self, item: ControlItem | DiscardItem) -> None:
        raise NotImplementedError

    async def _announce(self, config: ResolvedConfig) -> None:
        """The engine for ``config`` is ready."""

    async def _ack(self) -> None:
        """Audio was consumed (flow control, where the protocol has it)."""

    def _error_event(self, exc: GatewayError, *, fatal: bool) -> BaseModel:
        raise NotImplementedError

    def _farewell(self, reason: str) -> list[BaseModel]:
        """Events sent last, before the socket closes."""
        return []

    def _final_vocabulary(self) -> Vocabulary | None:
        """The custom vocabulary the engine applies to each final (text and words)."""
        return self._manager.vocabulary

    # -- lifecycle ------------------------------------------------------------------------
    async def run(self) -> None:
        """Serve the (accepted) socket until the session ends; never raises."""
        try:
            lease = self._manager.leases.acquire(self._principal.user_id)
        except ServiceUnavailable as exc:
            logger.info("stream refused for {}: {}", self._principal.user_id, exc.message)
            await self._fail(exc)
            return
        logger.info("stream {} opened by {} ({})", self.id, self._principal.user_id, lease.id)
        reader = asyncio.create_task(self._read(), name=f"stream-read-{self.id}")
        processor = asyncio.create_task(self._process(), name=f"stream-decode-{self.id}")
        try:
            await self._supervise(reader, processor)
        except ClientGone:
            logger.info("stream {}: client went away", self.id)
        except GatewayError as exc:
            await self._fail(exc)
        except Exception as exc:  # the session boundary: log, tell the client, close
            logger.opt(exception=exc).error("stream {} crashed", self.id)
            await self._fail(GatewayError("the server hit an unexpected error"))
        finally:
            try:
                for task in (reader, processor):
                    task.cancel()
                await asyncio.gather(reader, processor, return_exceptions=True)
                if self._inflight is not None:
                    await asyncio.wait([self._inflight])  # a worker thread may still decode
            finally:
                # Under anyio cancellation every await above can raise again; the lease must
                # be returned regardless, or the capacity slot leaks.
                lease.release()
                self._machine.close()
                logger.info(
                    "stream {} closed: {:.1f}s audio, {} segments",
                    self.id,
                    self._received / SAMPLE_RATE,
                    self._engine.segments if self._engine else 0,
                )

    async def _supervise(self, reader: asyncio.Task[None], processor: asyncio.Task[None]) -> None:
        done, _ = await asyncio.wait({reader, processor}, return_when=asyncio.FIRST_COMPLETED)
        if processor in done:
            processor.result()
            return
        reader.result()  # ClientGone propagates; a normal return means stop/shutdown is queued
        await processor

    # -- sending --------------------------------------------------------------------------
    async def _send(self, event: BaseModel) -> None:
        async with self._send_lock:
            if self._closed:
                raise ClientGone
            try:
                with anyio.fail_after(self._settings.stream_idle_timeout_s):
                    await self._ws.send_text(event.model_dump_json())
            except _SEND_ERRORS:
                self._closed = True
                raise ClientGone from None

    async def _send_timed(self, event: BaseModel, since: float) -> None:
        """Send a transcript event and observe its latency."""
        await self._send(event)
        metrics.observe_token_latency(time.monotonic() - since)

    async def _close(self, code: int, reason: str = "") -> None:
        async with self._send_lock:
            if self._closed:
                return
            self._closed = True
            with contextlib.suppress(*_SEND_ERRORS):
                await self._ws.close(code, reason[:120])

    async def _fail(self, exc: GatewayError) -> None:
        """Fatal error: report it, end the session, close with the mapped code."""
        try:
            await self._send(self._error_event(exc, fatal=True))
            for event in self._farewell(exc.code):
                await self._send(event)
        except ClientGone:
            return
        await self._close(websocket_close_code(exc), exc.code)

    # -- reader ---------------------------------------------------------------------------
    async def _read(self) -> None:
        s = self._settings
        await self._open()
        while True:
            remaining = s.stream_max_session_s - (time.monotonic() - self._started)
            try:
                if remaining <= 0:
                    raise TimeoutError
                # anyio's timeout, not asyncio.wait_for: on Python 3.11 wait_for can swallow a
                # cancellation that races with completion, and the handler then never ends
                with anyio.fail_after(min(s.stream_idle_timeout_s, remaining)):
                    message = await self._ws.receive()
            except TimeoutError:
                await self._inbox.put(ShutdownItem(self._timeout_error()))
                return
            if message["type"] == "websocket.disconnect":
                raise ClientGone
            try:
                self._check_size(message)
                if await self._handle(message):
                    return
            except GatewayError as exc:
                self._errors += 1
                fatal = isinstance(exc, PayloadTooLarge)
                if self._errors > s.stream_max_protocol_errors:
                    exc = InvalidRequest(
                        f"too many invalid messages ({self._errors}); last: {exc.message}",
                        code="too_many_errors",
                    )
                    fatal = True
                if fatal:
                    await self._inbox.put(ShutdownItem(exc))
                    return
                await self._send(self._error_event(exc, fatal=False))

    def _timeout_error(self) -> InvalidRequest:
        limit = self._settings.stream_max_session_s
        if time.monotonic() - self._started >= limit:
            return InvalidRequest(
                f"the session reached its maximum length of {limit:g}s",
                code="session_too_long",
            )
        return InvalidRequest(
            f"no message for {self._settings.stream_idle_timeout_s:g}s", code="idle_timeout"
        )

    def _check_size(self, message: MutableMapping[str, Any]) -> None:
        data, text = message.get("bytes"), message.get("text")
        size = len(data) if data is not None else len(text or "")
        limit = self._settings.stream_max_message_bytes
        if size > limit:
            raise PayloadTooLarge(
                f"a {size}-byte message exceeds the {limit}-byte limit; send smaller frames",
                code="message_too_big",
            )

    async def _begin(self, start: StartMessage) -> None:
        """Validate ``start``, count it against the provider's rate limit, queue the engine."""
        pending = resolve_start(start, self._settings, self._registry)
        await self._admit_provider(pending.target.provider.name)  # 429-style error if refused
        self._pending_start = pending
        self._converter = FrameConverter(start.sample_rate, start.encoding)
        await self._inbox.put(StartItem(start))

    async def _audio(self, data: bytes) -> None:
        self._machine.check(Message.AUDIO)
        assert self._converter is not None  # set by start
        await self._queue_audio(self._converter.convert(data))

    async def _queue_audio(self, samples: np.ndarray) -> None:
        paused = self._machine.state is SessionState.PAUSED
        for first in range(0, len(samples), self._max_step):
            piece = samples[first : first + self._max_step]
            self._received += len(piece)
            await self._inbox.put(AudioItem(piece, paused=paused))

    # -- decoder loop ---------------------------------------------------------------------
    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        """Run ``fn`` in the decode pool; if this task is cancelled the thread still finishes
        (``run`` waits for it before releasing the lease)."""
        future = asyncio.ensure_future(self._manager.run(fn, *args))
        self._inflight = future
        return await asyncio.shield(future)

    async def _process(self) -> None:
        while True:
            item = await self._inbox.get()
            if isinstance(item, StartItem):
                await self._start()
            elif isinstance(item, AudioItem):
                engine = self._require_engine()
                if item.paused:
                    events = await self._run(engine.skip, len(item.samples))
                else:
                    events = await self._run(engine.feed, await self._coalesce(item))
                await self._deliver(events, item.received_at)
                await self._ack()
            elif isinstance(item, ShutdownItem):
                await self._finish(item.error.code, item.received_at, item.error)
                return
            elif isinstance(item, ControlItem) and item.control is ControlType.STOP:
                await self._finish("stop", item.received_at)
                return
            else:
                await self._control(item)

    def _require_engine(self) -> OnlineTranscriber:
        assert self._engine is not None  # the state machine admits nothing else before start
        return self._engine

    async def _coalesce(self, first: AudioItem) -> np.ndarray:
        """Gather queued audio into one step of at least ``min_step`` (unless a control
        message follows) and at most ``max_step`` samples.

        While the engine is settled more audio would not change the next decode (or there
        is none to do), so a step needs no more than :data:`QUIET_STEP_MS`: the decode that
        completes an utterance starts as soon as its speech has ended, and the final leaves
        as soon as the silence is long enough, instead of up to a whole step later.
        """
        engine = self._require_engine()
        floor = min(self._min_step, QUIET_STEP_MS * MS) if engine.settled else self._min_step
        parts, total = [first.samples], len(first.samples)
        while total < self._max_step:
            nxt = self._inbox.peek()
            if nxt is None:
                if total >= floor:
                    break
                nxt = await self._inbox.wait()
            if not isinstance(nxt, AudioItem) or nxt.paused:
                break
            if total + len(nxt.samples) > self._max_step:
                break
            await self._inbox.get()
            parts.append(nxt.samples)
            total += len(nxt.samples)
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    async def _start(self) -> None:
        pending = self._pending_start
        assert pending is not None
        self._engine = await self._run(
            build_engine, pending, self._settings, self._final_vocabulary()
        )
        self._config = pending.config
        await self._announce(pending.config)

    async def _finish(self, reason: str, since: float, error: GatewayError | None = None) -> None:
        if self._engine is not None:
            final = "stop" if error is None else "shutdown"
            await self._deliver(await self._run(self._engine.finalize, final), since)
        if error is not None:
            await self._send(self._error_event(error, fatal=True))
        for event in self._farewell(reason):
            await self._send(event)
        code = WS_CLOSE_NORMAL if error is None else websocket_close_code(error)
        await self._close(code, reason)
