"""SRT/WebVTT read back as a player would, and checked against common subtitle rules."""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import pairwise

STAMP = r"(\d\d+):(\d\d):(\d\d)[,.](\d\d\d)"


@dataclass(frozen=True)
class ParsedCue:
    start: float
    end: float
    lines: list[str]


def _seconds(parts: tuple[str, ...]) -> float:
    h, m, s, ms = (int(g) for g in parts)
    return h * 3600 + m * 60 + s + ms / 1000


def parse_cues(body: str) -> list[ParsedCue]:
    """The cues of an SRT or WebVTT body (its ``WEBVTT`` header skipped)."""
    cues = []
    for block in re.split(r"\n\n+", body.removeprefix("WEBVTT").strip()):
        lines = block.split("\n")
        timing = next(i for i, line in enumerate(lines) if "-->" in line)
        start, end = (_seconds(m) for m in re.findall(STAMP, lines[timing]))
        cues.append(ParsedCue(start, end, lines[timing + 1 :]))
    return cues


def rule_violations(
    cues: list[ParsedCue], *, max_lines: int = 2, max_chars: int = 42, max_s: float = 7.0
) -> list[str]:
    """Each broken rule, described: lines per cue, characters per line (a single word longer
    than a line excepted), seconds per cue, cues overlapping the next."""
    found = []
    for n, cue in enumerate(cues, start=1):
        if not 1 <= len(cue.lines) <= max_lines:
            found.append(f"cue {n}: {len(cue.lines)} lines")
        found += [
            f"cue {n}: line of {len(line)} characters"
            for line in cue.lines
            if len(line) > max_chars and " " in line
        ]
        if not 0 <= cue.end - cue.start <= max_s + 1e-3:
            found.append(f"cue {n}: {cue.end - cue.start:.3f} s")
    for n, (cue, following) in enumerate(pairwise(cues), start=1):
        if cue.end > following.start + 1e-3:
            found.append(f"cue {n} overlaps cue {n + 1}")
    return found


def cue_text(cues: list[ParsedCue]) -> str:
    return " ".join(" ".join(cue.lines) for cue in cues)
