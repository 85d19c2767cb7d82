"""The batched pipeline's clip plan: lazy VAD pieces and growing batches (no model needed)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from providers.base import SAMPLE_RATE
from providers.faster_whisper.speech_clips import (
    FIRST_PIECE_S,
    PIECE_S,
    _pieces,
    clip_batches,
    group_clips,
)


@given(st.integers(0, 3 * PIECE_S * SAMPLE_RATE))
def test_vad_pieces_cover_the_audio_once_short_one_first(total: int) -> None:
    pieces = list(_pieces(total))
    if not total:
        assert pieces == []
        return
    starts = itertools.accumulate([0] + [length for _, length in pieces[:-1]])
    assert [offset for offset, _ in pieces] == list(starts)
    assert sum(length for _, length in pieces) >= total > pieces[-1][0]
    assert pieces[0][1] <= FIRST_PIECE_S * SAMPLE_RATE
    assert all(length <= PIECE_S * SAMPLE_RATE for _, length in pieces)


@given(st.integers(0, 100), st.integers(1, 16), st.booleans())
def test_clip_batches_are_full_but_perhaps_the_first_and_last(
    count: int, batch_size: int, first_alone: bool
) -> None:
    clips = [{"start": float(i), "end": i + 0.5} for i in range(count)]
    batches = list(clip_batches(iter(clips), batch_size, first_alone=first_alone))
    assert [c for batch in batches for c in batch] == clips
    sizes = [len(b) for b in batches]
    if first_alone and sizes:
        assert sizes[0] == 1
        sizes = sizes[1:]
    assert all(size == batch_size for size in sizes[:-1])
    assert not sizes or 1 <= sizes[-1] <= batch_size


def test_clips_are_found_lazily() -> None:
    """The first clip is out before later spans are even looked at (SSE's first delta)."""
    looked: list[int] = []

    def spans():  # type: ignore[no-untyped-def]
        for i in range(10):
            looked.append(i)
            yield (i * 40 * SAMPLE_RATE, (i * 40 + 20) * SAMPLE_RATE)

    first = next(group_clips(spans(), 30.0))
    assert first == {"start": 0.0, "end": 20.0}
    assert looked == [0, 1]
