"""The diarization result every backend returns: a timeline of speaker turns."""

from __future__ import annotations

import string
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Turn:
    """``speaker`` talks from ``start`` to ``end`` (seconds). Turns of different speakers may
    overlap (overlapped speech); a backend that cannot tell overlap gives one speaker at a time."""

    start: float
    end: float
    speaker: str

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
    return [Turn(t.start, t.end, names[t.speaker]) for t in ordered]


def merge_adjacent(turns: Iterable[Turn]) -> list[Turn]:
    """Join consecutive turns of one speaker that touch or overlap (silences between turns,
    where the VAD heard nothing, are kept)."""
    out: list[Turn] = []
    for turn in sorted(turns, key=lambda t: (t.start, t.end)):
        last = out[-1] if out else None
        if last is not None and last.speaker == turn.speaker and turn.start <= last.end:
            out[-1] = Turn(last.start, max(last.end, turn.end), last.speaker)
        else:
            out.append(turn)
    return out
