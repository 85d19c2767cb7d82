"""Overlapped speech in the built-in backend: the detector at speaker changes and the timeline
helpers that carry overlap turns (no audio, no models: synthetic frame scores and turns)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.diarization.overlap import second_voices
from providers.diarization.timeline import Turn, merge_adjacent, overlapped_spans, relabel

FRAME = 0.05


def _scores(*runs: tuple[int, float, float]) -> np.ndarray:
    """Frame scores of speakers A and B: ``(frames, score A, score B)`` runs back to back."""
    return np.concatenate([np.tile([a, b], (n, 1)) for n, a, b in runs])


def test_a_sharp_change_has_no_overlap_and_a_blurred_one_extends_both_voices() -> None:
    turns = [Turn(0.0, 2.0, "A"), Turn(2.0, 4.0, "B")]
    sharp = _scores((40, 0.9, 0.3), (40, 0.3, 0.9))
    assert second_voices(turns, sharp, frame_s=FRAME, margin=0.1, max_s=2.0) == []
    # both voices heard 0.5 s before and 0.25 s after the change: A's score within the margin
    blurred = _scores((30, 0.9, 0.3), (10, 0.75, 0.7), (5, 0.7, 0.75), (35, 0.3, 0.9))
    found = second_voices(turns, blurred, frame_s=FRAME, margin=0.1, max_s=2.0)
    assert [(round(t.start, 2), round(t.end, 2), t.speaker, t.overlap) for t in found] == [
        (2.0, 2.25, "A", True),
        (1.5, 2.0, "B", True),
    ]
    capped = second_voices(turns, blurred, frame_s=FRAME, margin=0.1, max_s=0.1)
    assert [(round(t.start, 2), round(t.end, 2)) for t in capped] == [(2.0, 2.1), (1.9, 2.0)]
    # a blur no longer than min_s is what windows straddling a clean change produce: dropped
    longer = second_voices(turns, blurred, frame_s=FRAME, margin=0.1, max_s=2.0, min_s=0.25)
    assert [(round(t.start, 2), round(t.end, 2), t.speaker) for t in longer] == [(1.5, 2.0, "B")]


def test_no_overlap_across_a_pause_or_between_turns_of_one_speaker() -> None:
    flat = _scores((80, 0.8, 0.8))  # indistinguishable voices everywhere
    paused = [Turn(0.0, 1.5, "A"), Turn(2.0, 4.0, "B")]
    assert second_voices(paused, flat, frame_s=FRAME, margin=0.1, max_s=2.0) == []
    same = [Turn(0.0, 2.0, "A"), Turn(2.0, 4.0, "A")]
    assert second_voices(same, flat, frame_s=FRAME, margin=0.1, max_s=2.0) == []
    unscored = np.full((80, 2), np.nan)  # frames no window covers say nothing
    touching = [Turn(0.0, 2.0, "A"), Turn(2.0, 4.0, "B")]
    assert second_voices(touching, unscored, frame_s=FRAME, margin=0.1, max_s=2.0) == []


def test_an_interjection_inside_a_turn_leaves_the_main_voice_running_under_it() -> None:
    turns = [Turn(0.0, 2.0, "A"), Turn(2.0, 2.5, "B"), Turn(2.5, 4.0, "A")]
    # A stays within the margin all through B's short turn: A was never silent
    scores = _scores((40, 0.9, 0.3), (10, 0.72, 0.8), (30, 0.9, 0.3))
    found = second_voices(turns, scores, frame_s=FRAME, margin=0.1, max_s=2.0)
    merged = merge_adjacent([*turns, *found])
    under = [(round(t.start, 2), round(t.end, 2)) for t in merged if t.overlap and t.speaker == "A"]
    assert under == [(2.0, 2.5)]
    assert overlapped_spans(merged) == [(2.0, 2.5, ["A", "B"])]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 30), st.integers(0, 2)), min_size=1, max_size=12),
    st.floats(0.0, 0.5),
    st.floats(0.0, 3.0),
    st.floats(0.0, 1.0),
    st.integers(0, 2**31 - 1),
)
def test_overlap_turns_stay_inside_the_neighbouring_turn_and_the_limits(
    runs: list[tuple[int, int]], margin: float, max_s: float, min_s: float, seed: int
) -> None:
    turns, cursor = [], 0
    for frames, speaker in runs:
        turns.append(Turn(cursor * FRAME, (cursor + frames) * FRAME, "ABC"[speaker]))
        cursor += frames
    turns = merge_adjacent(turns)
    scores = np.random.default_rng(seed).random((cursor, 3))
    found = second_voices(turns, scores, frame_s=FRAME, margin=margin, max_s=max_s, min_s=min_s)
    main = {(t.start, t.end): t.speaker for t in turns}
    for extra in found:
        assert extra.overlap and extra.end > extra.start
        assert min_s < extra.duration <= max_s + 1e-9
        host = [t for t in turns if t.start - 1e-9 <= extra.start and extra.end <= t.end + 1e-9]
        assert len(host) == 1 and main[(host[0].start, host[0].end)] != extra.speaker
        assert extra.start in {t.end for t in turns} or extra.end in {t.start for t in turns}


def test_timeline_helpers_keep_overlap_turns_apart_from_main_turns() -> None:
    turns = [
        Turn(2.0, 3.0, "x"),
        Turn(0.0, 2.0, "y"),
        Turn(2.0, 2.4, "y", overlap=True),
        Turn(2.4, 2.6, "y", overlap=True),
        Turn(3.0, 4.0, "y"),
    ]
    merged = merge_adjacent(turns)
    assert [(t.start, t.end, t.speaker, t.overlap) for t in merged] == [
        (0.0, 2.0, "y", False),
        (2.0, 2.6, "y", True),
        (2.0, 3.0, "x", False),
        (3.0, 4.0, "y", False),
    ]
    named = relabel(merged)
    assert [(t.speaker, t.overlap) for t in named] == [
        ("A", False),
        ("A", True),
        ("B", False),
        ("A", False),
    ]
    assert overlapped_spans(named) == [(2.0, 2.6, ["A", "B"])]
    assert overlapped_spans([Turn(0.0, 1.0, "A"), Turn(1.0, 2.0, "B")]) == []
    three = [Turn(0.0, 3.0, "A"), Turn(1.0, 2.0, "B"), Turn(1.5, 2.5, "C")]
    assert overlapped_spans(three) == [
        (1.0, 1.5, ["A", "B"]),
        (1.5, 2.0, ["A", "B", "C"]),
        (2.0, 2.5, ["A", "C"]),
    ]
