"""From labelled windows to speaker turns with boundaries finer than a window.

Windows overlap (1.5 s long, 0.5 s apart), so a speaker change is seen by several windows. Each
``FRAME_S`` frame of speech is scored against every speaker centroid by the mean cosine
similarity of the windows that cover it, and goes to the best speaker; a turn change thus lands
where the windows' evidence switches, not on a window edge. Turns shorter than ``min_turn_s``
inside a speech region are given to the neighbour they resemble most (a turn that short is
more often a window straddling two voices than a real interjection). Frames outside the speech
regions stay unlabelled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from providers.diarization.timeline import Turn, speaker_label

FRAME_S = 0.05


def frame_scores(spans: np.ndarray, similarity: np.ndarray, frames: int) -> np.ndarray:
    """(frames, speakers): mean similarity of the windows covering each frame (NaN: none)."""
    speakers = similarity.shape[1]
    total = np.zeros((frames + 1, speakers))
    count = np.zeros(frames + 1)
    first = np.clip(np.floor(spans[:, 0] / FRAME_S).astype(int), 0, frames)
    last = np.clip(np.ceil(spans[:, 1] / FRAME_S).astype(int), 0, frames)
    np.add.at(total, first, similarity)
    np.add.at(total, last, -similarity)
    np.add.at(count, first, 1)
    np.add.at(count, last, -1)
    total, count = np.cumsum(total, axis=0)[:frames], np.cumsum(count)[:frames]
    with np.errstate(invalid="ignore", divide="ignore"):
        return total / count[:, None]


def _runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    """``(first, end, label)`` for each run of equal labels."""
    if len(labels) == 0:
        return []
    edges = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate(([0], edges))
    ends = np.concatenate((edges, [len(labels)]))
    return [(int(a), int(b), int(labels[a])) for a, b in zip(starts, ends, strict=True)]


def _absorb_short(labels: np.ndarray, scores: np.ndarray, min_frames: int) -> np.ndarray:
    """Relabel runs shorter than ``min_frames`` with the neighbouring run they score best for,
    shortest first, until none is left (or one run remains)."""
    labels = labels.copy()
    while True:
        runs = _runs(labels)
        short = [r for r in runs if r[1] - r[0] < min_frames]
        if len(runs) <= 1 or not short:
            return labels
        a, b, _ = min(short, key=lambda r: r[1] - r[0])
        index = runs.index(next(r for r in runs if r[0] == a))
        neighbours = {runs[i][2] for i in (index - 1, index + 1) if 0 <= i < len(runs)}
        labels[a:b] = max(neighbours, key=lambda k: float(np.nanmean(scores[a:b, k])))


def resegment(
    regions: Sequence[tuple[float, float]],
    spans: np.ndarray,
    similarity: np.ndarray,
    *,
    duration: float,
    min_turn_s: float,
) -> tuple[list[Turn], np.ndarray]:
    """Speaker turns inside ``regions``, one at a time, and the frame scores they were read
    from (speech frames no window covers filled from the nearest window, others NaN);
    ``similarity[i, k]``: window ``i`` vs speaker ``k``."""
    frames = int(np.ceil(duration / FRAME_S))
    scores = frame_scores(spans, similarity, frames)
    middles = spans.mean(axis=1)
    turns: list[Turn] = []
    min_frames = max(1, round(min_turn_s / FRAME_S))
    for start, end in regions:
        a, b = int(start / FRAME_S), max(int(start / FRAME_S) + 1, int(np.ceil(end / FRAME_S)))
        part = scores[a:b]
        uncovered = np.flatnonzero(np.isnan(part[:, 0]))
        if len(uncovered):  # speech frames no window reaches: the nearest window decides
            times = (a + uncovered + 0.5) * FRAME_S
            part[uncovered] = similarity[np.abs(times[:, None] - middles).argmin(axis=1)]
        labels = _absorb_short(np.argmax(part, axis=1), part, min_frames)
        for first, last, k in _runs(labels):
            turns.append(
                Turn(
                    max(start, (a + first) * FRAME_S),
                    min(end, (a + last) * FRAME_S),
                    speaker_label(k),
                )
            )
    return turns, scores
