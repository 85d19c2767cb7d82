"""Custom vocabulary: a post-correction dictionary applied to transcripts.

Entries map what the model writes to what it should write (``{"cube control": "kubectl",
"Acme Corp": "ACME Corp."}``). Matching is

* whole-word: ``"cube"`` never matches inside ``"cubes"``; an entry of several words matches
  those words separated by any white space (and, for word lists, across word boundaries);
* case-aware: an all-lower-case entry matches any capitalisation; an entry with capitals
  matches only that exact spelling;
* case-preserving for plain replacements: an all-lower-case replacement takes the matched
  text's shape (``Colour`` -> ``Color``, ``COLOUR`` -> ``COLOR``); a replacement with capitals
  is inserted as written (product names).

Longer entries win over shorter ones. Keys written ``"re:PATTERN"`` are regular-expression rules
(:mod:`app.services.vocabulary_regex`), applied after the whole-word entries in the order
written. Deployment entries (``STT_VOCABULARY`` /
``STT_VOCABULARY_FILE``) merge with a request's own (``vocabulary`` form field), the request's
winning on the same key. Segment texts, words and the transcript text are corrected alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from app.core.json_input import loads
from app.services.vocabulary_regex import MAX_RULES, PREFIX, InvalidRule, RegexRule
from schemas.errors import InvalidRequest
from schemas.languages import normalise_language
from schemas.transcript import TimedSegment, Transcript, Word, join_text

S = TypeVar("S", bound=TimedSegment)

MAX_ENTRIES = 1000
_EDGE = re.compile(r"^(\W*)(.*?)(\W*)$", re.DOTALL)


def _shape(replacement: str, matched: str) -> str:
    if replacement != replacement.lower():
        return replacement
    if matched.isupper() and len(matched) > 1:
        return replacement.upper()
    if matched[:1].isupper():
        return replacement[:1].upper() + replacement[1:]
    return replacement


@dataclass(frozen=True)
class _Entry:
    tokens: tuple[str, ...]
    replacement: str
    exact: bool
    pattern: re.Pattern[str]

    def replace(self, match: re.Match[str]) -> str:
        return _shape(self.replacement, match.group(0))

    def same(self, token: str, candidate: str) -> bool:
        return candidate == token if self.exact else candidate.lower() == token.lower()


class Vocabulary:
    def __init__(self, entries: Mapping[str, str] | None = None) -> None:
        self._entries: list[_Entry] = []
        self._rules: list[RegexRule] = []
        for heard, written in (entries or {}).items():
            if heard.startswith(PREFIX):
                self._rules.append(RegexRule.parse(heard, written))
                continue
            tokens = tuple(heard.split())
            if not tokens:
                continue
            body = r"\s+".join(re.escape(t) for t in tokens)
            flags = 0 if heard != heard.lower() else re.IGNORECASE
            self._entries.append(
                _Entry(
                    tokens,
                    written,
                    exact=flags == 0,
                    pattern=re.compile(rf"(?<!\w){body}(?!\w)", flags),
                )
            )
        self._entries.sort(key=lambda e: (-len(e.tokens), -len(" ".join(e.tokens))))
        self.entries = dict(entries or {})

    def __bool__(self) -> bool:
        return bool(self._entries or self._rules)

    def merged(self, overrides: Mapping[str, str] | None) -> Vocabulary:
        return Vocabulary({**self.entries, **(overrides or {})}) if overrides else self

    # -- text -----------------------------------------------------------------------------
    def correct_text(self, text: str) -> str:
        for entry in self._entries:
            text = entry.pattern.sub(entry.replace, text)
        for rule in self._rules:
            text = rule.correct_text(text)
        return text

    # -- words ----------------------------------------------------------------------------
    def correct_words(self, words: list[Word]) -> list[Word]:
        out = self._correct_whole_words(words)
        for rule in self._rules:
            out = rule.correct_words(out)
        return out

    def _correct_whole_words(self, words: list[Word]) -> list[Word]:
        out: list[Word] = []
        i = 0
        while i < len(words):
            match = self._match_at(words, i)
            if match is None:
                out.append(words[i])
                i += 1
                continue
            entry, n = match
            first, last = words[i], words[i + n - 1]
            lead = _EDGE.match(first.word)
            tail = _EDGE.match(last.word)
            assert lead is not None and tail is not None
            core = " ".join(_EDGE.match(w.word).group(2) for w in words[i : i + n])  # type: ignore[union-attr]
            out.append(
                first.model_copy(
                    update={
                        "word": lead.group(1) + _shape(entry.replacement, core) + tail.group(3),
                        "end": last.end,
                        "probability": min(w.probability for w in words[i : i + n]),
                    }
                )
            )
            i += n
        return out

    def _match_at(self, words: list[Word], i: int) -> tuple[_Entry, int] | None:
        for entry in self._entries:
            n = len(entry.tokens)
            window = words[i : i + n]
            if len(window) < n:
                continue
            cores = [_EDGE.match(w.word).group(2) for w in window]  # type: ignore[union-attr]
            if all(entry.same(t, c) for t, c in zip(entry.tokens, cores, strict=True)):
                return entry, n
        return None

    # -- transcripts ----------------------------------------------------------------------
    def apply(self, transcript: Transcript) -> Transcript:
        if not self:
            return transcript
        corrected = (self.correct_segment(seg) for seg in transcript.segments)
        kept = [seg for seg in corrected if seg.text]  # a rule may delete a segment's words
        segments = [seg.model_copy(update={"id": i}) for i, seg in enumerate(kept)]
        return transcript.model_copy(update={"segments": segments, "text": join_text(segments)})

    def correct_segment(self, segment: S) -> S:
        """``segment`` (a transcript's or a live ``final``'s) with its text and words corrected."""
        if not self:
            return segment
        words = self.correct_words(list(segment.words)) if segment.words else segment.words
        words = words or None  # a rule may delete every word
        return segment.model_copy(update={"text": self.correct_text(segment.text), "words": words})


def parse_vocabulary(raw: str, *, param: str = "vocabulary") -> dict[str, str]:
    """A JSON object of ``"heard": "written"`` strings (the form field and ``STT_VOCABULARY``)."""
    try:
        value = loads(raw)  # depth-bounded: the form field is client data
    except ValueError:
        raise InvalidRequest(
            f"'{param}' must be a JSON object mapping heard words to replacements", param=param
        ) from None
    return validate_vocabulary(value, param=param)


def validate_vocabulary(value: object, *, param: str = "vocabulary") -> dict[str, str]:
    """``value`` as vocabulary entries; :class:`InvalidRequest` (``invalid_vocabulary``) when it
    is not a mapping of strings, is too large, or holds a refused regular-expression rule."""
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and k.strip() for k, v in value.items()
    ):
        raise _invalid(f"'{param}' must map non-empty strings to strings", param)
    if len(value) > MAX_ENTRIES:
        raise _invalid(f"'{param}' has more than {MAX_ENTRIES} entries", param)
    rules = [k for k in value if k.startswith(PREFIX)]
    if len(rules) > MAX_RULES:
        raise _invalid(f"'{param}' has more than {MAX_RULES} regular-expression rules", param)
    for key in rules:
        try:
            RegexRule.parse(key, value[key])
        except InvalidRule as exc:
            raise _invalid(f"'{param}' rule {key!r}: {exc}", param) from None
    return dict(value)


def _invalid(message: str, param: str) -> InvalidRequest:
    return InvalidRequest(message, param=param, code="invalid_vocabulary")


def load_vocabulary(entries: Mapping[str, str], file: Path | None) -> Vocabulary:
    """The deployment's dictionary: ``STT_VOCABULARY_FILE`` (a JSON object), ``STT_VOCABULARY``."""
    merged: dict[str, str] = {}
    validate_vocabulary(dict(entries), param="STT_VOCABULARY")
    if file is not None:
        merged.update(
            validate_vocabulary(json.loads(file.read_text("utf-8")), param="STT_VOCABULARY_FILE")
        )
    merged.update(entries)
    return Vocabulary(merged)


def default_prompt(prompts: Mapping[str, str], language: str | None) -> str | None:
    """``STT_DEFAULT_PROMPTS``' prompt for ``language`` (a code such as ``"ru"``), if any.

    The prompt is the decoder-side half of the vocabulary: it biases the model toward the
    spellings it shows, where the dictionary corrects what is still written. Callers use it
    only when the request has no prompt of its own and its language is known before decoding.
    """
    if not language:
        return None
    return prompts.get(normalise_language(language) or language.lower())
