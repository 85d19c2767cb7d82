"""Cut a transcript (and, when reducing, partial notes) into parts that fit a token budget.

Tokens are estimated, not counted: one token per 4 bytes of UTF-8, rounded up. That is about
right for English (4 characters a token), errs towards more tokens for other Latin-script
languages and is close for CJK (3 bytes a character, about one token), so a part estimated to
fit also fits the chat model's own tokenizer in practice; ``STT_SUMMARY_CONTEXT_TOKENS`` should
still be set somewhat under the model's real window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from schemas.transcript import Transcript

BYTES_PER_TOKEN = 4


def estimate_tokens(text: str) -> int:
    return -(-len(text.encode("utf-8")) // BYTES_PER_TOKEN)


def truncate(text: str, tokens: int) -> str:
    """``text`` cut to at most ``tokens`` estimated tokens (at a character boundary)."""
    data = text.encode("utf-8")
    if len(data) <= tokens * BYTES_PER_TOKEN:
        return text
    return data[: tokens * BYTES_PER_TOKEN].decode("utf-8", errors="ignore")


def clock(seconds: float) -> str:
    total = int(seconds)
    return f"{total // 3600:d}:{total // 60 % 60:02d}:{total % 60:02d}"


def transcript_lines(transcript: Transcript) -> list[str]:
    """One line a segment: ``[h:mm:ss] SPEAKER: text`` (the speaker only when diarized)."""
    return [
        f"[{clock(s.start)}] {s.speaker + ': ' if s.speaker else ''}{s.text}"
        for s in transcript.segments
    ]


def _pieces(item: str, budget: int) -> Iterable[str]:
    """``item``, or its words regrouped into pieces of at most ``budget`` tokens."""
    if estimate_tokens(item) <= budget:
        yield item
        return
    current = ""
    for word in item.split():
        word = truncate(word, budget)  # a "word" longer than a whole part: cut
        candidate = f"{current} {word}" if current else word
        if current and estimate_tokens(candidate) > budget:
            yield current
            current = word
        else:
            current = candidate
    if current:
        yield current


def pack(items: Sequence[str], budget: int, separator: str = "\n") -> list[str]:
    """Consecutive ``items`` joined by ``separator`` into as few parts as fit ``budget`` tokens
    each, in order; an item over the budget on its own is split at spaces first."""
    limit = budget * BYTES_PER_TOKEN
    gap = len(separator.encode("utf-8"))
    parts: list[str] = []
    current: list[str] = []
    size = 0  # UTF-8 bytes of separator.join(current)
    for item in items:
        for piece in _pieces(item, budget):
            length = len(piece.encode("utf-8"))
            if current and size + gap + length > limit:
                parts.append(separator.join(current))
                current, size = [], 0
            size += length + (gap if current else 0)
            current.append(piece)
    if current:
        parts.append(separator.join(current))
    return parts
