"""Properties of the quality report (any transcript) and the audio warnings (any samples)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.transcription.audio_warnings import WarningThresholds, audio_warnings
from app.services.transcription.quality import MAX_SPANS, QualityThresholds, quality_report
from providers.base import AudioInput
from schemas.transcript import Segment, Transcript, TranscriptMetadata, Word, build_transcript

probability = st.floats(0.0, 1.0, allow_nan=False)
raw_words = st.lists(
    st.tuples(st.floats(0, 100, allow_nan=False), st.floats(0, 3, allow_nan=False), probability),
    max_size=300,
)


@st.composite
def transcripts(draw: st.DrawFn) -> Transcript:
    duration = draw(st.floats(0, 120, allow_nan=False))
    with_words = draw(st.booleans())
    segments = []
    for n, group in enumerate(draw(st.lists(raw_words, max_size=4))):
        words = [
            Word(word=f"w{i}", start=start, end=start + length, probability=p)
            for i, (start, length, p) in enumerate(sorted(group))
        ]
        text = " ".join(w.word for w in words) or "x"
        segments.append(
            Segment(
                id=n,
                start=words[0].start if words else 0.0,
                end=words[-1].end if words else 1.0,
                text=text,
                confidence=draw(st.one_of(st.none(), probability)),
                words=words if with_words else None,
            )
        )
    return build_transcript(
        segments=segments,
        language="en",
        duration=duration,
        metadata=TranscriptMetadata(provider="mock", model="mock"),
    )


@st.composite
def thresholds(draw: st.DrawFn) -> QualityThresholds:
    low, high = sorted(draw(st.tuples(probability, probability)))
    return QualityThresholds(high=max(high, 1e-6), low=low)


@settings(max_examples=150, deadline=None)
@given(transcripts(), thresholds(), st.floats(0, 1000, allow_nan=False))
def test_buckets_and_spans_are_well_formed(
    transcript: Transcript, limits: QualityThresholds, processing_s: float
) -> None:
    report = quality_report(transcript, processing_s, limits)
    words = [w for s in transcript.segments for w in s.words or ()]
    scored = bool(words) or any(s.confidence is not None for s in transcript.segments)
    buckets = report.confidence_buckets
    if not scored:
        assert buckets is None and report.avg_confidence is None
        assert report.low_confidence_spans == []
        return
    assert buckets is not None
    parts = (buckets.high, buckets.medium, buckets.low)
    assert all(0.0 <= f <= 1.0 for f in parts)
    assert abs(sum(parts) - 1.0) < 1e-9
    assert report.avg_confidence is not None and 0.0 <= report.avg_confidence <= 1.0
    assert report.confidence_source == ("words" if words else "segments")
    spans = report.low_confidence_spans
    assert len(spans) <= MAX_SPANS
    bad = [s for s in spans if not (0.0 <= s.start <= s.end <= transcript.duration and s.text)]
    assert not bad, (bad, transcript.duration)
    if buckets.low == 0:
        assert spans == []
    if transcript.duration > 0:
        assert report.real_time_factor is not None and report.real_time_factor >= 0
        assert report.words_per_minute is not None and report.words_per_minute >= 0


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.floats(-1.0, 1.0, allow_nan=False, width=32), max_size=4000),
    st.sampled_from([None, 8000, 16_000, 44_100]),
)
def test_warnings_never_fail_and_are_distinct(values: list[float], rate: int | None) -> None:
    audio = AudioInput(np.asarray(values, dtype=np.float32), source_rate=rate)
    warnings = audio_warnings(audio, WarningThresholds())
    codes = [w.code for w in warnings]
    assert len(codes) == len(set(codes))
    assert ("low_sample_rate" in codes) == (rate == 8000)
