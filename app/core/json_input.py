"""Parsing JSON that clients send: bounded nesting, and every failure a 400.

Python's ``json`` module recurses once per nesting level, so 30 KB of ``[[[[...`` raise
``RecursionError`` (a 500), and documents just under the interpreter's limit come back deep
enough to exhaust the stack later, in pydantic, ``json.dumps`` or logging. Every place the
gateway parses client JSON (the ``chunking_strategy`` and ``vocabulary`` form fields, the jobs
API's JSON body, the WebSocket ``auth`` message and text frames) goes through :func:`parse_json` or
:func:`loads`, which refuse more than :data:`MAX_JSON_DEPTH` nested arrays/objects before
parsing. No legitimate request nests deeper than a few levels.
"""

from __future__ import annotations

import json
import re
from typing import Any

from schemas.errors import InvalidRequest

#: the deepest nesting of arrays and objects accepted from a client
MAX_JSON_DEPTH = 32

# A string (escapes included) is one token, so brackets inside strings are not counted. The
# possessive ``*+`` keeps an unterminated string from backtracking.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*+"|[\[\]{}]', re.DOTALL)


def _too_deep(text: str, max_depth: int) -> bool:
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > max_depth:
                return True
        elif token in ("]", "}"):
            depth -= 1
    return False


def loads(raw: str | bytes, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """``json.loads`` for untrusted input: raises ``ValueError`` (never ``RecursionError``) for
    text that is not JSON, not decodable, or nested deeper than ``max_depth``."""
    text = raw.decode(json.detect_encoding(raw), "surrogatepass") if isinstance(raw, bytes) else raw
    if _too_deep(text, max_depth):
        raise ValueError(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except RecursionError:  # the scan above makes this unreachable for valid JSON; a backstop
        raise ValueError(f"JSON nested deeper than {max_depth} levels") from None


def parse_json(raw: str | bytes, *, what: str, param: str | None = None) -> Any:
    """:func:`loads`, with any failure as :class:`InvalidRequest` (code ``invalid_json``);
    ``what`` names the input in the message ("the body", "'vocabulary'")."""
    try:
        return loads(raw)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InvalidRequest(
            f"{what} is not valid JSON: {exc}", param=param, code="invalid_json"
        ) from None
