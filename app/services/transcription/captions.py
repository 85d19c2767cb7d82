"""Subtitle cues (SRT, WebVTT) from a transcript, by common subtitle rules.

A transcript segment is a sentence or a stretch of speech between pauses; a cue is what fits on
screen. Each segment's words are laid into cues of at most ``max_lines`` lines of at most
``max_line_chars`` characters, shown for at most ``max_cue_s`` seconds (the usual broadcast
rules: two lines of 42 characters, seven seconds). A cue never spans two segments or two
speakers, ends before the next cue starts, and its lines are balanced. A cue whose segment was
diarized names its speaker (SRT: ``[A] text``, the usual SRT way, counted in the line length;
WebVTT: a ``<v A>`` voice span, which players do not show as text).

Word timings come from the transcript. For a segment without them (a provider that gives none),
the segment's time is shared among its words by their length: an estimate, documented as such.
A single word longer than a line gets a line of its own.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.config import Settings
from schemas.transcript import Segment, Transcript, Word


@dataclass(frozen=True)
class CaptionRules:
    max_lines: int = 2
    max_line_chars: int = 42
    max_cue_s: float = 7.0

    @classmethod
    def from_settings(cls, settings: Settings) -> CaptionRules:
        return cls(
            max_lines=settings.caption_max_lines,
            max_line_chars=settings.caption_max_line_chars,
            max_cue_s=settings.caption_max_cue_s,
        )


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]
    speaker: str | None = None


def wrap(tokens: Sequence[str], width: int, separator: str = " ") -> list[str]:
    """Greedy line filling: as many tokens per line as fit in ``width`` characters."""
    lines: list[str] = []
    line = ""
    for token in tokens:
        candidate = f"{line}{separator}{token}" if line else token
        if line and len(candidate) > width:
            lines.append(line)
            line = token
        else:
            line = candidate
    if line:
        lines.append(line)
    return lines


def balanced(tokens: Sequence[str], rules: CaptionRules, separator: str = " ") -> list[str] | None:
    """``tokens`` in as few lines as they fit in (at most ``max_lines``), those lines as even
    as possible; ``None`` if they do not fit."""
    count = len(wrap(tokens, rules.max_line_chars, separator))
    if count > rules.max_lines:
        return None
    total = len(separator.join(tokens))
    for width in range(max(1, math.ceil(total / count)), rules.max_line_chars + 1):
        lines = wrap(tokens, width, separator)
        if len(lines) <= count:
            return lines
    return wrap(tokens, rules.max_line_chars, separator)


def estimated_words(segment: Segment) -> list[Word]:
    """Word timings shared out by length over a segment that has none (an estimate)."""
    texts = segment.text.split()
    if not texts:
        return []
    span = max(segment.end - segment.start, 0.0)
    weights = [len(t) + 1 for t in texts]
    total = sum(weights)
    words, cursor = [], segment.start
    for text, weight in zip(texts, weights, strict=True):
        end = cursor + span * weight / total
        words.append(Word(word=text, start=cursor, end=end, probability=1.0))
        cursor = end
    return words


def _separator(segment: Segment) -> str:
    """Scripts written without spaces (Chinese, Japanese, Thai) join words without one."""
    return " " if " " in segment.text.strip() or not segment.words else ""


def _segment_cues(segment: Segment, rules: CaptionRules, labelled: bool) -> list[Cue]:
    words = segment.words or estimated_words(segment)
    separator = _separator(segment)
    cues: list[Cue] = []
    group: list[Word] = []

    def speaker_of(group: list[Word]) -> str | None:
        return group[0].speaker or segment.speaker

    def tokens(group: list[Word]) -> list[str]:
        texts = [w.word for w in group]
        speaker = speaker_of(group)
        if labelled and speaker:
            texts[0] = f"[{speaker}] {texts[0]}"
        return texts

    def flush() -> None:
        if not group:
            return
        lines = balanced(tokens(group), rules, separator) or wrap(
            tokens(group), rules.max_line_chars, separator
        )
        end = min(group[-1].end, group[0].start + rules.max_cue_s)
        cues.append(Cue(group[0].start, max(end, group[0].start), tuple(lines), speaker_of(group)))
        group.clear()

    for word in words:
        if group:
            candidate = [*group, word]
            changes_speaker = (word.speaker or segment.speaker) != speaker_of(group)
            too_long = word.end - group[0].start > rules.max_cue_s
            if changes_speaker or too_long or balanced(tokens(candidate), rules, separator) is None:
                flush()
        group.append(word)
    flush()
    return cues


def cues(transcript: Transcript, rules: CaptionRules, *, speaker_prefix: bool = True) -> list[Cue]:
    """Every segment's cues, in time order, none overlapping the next.

    ``speaker_prefix``: write ``[A] `` before a diarized cue's text (SRT); WebVTT names the
    speaker with a voice span instead.
    """
    out: list[Cue] = []
    for segment in transcript.segments:
        for cue in _segment_cues(segment, rules, speaker_prefix):
            if out and cue.start < out[-1].start:  # overlapping segments: keep order in time
                cue = Cue(out[-1].start, max(cue.end, out[-1].start), cue.lines, cue.speaker)
            out.append(cue)
    for i in range(len(out) - 1):
        cue = out[i]
        if cue.end > out[i + 1].start:
            out[i] = Cue(cue.start, out[i + 1].start, cue.lines, cue.speaker)
    return out
