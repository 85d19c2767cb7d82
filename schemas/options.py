"""Transcription options: validated at the edge, frozen inside.

``TranscriptionOptions`` is what a provider receives. Its static bounds are the absolute limits
of the engines; deployments tighten them further through settings (``app.core.limits``).
"""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field, model_validator


class Task(str, Enum):
    TRANSCRIBE = "transcribe"
    TRANSLATE = "translate"


class ResponseFormat(str, Enum):
    JSON = "json"
    TEXT = "text"
    SRT = "srt"
    VTT = "vtt"
    VERBOSE_JSON = "verbose_json"
    DIARIZED_JSON = "diarized_json"


class Granularity(str, Enum):
    WORD = "word"
    SEGMENT = "segment"


class VadParameters(BaseModel):
    """Silero VAD settings (a subset of faster-whisper's ``VadOptions``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    threshold: float = Field(0.5, ge=0.0, le=1.0)
    min_silence_duration_ms: int = Field(500, ge=0, le=10_000)
    speech_pad_ms: int = Field(400, ge=0, le=5_000)


MAX_SPEAKERS = 16


class DiarizationOptions(BaseModel):
    """Speaker diarization hints. All ``None`` means the speaker count is found automatically."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    num_speakers: int | None = Field(None, ge=1, le=MAX_SPEAKERS)
    min_speakers: int | None = Field(None, ge=1, le=MAX_SPEAKERS)
    max_speakers: int | None = Field(None, ge=1, le=MAX_SPEAKERS)

    @model_validator(mode="after")
    def _coherent(self) -> DiarizationOptions:
        low, high = self.min_speakers or 1, self.max_speakers or MAX_SPEAKERS
        if low > high:
            raise ValueError("min_speakers must not exceed max_speakers")
        if self.num_speakers is not None and not low <= self.num_speakers <= high:
            raise ValueError("num_speakers must lie between min_speakers and max_speakers")
        return self


class TranscriptionOptions(BaseModel):
    """Everything a provider needs to know about one request, beyond the audio."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: Task = Task.TRANSCRIBE
    language: str | None = Field(None, min_length=2, max_length=8)
    prompt: str | None = None
    hotwords: str | None = None
    temperature: float = Field(0.0, ge=0.0, le=1.0)
    beam_size: int = Field(5, ge=1, le=20)
    best_of: int = Field(5, ge=1, le=20)
    word_timestamps: bool = False
    vad_filter: bool = False
    vad_parameters: VadParameters | None = None
    chunk_length: int | None = Field(None, ge=1, le=30)
    condition_on_previous_text: bool = True
    # post-processing by the gateway after the provider (app.services.transcription.pipeline)
    diarization: DiarizationOptions | None = None  # None: no diarization
    vocabulary: dict[str, str] | None = None  # post-correction: heard -> written
    # pre-processing before the provider: the enhancement stage (None: as STT_ENHANCE says)
    enhance: bool | None = None
    # each channel transcribed on its own, its speaker named by the channel (multichannel.py)
    multichannel: bool = False
    # role names for the speakers: channel order, or order of first appearance (roles.py)
    speaker_roles: tuple[str, ...] | None = Field(None, min_length=1, max_length=MAX_SPEAKERS)
    emotion: bool = False  # an emotion class per segment (speech emotion recognition)
