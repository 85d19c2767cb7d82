"""The diarization result every backend returns: a timeline of speaker turns."""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Turn:
    """``speaker`` talks from ``start`` to ``end`` (seconds). Turns of different speakers may
    overlap (overlapped speech).

    ``overlap``: a second voice heard under another speaker's turn (the built-in backend's
    overlap detector, :mod:`.overlap`). It counts as that speaker's speech in the timeline and
    in the transcript's list of overlapped spans, but words keep the speaker of the main turn
    there: the detector says *that* two people talk, not which of them said the word.
    """

    start: float
    end: float
    speaker: str
    overlap: bool = False

    @property
    def duration(self) -> float:
        return self.end - self.start


def speaker_label(index: int) -> str:
    """``A``, ``B``, ... (OpenAI's ``diarized_json`` convention), then ``S27``, ``S28``..."""
    letters = string.ascii_uppercase
    return letters[index] if index < len(letters) else f"S{index + 1}"


def relabel(turns: Iterable[Turn]) -> list[Turn]:
    """Turns sorted by start, speakers renamed ``A``, ``B``, ... by first appearance."""
    ordered = sorted(turns, key=lambda t: (t.start, t.end))
    names: dict[str, str] = {}
    for turn in ordered:
        names.setdefault(turn.speaker, speaker_label(len(names)))
    return [replace(t, speaker=names[t.speaker]) for t in ordered]


def merge_adjacent(turns: Iterable[Turn]) -> list[Turn]:
    """Join turns of one speaker (and one kind, main or overlap) that touch or overlap
    (silences between turns, where the VAD heard nothing, are kept)."""
    out: list[Turn] = []
    last: dict[tuple[str, bool], int] = {}  # (speaker, overlap) -> index of its latest turn
    for turn in sorted(turns, key=lambda t: (t.start, t.end)):
        key = (turn.speaker, turn.overlap)
        index = last.get(key)
        if index is not None and turn.start <= out[index].end:
            out[index] = replace(out[index], end=max(out[index].end, turn.end))
        else:
            last[key] = len(out)
            out.append(turn)
    return out


def overlapped_spans(turns: Iterable[Turn]) -> list[tuple[float, float, list[str]]]:
    """``(start, end, speakers)`` of every stretch where two or more speakers' turns (main or
    overlap) cover the same time, in time order; ``speakers`` sorted."""
    events: list[tuple[float, int, str]] = []
    for turn in turns:
        if turn.end > turn.start:
            events += [(turn.start, 1, turn.speaker), (turn.end, -1, turn.speaker)]
    events.sort(key=lambda e: (e[0], e[1]))  # at one instant, ends before starts
    active: dict[str, int] = {}
    spans: list[tuple[float, float, list[str]]] = []
    previous = 0.0
    for time, change, speaker in events:
        talking = sorted(k for k, v in active.items() if v > 0)
        if len(talking) >= 2 and time > previous:
            if spans and spans[-1][1] == previous and spans[-1][2] == talking:
                spans[-1] = (spans[-1][0], time, talking)
            else:
                spans.append((previous, time, talking))
        active[speaker] = active.get(speaker, 0) + change
        previous = time
    return spans
