"""One OpenAI Realtime transcription session on the shared live-session core.

The session starts configured with defaults (``session.created``; server VAD, 24 kHz PCM16);
``session.update`` / ``transcription_session.update`` re-configure it: the engine is rebuilt
between turns (an open turn is committed first) and the audio timeline continues.
``input_audio_buffer.append`` audio goes through the same converter, inbox and engine as the
native protocol; ``commit`` finalizes the turn (answered by ``committed`` + ``completed`` even
when no words were heard), ``clear`` drops the queued audio and the open turn. Every protocol
error becomes an OpenAI-shaped ``error`` event (:meth:`RealtimeSession._error_event`); the
session survives it unless it is fatal (oversized frame, too many errors, idle/length limits).
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import MutableMapping, Sequence
from typing import Any

from pydantic import BaseModel

from app.services.streaming.engine import Event, FinalEvent
from app.services.streaming.inbox import ControlItem, DiscardItem
from app.services.streaming.live import ClientGone, LiveSession
from app.services.streaming.protocol import decode_base64, load_object, validate_message
from app.services.streaming.realtime import g711
from app.services.streaming.realtime.config import RATES, RealtimeConfig
from app.services.streaming.realtime.turns import TurnTracker
from app.services.streaming.state import Message
from app.services.vocabulary import Vocabulary
from schemas.errors import GatewayError, InvalidRequest
from schemas.realtime import (
    AudioAppend,
    BetaSessionUpdate,
    BufferControl,
    Cleared,
    ClientEvent,
    ErrorEvent,
    RealtimeError,
    SessionEvent,
    SessionUpdate,
    TranscriptionFailed,
)
from schemas.streaming import ControlType, ResolvedConfig

_EVENTS: dict[str, type[ClientEvent]] = {
    "session.update": SessionUpdate,
    "transcription_session.update": BetaSessionUpdate,
    "input_audio_buffer.append": AudioAppend,
    "input_audio_buffer.commit": BufferControl,
    "input_audio_buffer.clear": BufferControl,
}
#: OpenAI refuses to commit less audio than this
MIN_COMMIT_MS = 100
_G711 = {"audio/pcmu": g711.ULAW, "audio/pcma": g711.ALAW}


class RealtimeSession(LiveSession):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rt = RealtimeConfig.new()
        self._replies: deque[str] = deque()  # the answer each queued configuration owes
        self._turns = TurnTracker(self._manager.vocabulary)
        self._event_id: str | None = None  # the client event being handled
        self._uncommitted_ms = 0.0  # audio appended since the last commit or clear
        self._offset = 0  # samples heard by earlier engines of this session

    def _final_vocabulary(self) -> Vocabulary | None:
        """None: the turns correct the ``completed`` transcript themselves, since its last
        delta needs the engine's raw words (the ones earlier deltas did not carry)."""
        return None

    # -- reader side ----------------------------------------------------------------------
    async def _open(self) -> None:
        self._machine.apply(Message.START)
        await self._configure_engine(self._rt, "session.created")

    async def _configure_engine(self, config: RealtimeConfig, reply: str) -> None:
        await self._begin(config.start_message())  # validates before anything changes
        self._rt = config
        self._replies.append(reply)

    async def _handle(self, message: MutableMapping[str, Any]) -> bool:
        self._event_id = None
        if message.get("bytes") is not None:
            raise InvalidRequest(
                "send audio as base64 in 'input_audio_buffer.append' events, not binary frames",
                code="invalid_message",
            )
        data = load_object(message.get("text") or "")
        event_id = data.get("event_id")
        self._event_id = event_id if isinstance(event_id, str) else None
        event = validate_message(data, _EVENTS)
        if isinstance(event, SessionUpdate | BetaSessionUpdate):
            beta = isinstance(event, BetaSessionUpdate)
            reply = "transcription_session.updated" if beta else "session.updated"
            await self._configure_engine(self._rt.updated(event), reply)
        elif isinstance(event, AudioAppend):
            await self._append(decode_base64(event.audio, param="audio"))
        elif event.type == "input_audio_buffer.commit":
            if self._uncommitted_ms < MIN_COMMIT_MS:
                raise InvalidRequest(
                    f"buffer too small: expected at least {MIN_COMMIT_MS}ms of audio, "
                    f"but the buffer holds {self._uncommitted_ms:.0f}ms",
                    code="input_audio_buffer_commit_empty",
                )
            self._machine.check(Message.COMMIT)
            self._uncommitted_ms = 0.0
            await self._inbox.put(ControlItem(ControlType.COMMIT))
        else:  # clear
            self._uncommitted_ms = 0.0
            self._inbox.drop_audio()
            await self._inbox.put(DiscardItem())
        return False

    async def _append(self, data: bytes) -> None:
        table = _G711.get(self._rt.format)
        width = 1 if table is not None else 2
        if len(data) % width:
            raise InvalidRequest(
                "audio/pcm audio must be whole 16-bit samples", param="audio", code="invalid_audio"
            )
        self._uncommitted_ms += len(data) / width * 1000 / RATES[self._rt.format]
        await self._audio(g711.decode(data, table) if table is not None else data)

    # -- decoder side ---------------------------------------------------------------------
    async def _start(self) -> None:
        previous = self._engine
        if previous is not None:  # a re-configuration: the open turn ends first
            await self._deliver(await self._run(previous.finalize, "commit"), time.monotonic())
            self._offset += previous.processed_samples
        await super()._start()

    async def _announce(self, config: ResolvedConfig) -> None:
        reply = self._replies.popleft()
        self._turns.logprobs = self._rt.logprobs
        self._turns.preroll_ms = config.vad.preroll_ms or 0
        session = self._rt.render(config, beta=reply.startswith("transcription_session"))
        await self._send(SessionEvent(type=reply, session=session))  # type: ignore[arg-type]

    async def _deliver(self, events: Sequence[Event], since: float) -> None:
        for event in self._turns.render(events, self._offset):
            await self._send_timed(event, since)

    async def _control(self, item: ControlItem | DiscardItem) -> None:
        engine = self._require_engine()
        if isinstance(item, DiscardItem):
            await self._run(engine.discard)
            self._turns.discard()
            await self._send(Cleared())
            return
        events = await self._run(engine.finalize, "commit")
        await self._deliver(events, item.received_at)
        if not any(isinstance(e, FinalEvent) for e in events):  # nothing was heard
            for event in self._turns.complete([], 0.0):
                await self._send(event)

    async def _fail(self, exc: GatewayError) -> None:
        item = self._turns.abandon()
        if item is not None:
            with contextlib.suppress(ClientGone):
                await self._send(
                    TranscriptionFailed(item_id=item, error=RealtimeError.from_error(exc))
                )
        await super()._fail(exc)

    def _farewell(self, reason: str) -> list[BaseModel]:
        """A turn the engine's last finalize left open (speech without words) completes."""
        return list(self._turns.complete([], 0.0)) if self._turns.open_item else []

    def _error_event(self, exc: GatewayError, *, fatal: bool) -> BaseModel:
        client_event = None if fatal else self._event_id  # fatal ones end the session
        return ErrorEvent(error=RealtimeError.from_error(exc, client_event))
