"""Sentence- and pause-bounded segments from word timings.

Whisper's batched pipeline decodes 30-second VAD clips without timestamp tokens (asking for
them cost 0.024 WER on the 5-minute benchmark clip with tiny.en), so each clip comes back as
one ~27-second "segment": a useless caption. With word timings on, :func:`resegment` cuts every
segment again where a reader expects a break:

* after a word that ends a sentence (``.``, ``?``, ``!`` and their CJK forms), once the piece
  is at least ``min_s`` long;
* at a pause of at least ``pause_s`` between two words, once the piece is at least ``min_s``;
* before a piece would exceed ``max_s``: at the latest clause end (``,``, ``;``, ``:``) or
  else the widest gap between words in the piece's second half.

Start and end times are the first and last word's; text is the words' text, so segments,
their words and the transcript's text stay consistent. Segments without words, and segments
that need no cut, pass unchanged; a piece's ``tokens`` are its text re-tokenized (``tokenize``,
the engine's tokenizer), since a parent's decoded tokens cannot be apportioned to its pieces.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from schemas.transcript import Segment, Word

SENTENCE_END = (".", "?", "!", "。", "？", "！", "…")
CLAUSE_END = (",", ";", ":", "，", "；", "、")


@dataclass(frozen=True)
class SegmentRules:
    max_s: float = 15.0
    pause_s: float = 0.8
    min_s: float = 1.0


def _ends(word: Word, marks: tuple[str, ...]) -> bool:
    return word.word.rstrip().rstrip("\"')]}”’»").endswith(marks)


def _piece(parent: Segment, words: Sequence[Word]) -> Segment:
    return parent.model_copy(
        update={
            "start": words[0].start,
            "end": max(words[-1].end, words[0].start),
            "text": "".join(w.word for w in words).strip(),
            "words": list(words),
            "tokens": None,
        }
    )


def _overflow_cut(words: Sequence[Word]) -> int:
    """Where to cut ``words`` (which ran past ``max_s``): the index the second piece starts at."""
    half = max(1, len(words) // 2)
    for i in range(len(words) - 1, half - 1, -1):
        if _ends(words[i - 1], CLAUSE_END):
            return i
    gaps = [(words[i].start - words[i - 1].end, i) for i in range(half, len(words))]
    return max(gaps)[1] if gaps else len(words)


def split_segment(segment: Segment, rules: SegmentRules) -> list[Segment]:
    """``segment`` cut at sentence ends, pauses and ``max_s`` (see the module docstring)."""
    words = segment.words
    if not words:
        return [segment]
    pieces: list[Segment] = []
    current: list[Word] = []
    for i, word in enumerate(words):
        while current and word.end - current[0].start > rules.max_s:
            cut = _overflow_cut(current)
            pieces.append(_piece(segment, current[:cut]))
            current = current[cut:]
        current.append(word)
        length = word.end - current[0].start
        following = words[i + 1] if i + 1 < len(words) else None
        pause = following is not None and following.start - word.end >= rules.pause_s
        if following is not None and length >= rules.min_s and (
            _ends(word, SENTENCE_END) or pause
        ):
            pieces.append(_piece(segment, current))
            current = []
    if not pieces:
        return [segment]  # no cut: the engine's own segment, its tokens included
    if current:
        pieces.append(_piece(segment, current))
    return pieces


def resegment(
    segments: Iterable[Segment],
    rules: SegmentRules,
    tokenize: Callable[[str], list[int]] | None = None,
) -> Iterator[Segment]:
    """Lazily split each segment; ids are renumbered in order."""
    index = 0
    for segment in segments:
        pieces = split_segment(segment, rules)
        for piece in pieces:
            update: dict[str, object] = {"id": index}
            if len(pieces) > 1 and tokenize is not None:
                update["tokens"] = tokenize(piece.text)
            yield piece.model_copy(update=update)
            index += 1


def without_words(segments: Iterable[Segment]) -> Iterator[Segment]:
    """Drop word timings that were computed only to place segment boundaries."""
    for segment in segments:
        yield segment.model_copy(update={"words": None})
