"""Regular-expression rules of the custom vocabulary (``"re:PATTERN": "replacement"`` entries).

A rule is Python ``re`` syntax on ``str`` (Unicode-aware: ``\\w`` and ``\\b`` know Cyrillic,
Greek, CJK letters), case-sensitive unless the pattern says ``(?i)``; the replacement is a
template (``\\1``, ``\\g<name>``) inserted as written, without the case shaping of whole-word
entries. Python's ``re`` has no timeout, so a rule is refused up front when it could backtrack
catastrophically: a repeat inside a repeat (``(a+)+``) or an alternation inside an unbounded
repeat (``(a|ab)*``). Patterns are bounded in length and rules in number; a rule that can match
the empty string is refused (it would insert its replacement between every two characters).

Words stay consistent with the corrected text: a match is found on the segment's words joined by
single spaces, the words it touches become one word (first start, last end, lowest
probability) whose text is theirs with the replacement applied, and a word left empty is
dropped.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from schemas.transcript import Word

PREFIX = "re:"
MAX_PATTERN_CHARS = 200
MAX_RULES = 100
#: Python's own regex parser (untyped, private but stable since 3.11): the pattern's tree is
#: checked before it is compiled; it also exports the tree's node names
sre: Any = importlib.import_module("re._parser")
_REPEATS = (sre.MAX_REPEAT, sre.MIN_REPEAT, sre.POSSESSIVE_REPEAT)
_SPACES = re.compile(r"\s+")


class InvalidRule(ValueError):
    """A rule's pattern or replacement is refused; the message says why."""


def _nested_repeat(items: Any, inside_repeat: bool) -> str | None:
    """Why the parsed pattern ``items`` could backtrack catastrophically, or ``None``."""
    for op, arg in items:
        if op in _REPEATS:
            _low, high, body = arg
            if inside_repeat and high > 1:
                return "a repeat inside a repeat (e.g. '(a+)+') can take exponential time"
            reason = _nested_repeat(body, inside_repeat or high > 1)
            if reason is None and high == sre.MAXREPEAT and _has_branch(body):
                reason = "an alternation inside an unbounded repeat can take exponential time"
            if reason:
                return reason
        elif op is sre.SUBPATTERN:
            if reason := _nested_repeat(arg[-1], inside_repeat):
                return reason
        elif op in (sre.ASSERT, sre.ASSERT_NOT):
            if reason := _nested_repeat(arg[1], inside_repeat):
                return reason
        elif op is sre.BRANCH:
            for branch in arg[1]:
                if reason := _nested_repeat(branch, inside_repeat):
                    return reason
    return None


def _has_branch(items: Any) -> bool:
    for op, arg in items:
        if op is sre.BRANCH:
            return True
        if op is sre.SUBPATTERN and _has_branch(arg[-1]):
            return True
    return False


def compile_rule(pattern: str, replacement: str) -> re.Pattern[str]:
    """The compiled pattern; raises :class:`InvalidRule` for a pattern refused above."""
    if not pattern:
        raise InvalidRule("the pattern is empty")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise InvalidRule(f"the pattern is longer than {MAX_PATTERN_CHARS} characters")
    try:
        tree = sre.parse(pattern)
        compiled = re.compile(pattern)
    except re.error as exc:
        raise InvalidRule(f"not a valid regular expression: {exc}") from None
    if reason := _nested_repeat(tree, inside_repeat=False):
        raise InvalidRule(reason)
    if compiled.match("") is not None:
        raise InvalidRule("the pattern matches the empty string")
    try:
        compiled.sub(replacement, "")  # the template's group references are checked here
    except (re.error, IndexError) as exc:
        raise InvalidRule(f"invalid replacement: {exc}") from None
    return compiled


@dataclass(frozen=True)
class RegexRule:
    pattern: re.Pattern[str]
    replacement: str

    @classmethod
    def parse(cls, key: str, replacement: str) -> RegexRule:
        return cls(compile_rule(key[len(PREFIX) :], replacement), replacement)

    def _matches(self, text: str) -> Iterator[re.Match[str]]:
        return (m for m in self.pattern.finditer(text) if m.end() > m.start())

    def _substitute(self, text: str, start: int, end: int, matches: list[re.Match[str]]) -> str:
        """``text[start:end]`` with ``matches`` (all inside it) replaced."""
        out, cursor = [], start
        for m in matches:
            out += [text[cursor : m.start()], m.expand(self.replacement)]
            cursor = m.end()
        out.append(text[cursor:end])
        return _SPACES.sub(" ", "".join(out)).strip()

    def correct_text(self, text: str) -> str:
        matches = list(self._matches(text))
        return self._substitute(text, 0, len(text), matches) if matches else text

    def correct_words(self, words: list[Word]) -> list[Word]:
        joined, bounds = "", []
        for w in words:
            joined += " " if joined else ""
            bounds.append((len(joined), len(joined) + len(w.word)))
            joined += w.word
        # (first word, last word, matches) of each run of words that matches touch
        groups: list[tuple[int, int, list[re.Match[str]]]] = []
        for m in self._matches(joined):
            touched = [i for i, (ws, we) in enumerate(bounds) if ws <= m.end() and we >= m.start()]
            if not touched:
                continue
            first, last = touched[0], touched[-1]
            if groups and first <= groups[-1][1]:
                previous = groups.pop()
                groups.append((previous[0], max(last, previous[1]), [*previous[2], m]))
            else:
                groups.append((first, last, [m]))
        if not groups:
            return words
        out: list[Word] = []
        cursor = 0
        for first, last, matches in groups:
            out += words[cursor:first]
            text = self._substitute(joined, bounds[first][0], bounds[last][1], matches)
            if text:
                span = words[first : last + 1]
                out.append(
                    span[0].model_copy(
                        update={
                            "word": text,
                            "end": span[-1].end,
                            "probability": min(w.probability for w in span),
                        }
                    )
                )
            cursor = last + 1
        return out + words[cursor:]
