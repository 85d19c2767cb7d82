"""OpenAI Realtime API, transcription sessions: the client and server events the gateway speaks.

Shapes follow OpenAI's current (GA) Realtime API (``session.update`` with
``session.type = "transcription"``) and accept the older beta ``transcription_session.update``.
Client models ignore fields they do not know (the SDKs send more than transcription needs);
known fields are validated. Server events carry an ``event_id`` like OpenAI's.
Docs/Realtime.md has the event table.
"""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.errors import GatewayError

AudioFormatType = Literal["audio/pcm", "audio/pcmu", "audio/pcma"]
BetaAudioFormat = Literal["pcm16", "g711_ulaw", "g711_alaw"]
LOGPROBS = "item.input_audio_transcription.logprobs"


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


# -- client events ----------------------------------------------------------------------------


class AudioFormat(_Lenient):
    type: AudioFormatType = "audio/pcm"
    rate: Literal[24000] | None = None


class Transcription(_Lenient):
    model: str | None = Field(None, max_length=200)
    language: str | None = Field(None, min_length=2, max_length=8)
    prompt: str | None = None


class ServerVad(_Lenient):
    type: Literal["server_vad"] = "server_vad"
    threshold: float | None = Field(None, gt=0.0, lt=1.0)
    prefix_padding_ms: int | None = Field(None, ge=0, le=2_000)
    silence_duration_ms: int | None = Field(None, ge=100, le=10_000)


class AudioInput(_Lenient):
    format: AudioFormat | None = None
    transcription: Transcription | None = None
    turn_detection: ServerVad | None = None  # null: the client commits turns itself


class SessionAudio(_Lenient):
    input: AudioInput | None = None


class TranscriptionSession(_Lenient):
    """``session`` of ``session.update`` (GA shape)."""

    type: Literal["transcription"]
    audio: SessionAudio | None = None
    include: list[Literal["item.input_audio_transcription.logprobs"]] | None = None


class BetaTranscriptionSession(_Lenient):
    """``session`` of the beta ``transcription_session.update``."""

    input_audio_format: BetaAudioFormat | None = None
    input_audio_transcription: Transcription | None = None
    turn_detection: ServerVad | None = None
    include: list[Literal["item.input_audio_transcription.logprobs"]] | None = None


class SessionUpdate(_Lenient):
    type: Literal["session.update"]
    event_id: str | None = None
    session: TranscriptionSession


class BetaSessionUpdate(_Lenient):
    type: Literal["transcription_session.update"]
    event_id: str | None = None
    session: BetaTranscriptionSession


class AudioAppend(_Lenient):
    type: Literal["input_audio_buffer.append"]
    event_id: str | None = None
    audio: str


class BufferControl(_Lenient):
    type: Literal["input_audio_buffer.commit", "input_audio_buffer.clear"]
    event_id: str | None = None


ClientEvent = SessionUpdate | BetaSessionUpdate | AudioAppend | BufferControl


# -- server events ----------------------------------------------------------------------------


class ServerEvent(BaseModel):
    event_id: str = Field(default_factory=lambda: new_id("event"))


class SessionEvent(ServerEvent):
    """``session.created`` / ``session.updated`` / ``transcription_session.updated``."""

    type: Literal["session.created", "session.updated", "transcription_session.updated"]
    session: dict[str, object]


class SpeechStarted(ServerEvent):
    type: Literal["input_audio_buffer.speech_started"] = "input_audio_buffer.speech_started"
    audio_start_ms: int
    item_id: str


class SpeechStopped(ServerEvent):
    type: Literal["input_audio_buffer.speech_stopped"] = "input_audio_buffer.speech_stopped"
    audio_end_ms: int
    item_id: str


class Committed(ServerEvent):
    type: Literal["input_audio_buffer.committed"] = "input_audio_buffer.committed"
    item_id: str
    previous_item_id: str | None = None


class Cleared(ServerEvent):
    type: Literal["input_audio_buffer.cleared"] = "input_audio_buffer.cleared"


class LogProb(BaseModel):
    token: str
    logprob: float
    bytes: list[int]


class TranscriptionDelta(ServerEvent):
    type: Literal["conversation.item.input_audio_transcription.delta"] = (
        "conversation.item.input_audio_transcription.delta"
    )
    item_id: str
    content_index: int = 0
    delta: str
    logprobs: list[LogProb] | None = None


class DurationUsage(BaseModel):
    type: Literal["duration"] = "duration"
    seconds: float


class TranscriptionCompleted(ServerEvent):
    type: Literal["conversation.item.input_audio_transcription.completed"] = (
        "conversation.item.input_audio_transcription.completed"
    )
    item_id: str
    content_index: int = 0
    transcript: str
    usage: DurationUsage
    logprobs: list[LogProb] | None = None


class RealtimeError(BaseModel):
    type: str
    code: str | None = None
    message: str
    param: str | None = None
    event_id: str | None = None  # the client event that caused it

    @classmethod
    def from_error(cls, exc: GatewayError, client_event_id: str | None = None) -> RealtimeError:
        detail = exc.envelope().error
        return cls(
            type=detail.type,
            code=detail.code,
            message=detail.message,
            param=detail.param,
            event_id=client_event_id,
        )


class TranscriptionFailed(ServerEvent):
    type: Literal["conversation.item.input_audio_transcription.failed"] = (
        "conversation.item.input_audio_transcription.failed"
    )
    item_id: str
    content_index: int = 0
    error: RealtimeError


class ErrorEvent(ServerEvent):
    type: Literal["error"] = "error"
    error: RealtimeError
