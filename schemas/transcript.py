"""The canonical transcript (DESIGN.md section 4) and the normalisation that keeps it valid.

Providers build transcripts through :func:`build_transcript`, which enforces the invariants the
rest of the gateway relies on: timestamps monotonic and inside the audio, no control characters,
``None`` rather than empty lists, and ``text`` equal to the joined segment texts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas.emotion import Emotion, EmotionSummary
from schemas.quality import AudioWarning, Enhancement, QualityReport

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_SPACES = re.compile(r"\s+")


class Word(BaseModel):
    """One recognised word with its time span on the audio timeline (seconds)."""

    model_config = ConfigDict(frozen=True)

    word: str
    start: float
    end: float
    probability: float = Field(ge=0.0, le=1.0)
    speaker: str | None = None


class TimedSegment(BaseModel):
    """A segment's shape wherever one is shown: transcripts and live ``partial``/``final``."""

    model_config = ConfigDict(frozen=True)

    id: int
    start: float
    end: float
    text: str
    speaker: str | None = None
    confidence: float | None = None
    words: list[Word] | None = None


class Segment(TimedSegment):
    """One decoded segment. The optional decoder fields feed OpenAI's ``verbose_json``;
    ``channel``: the audio channel (0-based) it was heard on, for ``multichannel=true``."""

    channel: int | None = None
    seek: int = 0
    tokens: list[int] | None = None
    temperature: float | None = None
    avg_logprob: float | None = None
    compression_ratio: float | None = None
    no_speech_prob: float | None = None
    # speech emotion recognition by the gateway (``emotion=true``), after any diarization
    emotion: Emotion | None = None


class Diarization(BaseModel):
    enabled: bool = False
    speakers: int | None = None
    # speaker label -> role name, when the request named ``speaker_roles``
    roles: dict[str, str] | None = None


class Usage(BaseModel):
    duration_ms: int
    tokens: int | None = None


class TranscriptMetadata(BaseModel):
    """Where a transcript came from. Extra keys are allowed for provider specifics."""

    model_config = ConfigDict(extra="allow")

    provider: str
    model: str
    queue_latency_ms: int = 0
    processing_ms: int = 0
    fallback_from: str | None = None
    task: str = "transcribe"
    language_probability: float | None = None
    # advisory reports of the transcription pipeline (STT_QUALITY_REPORT, STT_AUDIO_WARNINGS)
    quality: QualityReport | None = None
    warnings: list[AudioWarning] | None = None
    enhancement: Enhancement | None = None  # STT_ENHANCE applied
    emotion: EmotionSummary | None = None  # requests with ``emotion=true``


class Transcript(BaseModel):
    text: str
    language: str
    duration: float
    segments: list[Segment]
    diarization: Diarization = Field(default_factory=Diarization)
    usage: Usage
    metadata: TranscriptMetadata

    def with_metadata(self, **changes: Any) -> Transcript:
        """Return a copy whose metadata has ``changes`` applied."""
        meta = self.metadata.model_copy(update=changes)
        return self.model_copy(update={"metadata": meta})


def clean_text(text: str) -> str:
    """Strip control characters, normalise Unicode (NFC) and collapse runs of white space."""
    text = unicodedata.normalize("NFC", text)
    text = _CONTROL.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def _clamp(value: float, low: float, high: float) -> float:
    return min(max(value, low), high)


def normalise_words(words: Iterable[Word] | None, low: float, high: float) -> list[Word] | None:
    """Clean word texts and clamp their times into ``[low, high]``, monotonically."""
    if words is None:
        return None
    out: list[Word] = []
    cursor = low
    for w in words:
        text = clean_text(w.word)
        if not text:
            continue
        start = _clamp(w.start, cursor, high)
        end = _clamp(w.end, start, high)
        out.append(
            w.model_copy(
                update={
                    "word": text,
                    "start": start,
                    "end": end,
                    "probability": _clamp(w.probability, 0.0, 1.0),
                }
            )
        )
        cursor = start
    return out or None


def normalise_segments(segments: Iterable[Segment], duration: float) -> list[Segment]:
    """Renumber, clean and clamp segments so the canonical invariants hold."""
    return SegmentNormaliser(duration).add(segments)


class SegmentNormaliser:
    """:func:`normalise_segments` over segments that arrive in batches, in order: the batches'
    results, concatenated, are what one call over all of them returns."""

    def __init__(self, duration: float) -> None:
        self.duration = duration
        self.count = 0
        self._cursor = 0.0
        self._last_end = 0.0

    def add(self, segments: Iterable[Segment]) -> list[Segment]:
        out: list[Segment] = []
        for seg in segments:
            text = clean_text(seg.text)
            if not text:
                continue
            start = _clamp(seg.start, self._cursor, self.duration)
            end = _clamp(max(seg.end, self._last_end), start, self.duration)
            words = normalise_words(seg.words, start, end)
            update = {"id": self.count, "text": text, "start": start, "end": end, "words": words}
            out.append(seg.model_copy(update=update))
            self.count += 1
            self._cursor, self._last_end = start, end
        return out


def join_text(segments: Sequence[Segment]) -> str:
    return " ".join(s.text for s in segments)


def combined_metadata(parts: Sequence[Transcript], **extra: Any) -> TranscriptMetadata:
    """The metadata of a transcript made of ``parts`` (chunks, channels): the first part's
    provider, model and language probability, the parts' processing and queue times summed,
    and the enhancement of the part that needed the largest gain."""
    first = parts[0].metadata
    enhanced = [p.metadata.enhancement for p in parts if p.metadata.enhancement is not None]
    return TranscriptMetadata(
        provider=first.provider,
        model=first.model,
        processing_ms=sum(p.metadata.processing_ms for p in parts),
        queue_latency_ms=sum(p.metadata.queue_latency_ms for p in parts),
        task=first.task,
        language_probability=first.language_probability,
        enhancement=max(enhanced, key=lambda e: e.gain_db, default=None),
        **extra,
    )


def majority_language(parts: Sequence[Transcript]) -> str:
    """The language most of ``parts`` were transcribed in."""
    languages = [p.language for p in parts]
    return max(set(languages), key=languages.count)


def build_transcript(
    *,
    segments: Iterable[Segment],
    language: str,
    duration: float,
    metadata: TranscriptMetadata,
    diarization: Diarization | None = None,
    tokens: int | None = None,
) -> Transcript:
    """Assemble a canonical transcript from raw provider segments."""
    duration = max(0.0, float(duration))
    segs = normalise_segments(segments, duration)
    return Transcript(
        text=join_text(segs),
        language=language,
        duration=duration,
        segments=segs,
        diarization=diarization or Diarization(),
        usage=Usage(duration_ms=round(duration * 1000), tokens=tokens),
        metadata=metadata,
    )
