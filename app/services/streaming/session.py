"""One live session in the gateway's own WebSocket protocol (DESIGN.md section 5).

The ``start`` message configures the engine (and counts against the provider's rate limit,
like a REST call); audio arrives as binary frames or ``audio`` messages; ``pause``/``resume``/
``commit``/``stop`` steer it. The server answers with ``start``, ``partial``, ``final``, ``ack``,
``error`` and ``end`` events. The lease, reader, decoder loop and limits are the shared
:class:`~app.services.streaming.live.LiveSession`.
"""

from __future__ import annotations

from collections.abc import MutableMapping, Sequence
from typing import Any

from pydantic import BaseModel

from app.services.streaming.engine import Event, SpeechBoundary
from app.services.streaming.inbox import ControlItem, DiscardItem
from app.services.streaming.live import MS, LiveSession
from app.services.streaming.protocol import decode_base64, parse_text
from app.services.streaming.state import Message
from schemas.errors import GatewayError
from schemas.streaming import (
    AckEvent,
    AudioMessage,
    ControlType,
    EndEvent,
    ErrorEvent,
    ResolvedConfig,
    SessionLimits,
    SessionSummary,
    SessionUsage,
    StartEvent,
    StartMessage,
)


class StreamSession(LiveSession):
    async def _handle(self, message: MutableMapping[str, Any]) -> bool:
        """Handle one frame; True once ``stop`` has been queued (the reader is done)."""
        data, text = message.get("bytes"), message.get("text")
        if data is not None:
            await self._audio(data)
            return False
        parsed = parse_text(text or "")
        if isinstance(parsed, AudioMessage):
            await self._audio(decode_base64(parsed.data))
        elif isinstance(parsed, StartMessage):
            self._machine.check(Message.START)
            await self._begin(parsed)
            self._machine.apply(Message.START)
        else:
            kind = Message(parsed.type.value)
            self._machine.check(kind)
            if kind is Message.STOP and self._converter is not None:
                await self._queue_audio(self._converter.flush())
            self._machine.apply(kind)
            await self._inbox.put(ControlItem(parsed.type))
            return kind is Message.STOP
        return False

    async def _deliver(self, events: Sequence[Event], since: float) -> None:
        for event in events:
            if not isinstance(event, SpeechBoundary):  # no VAD events in this protocol
                await self._send_timed(event, since)

    async def _control(self, item: ControlItem | DiscardItem) -> None:
        assert isinstance(item, ControlItem)  # this protocol has no clear
        if item.control is not ControlType.RESUME:
            reason = "pause" if item.control is ControlType.PAUSE else "commit"
            events = await self._run(self._require_engine().finalize, reason)
            await self._deliver(events, item.received_at)
        await self._ack_control(item.control)

    async def _announce(self, config: ResolvedConfig) -> None:
        s = self._settings
        await self._send(
            StartEvent(
                session_id=self.id,
                config=config,
                limits=SessionLimits(
                    max_message_bytes=s.stream_max_message_bytes,
                    idle_timeout_s=s.stream_idle_timeout_s,
                    max_session_s=s.stream_max_session_s,
                    max_buffered_ms=s.stream_max_buffered_ms,
                ),
            )
        )

    async def _ack(self) -> None:
        await self._ack_control(None)

    async def _ack_control(self, control: ControlType | None) -> None:
        processed = self._engine.processed_samples if self._engine else 0
        await self._send(
            AckEvent(
                received_ms=self._received // MS, processed_ms=processed // MS, control=control
            )
        )

    def _error_event(self, exc: GatewayError, *, fatal: bool) -> BaseModel:
        return ErrorEvent.from_error(exc, fatal=fatal)

    def _farewell(self, reason: str) -> list[BaseModel]:
        engine = self._engine
        if engine is None:
            return []
        return [
            EndEvent(
                session_id=self.id,
                reason=reason,
                summary=SessionSummary(
                    text=engine.text,
                    segments=engine.segments,
                    language=engine.language,
                    model=self._config.model if self._config else "",
                ),
                usage=SessionUsage(
                    duration_ms=self._received // MS,
                    processing_ms=round(engine.processing_s * 1000),
                    decodes=engine.decodes,
                ),
            )
        ]
