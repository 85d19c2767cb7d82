"""Split long recordings at silences, and merge chunk transcripts back into one timeline.

Planning: every ``chunk_s`` seconds (searching the last quarter of each window) the quietest
stretch of audio is chosen as a cut; chunk ``i`` spans from ``overlap_s / 2`` before its first
cut to ``overlap_s / 2`` after its second, so a word near a cut is heard whole by both chunks.

Merging (word timestamps on the original timeline): the left chunk keeps words whose midpoint is
before the cut; the right chunk keeps words from ``tolerance_s`` before the cut on; the right
chunk's head is then aligned with the left chunk's tail and repeated words are dropped (the
alignment with matching words and the closest timestamps wins). Right-chunk words still left
before the cut survive only if they start after the left chunk's last word (fragments of a word
the left chunk heard whole, such as "harbour" heard as "Gerber", are dropped). So nothing is
duplicated or lost when the two chunks disagree slightly about where a word sits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from app.services.transcription.frames import frame_power
from schemas.transcript import Segment, Word

FRAME_S = 0.02
QUIET_WINDOW_S = 0.3
DEDUP_TOLERANCE_S = 0.4
MAX_ALIGN_WORDS = 12
FRAGMENT_SLACK_S = 0.1


def plan_chunks(
    samples: np.ndarray, sample_rate: int, *, chunk_s: float, overlap_s: float
) -> list[tuple[float, float]]:
    """Chunk spans ``(start, end)`` in seconds; one span when the audio is short enough."""
    duration = len(samples) / sample_rate
    if duration <= chunk_s * 1.25:
        return [(0.0, duration)]
    energy = _smoothed_energy(samples, sample_rate)
    cuts: list[float] = []
    position = 0.0
    while duration - position > chunk_s * 1.25:
        hi = position + chunk_s
        lo = hi - chunk_s * 0.25
        first, last = int(lo / FRAME_S), max(int(lo / FRAME_S) + 1, int(hi / FRAME_S))
        quietest = first + int(np.argmin(energy[first:last]))
        cut = (quietest + 0.5) * FRAME_S
        cuts.append(cut)
        position = cut
    bounds = [0.0, *cuts, duration]
    half = overlap_s / 2
    return [
        (max(0.0, bounds[i] - half if i else 0.0), min(duration, bounds[i + 1] + half))
        for i in range(len(bounds) - 1)
    ]


def _smoothed_energy(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    rms = np.sqrt(frame_power(samples, int(FRAME_S * sample_rate), sample_rate) + 1e-12)
    width = max(1, int(QUIET_WINDOW_S / FRAME_S))
    return np.convolve(rms, np.ones(width) / width, mode="same")


def cut_points(spans: Sequence[tuple[float, float]]) -> list[float]:
    """Where one chunk hands over to the next: the middle of each overlap."""
    return [(spans[i + 1][0] + spans[i][1]) / 2 for i in range(len(spans) - 1)]


@dataclass(frozen=True)
class ChunkTranscript:
    """A chunk's span and its segments, timestamps already on the original timeline."""

    start: float
    end: float
    segments: list[Segment]


def shift_segments(segments: Sequence[Segment], offset: float) -> list[Segment]:
    out = []
    for seg in segments:
        words = None
        if seg.words is not None:
            words = [
                w.model_copy(update={"start": w.start + offset, "end": w.end + offset})
                for w in seg.words
            ]
        out.append(
            seg.model_copy(
                update={"start": seg.start + offset, "end": seg.end + offset, "words": words}
            )
        )
    return out


def _key(word: Word) -> str:
    return re.sub(r"[^\w']", "", word.word.lower())


def _mid(start: float, end: float) -> float:
    return (start + end) / 2


def _overlap_len(left: list[Word], right: list[Word], tolerance: float) -> int:
    """How many words at the head of ``right`` repeat the tail of ``left``."""
    best, best_error = 0, tolerance
    for k in range(1, min(len(left), len(right), MAX_ALIGN_WORDS) + 1):
        pairs = zip(left[-k:], right[:k], strict=True)
        errors = []
        for a, b in pairs:
            if _key(a) != _key(b):
                break
            errors.append(abs(_mid(a.start, a.end) - _mid(b.start, b.end)))
        else:
            error = max(errors)
            if error <= best_error:
                best, best_error = k, error
    return best


def _words(segments: Sequence[Segment]) -> list[tuple[int, Word]]:
    """Words tagged with their segment index; segments without words become one pseudo-word."""
    out: list[tuple[int, Word]] = []
    for i, seg in enumerate(segments):
        if seg.words:
            out.extend((i, w) for w in seg.words)
        else:
            out.append((i, Word(word=seg.text, start=seg.start, end=seg.end, probability=1.0)))
    return out


def merge_chunks(
    chunks: Sequence[ChunkTranscript], *, tolerance_s: float = DEDUP_TOLERANCE_S
) -> list[Segment]:
    """One list of segments from overlapping chunks (see the module docstring)."""
    merger = ChunkMerger([(c.start, c.end) for c in chunks], tolerance_s=tolerance_s)
    return [seg for chunk in chunks for seg in merger.add(chunk.segments)]


class ChunkMerger:
    """The overlap merge one chunk at a time, in audio order, for a known plan of ``spans``.

    :meth:`add` returns the chunk's part of the merged transcript. A part depends only on the
    plan and the chunks added so far: later chunks add segments after it and never change it,
    so a part is final as soon as its chunk is done (the job event stream sends it then).
    """

    def __init__(
        self, spans: Sequence[tuple[float, float]], *, tolerance_s: float = DEDUP_TOLERANCE_S
    ) -> None:
        self._cuts = cut_points(spans)
        self._tolerance = tolerance_s
        self._tail: list[Word] = []  # the previous chunk's last kept words, for alignment
        self._cursor = float("-inf")  # the last word start so far (timestamps stay monotonic)
        self.count = 0

    def add(self, segments: Sequence[Segment]) -> list[Segment]:
        i, cuts, tolerance = self.count, self._cuts, self._tolerance
        self.count += 1
        if not cuts:  # a plan of one chunk: nothing to merge
            return list(segments)
        lo = cuts[i - 1] - tolerance if i else float("-inf")
        hi = cuts[i] if i < len(cuts) else float("inf")
        kept = [(s, w) for s, w in _words(segments) if lo <= _mid(w.start, w.end) < hi]
        if i:
            tail = self._tail
            kept = kept[_overlap_len(tail, [w for _, w in kept], tolerance) :]
            # before the cut, the left chunk's words win: a right-chunk word there survives only
            # if it starts after everything the left chunk kept (it was dropped on that side)
            left_end = tail[-1].end - FRAGMENT_SLACK_S if tail else float("-inf")
            kept = [
                (s, w) for s, w in kept if _mid(w.start, w.end) >= cuts[i - 1] or w.start > left_end
            ]
        by_segment: dict[int, list[Word]] = {}
        for s, w in kept:
            by_segment.setdefault(s, []).append(w)
        self._tail = [w for _, w in kept][-MAX_ALIGN_WORDS:]
        return [self._monotonic(_rebuild(segments[s], words)) for s, words in by_segment.items()]

    def _monotonic(self, seg: Segment) -> Segment:
        """Nudge word starts that two chunks placed slightly out of order (tens of ms)."""
        if not seg.words:
            return seg
        words = []
        for w in seg.words:
            start = max(w.start, self._cursor)
            words.append(w.model_copy(update={"start": start, "end": max(w.end, start)}))
            self._cursor = start
        return seg.model_copy(update={"words": words, "start": max(seg.start, words[0].start)})


def _rebuild(segment: Segment, words: list[Word]) -> Segment:
    if not segment.words:  # a word-less segment travelled as one pseudo-word
        return segment
    return segment.model_copy(
        update={
            "start": words[0].start,
            "end": max(words[-1].end, words[0].start),
            "text": " ".join(w.word for w in words),
            "words": words,
            "tokens": None,
        }
    )
