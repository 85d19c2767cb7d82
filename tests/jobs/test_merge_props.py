"""Property tests of the chunk overlap merge: nothing duplicated, nothing lost, time ordered."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from app.services.jobs.chunking import ChunkTranscript, cut_points, merge_chunks, plan_chunks
from schemas.transcript import Segment, Word

VOCAB = ["the", "cat", "sat", "on", "a", "mat", "that", "is", "it", "go"]


@st.composite
def timeline(draw: st.DrawFn) -> list[Word]:
    count = draw(st.integers(5, 80))
    t = draw(st.floats(0.0, 1.0))
    words = []
    for _ in range(count):
        t += draw(st.floats(0.05, 0.8))  # gap before the word
        length = draw(st.floats(0.25, 0.6))
        words.append(
            Word(word=draw(st.sampled_from(VOCAB)), start=t, end=t + length, probability=0.9)
        )
        t += length
    return words


def heard_chunk(
    words: list[Word], start: float, end: float, jitter: list[float]
) -> ChunkTranscript:
    """What a recogniser hearing only [start, end] reports: overlapping words, times clamped."""
    heard = []
    for i, w in enumerate(words):
        if w.end <= start or w.start >= end:
            continue
        s = min(max(w.start + jitter[i], start), end)
        e = min(max(w.end + jitter[i], s), end)
        heard.append(w.model_copy(update={"start": s, "end": e}))
    segments = []
    for n in range(0, len(heard), 7):
        part = heard[n : n + 7]
        segments.append(
            Segment(
                id=len(segments),
                start=part[0].start,
                end=part[-1].end,
                text=" ".join(x.word for x in part),
                words=part,
            )
        )
    return ChunkTranscript(start, end, segments)


@settings(max_examples=150, deadline=None)
@given(
    words=timeline(),
    data=st.data(),
)
def test_merge_restores_the_original_words(words: list[Word], data: st.DataObject) -> None:
    duration = words[-1].end + 0.5
    n_cuts = data.draw(st.integers(1, 4))
    cuts = sorted(
        data.draw(
            st.lists(st.floats(0.5, duration - 0.5), min_size=n_cuts, max_size=n_cuts, unique=True)
        )
    )
    overlap = data.draw(st.floats(1.0, 2.0))
    bounds = [0.0, *cuts, duration]
    spans = [
        (
            max(0.0, bounds[i] - overlap / 2) if i else 0.0,
            min(duration, bounds[i + 1] + overlap / 2),
        )
        for i in range(len(bounds) - 1)
    ]
    chunks = []
    for span in spans:
        jitter = data.draw(
            st.lists(st.floats(-0.05, 0.05), min_size=len(words), max_size=len(words))
        )
        chunks.append(heard_chunk(words, *span, jitter))
    # overlapping cuts closer than the overlap are not what plan_chunks produces
    if any(b - a < overlap for a, b in itertools.pairwise(bounds)):
        return
    merged = merge_chunks(chunks)
    out = [w for s in merged for w in s.words or ()]
    assert [w.word for w in out] == [w.word for w in words]
    starts = [w.start for w in out]
    assert starts == sorted(starts)
    for seg in merged:
        assert seg.text == " ".join(w.word for w in seg.words or ())


@settings(max_examples=50, deadline=None)
@given(
    seconds=st.floats(20, 400),
    chunk_s=st.floats(10, 120),
    overlap_s=st.floats(0, 3),
    seed=st.integers(0, 2**16),
)
def test_plan_covers_the_audio_with_overlaps(
    seconds: float, chunk_s: float, overlap_s: float, seed: int
) -> None:
    rate = 1000
    samples = np.random.default_rng(seed).normal(0, 0.1, int(seconds * rate)).astype(np.float32)
    spans = plan_chunks(samples, rate, chunk_s=chunk_s, overlap_s=overlap_s)
    assert spans[0][0] == 0.0
    assert abs(spans[-1][1] - len(samples) / rate) < 1e-6
    for (a0, a1), (b0, b1) in itertools.pairwise(spans):
        assert a0 < b0 <= a1 <= b1
        assert a1 - b0 <= overlap_s + 1e-6
    for s, e in spans:
        assert e - s <= chunk_s * 1.25 + overlap_s + 1e-6
    assert all(a < b for a, b in zip(cut_points(spans), cut_points(spans)[1:], strict=False))
