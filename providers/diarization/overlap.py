"""Overlapped speech at speaker changes: where the previous voice is still heard under the next.

The built-in pipeline gives each frame to one speaker (:mod:`.resegment`). In meetings the next
speaker very often starts before the previous one has finished, and a listener's interjection
("yes, but...") runs under the main speaker's turn. At such a change the windows covering the
frames hear both voices, so the frame scores of the two speakers stay close for a while on
each side of the boundary instead of crossing sharply, as they do when one voice stops and the
other starts.

So, at every change from speaker ``a`` to speaker ``b`` with no pause between them, ``a`` is
extended into ``b``'s turn over the frames where ``a``'s score stays within ``margin`` of
``b``'s (and ``b`` back into ``a``'s turn likewise), at most ``max_s`` each way. An extension
no longer than ``min_s`` is dropped: windows straddling a clean change (one voice stops, the
other starts) blur it by about a quarter of a second on each side, which is no evidence of a
second voice (measured on back-to-back espeak voices, Docs/Diarization.md). The extensions
become :class:`~.timeline.Turn` objects with ``overlap=True``: scored as that speaker's speech,
listed as overlapped speech on the transcript, while words keep the main speaker. A short turn
of ``b`` inside ``a``'s speech is covered from both sides, so ``a`` runs on under ``b`` when its
voice is heard there throughout.

Measured on the meeting excerpts (Docs/Diarization.md): 81 % of the time it marks lies in the
reference's overlapped speech, and the added speaker is one of the talkers there 78 % of the
time; pooled DER drops by 0.02. Overlap away from a speaker change is not sought: there the
cosine scores separate overlapped from single-voice frames only weakly (the second-best
speaker's score: AUC 0.69), too weakly to gain.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

from providers.diarization.timeline import Turn, speaker_label


def _reach(
    scores: np.ndarray, first: int, stop: int, step: int, own: int, other: int, margin: float
) -> int:
    """How many frames from ``first`` towards ``stop`` (exclusive) keep ``own``'s score within
    ``margin`` of ``other``'s, contiguously (a frame without a score ends the run)."""
    count = 0
    for frame in range(first, stop, step):
        if not scores[frame, own] >= scores[frame, other] - margin:  # NaN ends it too
            break
        count += 1
    return count


def second_voices(
    turns: Sequence[Turn],
    scores: np.ndarray,
    *,
    frame_s: float,
    margin: float,
    max_s: float,
    min_s: float = 0.0,
) -> list[Turn]:
    """Overlap turns at the changes between consecutive ``turns`` that touch.

    ``turns``: one speaker at a time, sorted, speakers named ``speaker_label(k)`` for column
    ``k`` of ``scores`` (frames x speakers, each frame ``frame_s`` long).
    """
    column = {speaker_label(k): k for k in range(scores.shape[1])}
    limit = max(0, int(max_s / frame_s + 1e-9))
    frames = len(scores)
    out: list[Turn] = []
    shortest = max(0, int(min_s / frame_s + 1e-9))  # frames an extension must exceed
    for left, right in pairwise(turns):
        if left.speaker == right.speaker or abs(right.start - left.end) > frame_s / 2:
            continue
        a, b = column[left.speaker], column[right.speaker]
        edge = min(frames, round(left.end / frame_s))
        # a runs on into b's turn; b starts early, inside a's turn
        ahead = min(limit, max(0, round(right.end / frame_s) - edge))
        count = _reach(scores, edge, min(frames, edge + ahead), 1, a, b, margin)
        if count > shortest:
            out.append(Turn(left.end, min(right.end, (edge + count) * frame_s), left.speaker, True))
        behind = min(limit, max(0, edge - round(left.start / frame_s)))
        count = _reach(scores, edge - 1, edge - 1 - behind, -1, b, a, margin)
        if count > shortest:
            start = max(left.start, (edge - count) * frame_s)
            out.append(Turn(start, right.start, right.speaker, True))
    return out
