"""Speech emotion recognition results: one class per segment, a summary in ``metadata``
(Docs/Transcript_Intelligence.md#emotion)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Emotion(BaseModel):
    """The most likely emotion class of a segment's audio and the model's probability for it."""

    model_config = ConfigDict(frozen=True)

    label: str
    score: float = Field(ge=0.0, le=1.0)


class EmotionSummary(BaseModel):
    """``metadata.emotion``: which model labelled the segments, and how the labels spread."""

    model_config = ConfigDict(frozen=True)

    model: str
    segments: int = Field(ge=0)  # how many segments were labelled
    #: label -> share of the labelled segments' duration (the shares sum to 1; {} without any)
    distribution: dict[str, float]
