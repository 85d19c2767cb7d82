"""The live streaming protocol (DESIGN.md section 5): client messages and server events.

Client -> server (JSON text frames, plus audio as binary frames)::

    {"type": "start", "model": "whisper-1", "sample_rate": 16000, "encoding": "pcm16", ...}
    {"type": "audio", "data": "<base64 of pcm16/float32 little-endian samples>"}
    {"type": "pause"} | {"type": "resume"} | {"type": "commit"} | {"type": "stop"}

Server -> client: ``start``, ``partial``, ``final``, ``ack``, ``error``, ``end`` (models below).
``partial`` and ``final`` carry a :class:`StreamSegment`, the transcript's segment shape with
times on the session timeline (seconds of audio received since the session started).
"""

from __future__ import annotations

from enum import Enum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.errors import GatewayError
from schemas.transcript import TimedSegment

MIN_SAMPLE_RATE = 8_000
MAX_SAMPLE_RATE = 48_000


class Encoding(str, Enum):
    PCM16 = "pcm16"
    FLOAT32 = "float32"

    @property
    def sample_width(self) -> int:
        return 2 if self is Encoding.PCM16 else 4


class VadConfig(BaseModel):
    """End-of-utterance detection. ``enabled=false`` ends utterances only on commit/stop."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    silence_ms: int | None = Field(None, ge=100, le=10_000)
    threshold: float | None = Field(None, gt=0.0, lt=1.0)
    #: audio kept before the detected speech onset (the server's default is 300 ms)
    preroll_ms: int | None = Field(None, ge=0, le=2_000)


class StartMessage(BaseModel):
    """The first message of a session. Unset fields take the server's defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["start"] = "start"
    model: str | None = Field(None, max_length=200)
    language: str | None = Field(None, min_length=2, max_length=8)
    sample_rate: int = Field(16_000, ge=MIN_SAMPLE_RATE, le=MAX_SAMPLE_RATE)
    encoding: Encoding = Encoding.PCM16
    partials: bool = True
    prompt: str | None = None
    beam_size: int | None = Field(None, ge=1, le=20)
    vad: VadConfig = Field(default_factory=VadConfig)


class AudioMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Literal["audio"] = "audio"
    data: str


class ControlType(str, Enum):
    PAUSE = "pause"
    RESUME = "resume"
    COMMIT = "commit"
    STOP = "stop"


class ControlMessage(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    type: ControlType


# -- server events --------------------------------------------------------------------------


class StreamSegment(TimedSegment):
    """A transcript segment on the session timeline (seconds)."""


class ResolvedConfig(BaseModel):
    model: str
    language: str | None
    sample_rate: int
    encoding: Encoding
    partials: bool
    beam_size: int
    vad: VadConfig


class SessionLimits(BaseModel):
    max_message_bytes: int
    idle_timeout_s: float
    max_session_s: float
    max_buffered_ms: int


class StartEvent(BaseModel):
    type: Literal["start"] = "start"
    session_id: str
    config: ResolvedConfig
    limits: SessionLimits


class PartialEvent(BaseModel):
    """The utterance so far. ``stable_text`` is committed and will open the ``final``
    unchanged; only ``unstable_text`` may still be revised."""

    type: Literal["partial"] = "partial"
    segment: StreamSegment
    stable_text: str
    unstable_text: str
    stable_words: int


FinalReason = Literal["silence", "commit", "pause", "stop", "max_buffer", "shutdown"]


class FinalEvent(BaseModel):
    type: Literal["final"] = "final"
    segment: StreamSegment
    reason: FinalReason


class AckEvent(BaseModel):
    """Flow control: audio received from the client and audio consumed by the decoder (ms)."""

    type: Literal["ack"] = "ack"
    received_ms: int
    processed_ms: int
    control: ControlType | None = None


class ErrorEvent(BaseModel):
    type: Literal["error"] = "error"
    code: str
    message: str
    param: str | None = None
    fatal: bool = False

    @classmethod
    def from_error(cls, exc: GatewayError, *, fatal: bool) -> ErrorEvent:
        """The event reporting ``exc``; ``fatal``: the session ends after it."""
        return cls(code=exc.code, message=exc.message, param=exc.param, fatal=fatal)


class SessionSummary(BaseModel):
    text: str
    segments: int
    language: str | None
    model: str


class SessionUsage(BaseModel):
    duration_ms: int
    processing_ms: int
    decodes: int


class EndEvent(BaseModel):
    type: Literal["end"] = "end"
    session_id: str
    reason: str
    summary: SessionSummary
    usage: SessionUsage


ServerEvent = StartEvent | PartialEvent | FinalEvent | AckEvent | ErrorEvent | EndEvent
