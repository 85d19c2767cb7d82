"""The quality report of a transcript (``metadata.quality``).

Confidences are the words' probabilities; a transcript without words (no word timestamps and a
provider that gives none) falls back to its segments' ``confidence``, and ``confidence_source``
says which were used (``null`` buckets when neither exists). A word is *high* at or above
``STT_QUALITY_HIGH_CONFIDENCE``, *low* below ``STT_QUALITY_LOW_CONFIDENCE``, *medium* between.
Consecutive low words (or low segments) form the ``low_confidence_spans`` a reviewer checks.
Words per minute count the words over the whole audio duration (pauses included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from schemas.quality import ConfidenceBuckets, LowConfidenceSpan, QualityReport
from schemas.transcript import Transcript

#: spans reported at most (the rest are left out: a bad recording would list every word)
MAX_SPANS = 100


@dataclass(frozen=True)
class QualityThresholds:
    high: float = 0.85
    low: float = 0.5


@dataclass(frozen=True)
class _Scored:
    start: float
    end: float
    text: str
    confidence: float


Source = Literal["words", "segments"] | None


def _scored(transcript: Transcript) -> tuple[list[_Scored], Source]:
    words = [w for seg in transcript.segments for w in seg.words or ()]
    if words:
        return [_Scored(w.start, w.end, w.word, w.probability) for w in words], "words"
    segments = [s for s in transcript.segments if s.confidence is not None]
    if segments:
        return [_Scored(s.start, s.end, s.text, s.confidence or 0.0) for s in segments], "segments"
    return [], None


def _spans(items: list[_Scored], low: float) -> list[LowConfidenceSpan]:
    spans: list[LowConfidenceSpan] = []
    run: list[_Scored] = []
    for item in [*items, None]:
        if item is not None and item.confidence < low:
            run.append(item)
            continue
        if run:
            text = " ".join(r.text for r in run)
            start, end = min(r.start for r in run), max(r.end for r in run)  # segments may overlap
            spans.append(LowConfidenceSpan(start=start, end=end, text=text))
            run = []
        if len(spans) == MAX_SPANS:
            break
    return spans


def quality_report(
    transcript: Transcript, processing_s: float, thresholds: QualityThresholds
) -> QualityReport:
    """The report of ``transcript``, which took ``processing_s`` seconds to produce."""
    duration = transcript.duration
    items, source = _scored(transcript)
    word_count = (
        len(items) if source == "words" else sum(len(s.text.split()) for s in transcript.segments)
    )
    buckets = None
    average = None
    if items:
        n = len(items)
        high = sum(i.confidence >= thresholds.high for i in items)
        low = sum(i.confidence < thresholds.low for i in items)
        buckets = ConfidenceBuckets(high=high / n, medium=(n - high - low) / n, low=low / n)
        average = round(sum(i.confidence for i in items) / n, 4)
    return QualityReport(
        real_time_factor=round(processing_s / duration, 4) if duration > 0 else None,
        words_per_minute=round(word_count * 60 / duration, 1) if duration > 0 else None,
        avg_confidence=average,
        confidence_source=source,
        confidence_buckets=buckets,
        low_confidence_spans=_spans(items, thresholds.low),
    )
