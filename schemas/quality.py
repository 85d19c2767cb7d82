"""Transcript intelligence in ``metadata``: the quality report and the audio warnings.

Both are advisory: they never fail a transcription (Docs/Transcript_Intelligence.md).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

WarningCode = Literal[
    "low_sample_rate",
    "low_level",
    "clipping",
    "mostly_silence",
    "very_short_speech",
    "summary_failed",  # a job's summary could not be made (Docs/Transcript_Intelligence.md)
]


class ConfidenceBuckets(BaseModel):
    """Fractions of the words (or segments, see ``confidence_source``) by confidence."""

    model_config = ConfigDict(frozen=True)

    high: float = Field(ge=0.0, le=1.0)
    medium: float = Field(ge=0.0, le=1.0)
    low: float = Field(ge=0.0, le=1.0)


class LowConfidenceSpan(BaseModel):
    """Consecutive low-confidence words, for human review (seconds on the audio timeline)."""

    model_config = ConfigDict(frozen=True)

    start: float
    end: float
    text: str


class QualityReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    #: processing seconds per second of audio (under 1: faster than real time)
    real_time_factor: float | None
    words_per_minute: float | None
    avg_confidence: float | None
    #: what the confidences are: word probabilities, segment confidences, or none at all
    confidence_source: Literal["words", "segments"] | None
    confidence_buckets: ConfidenceBuckets | None
    low_confidence_spans: list[LowConfidenceSpan]


class AudioWarning(BaseModel):
    model_config = ConfigDict(frozen=True)

    code: WarningCode
    message: str


class Enhancement(BaseModel):
    """What the enhancement stage (``STT_ENHANCE``) did to the audio the model heard."""

    model_config = ConfigDict(frozen=True)

    #: the FFmpeg filter chain applied (band-pass, then the gain)
    filters: str
    #: the speech level measured before the gain, dBFS
    level_dbfs: float
    #: the gain applied, dB; a chunked job reports its chunk with the largest gain
    gain_db: float
