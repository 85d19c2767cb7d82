"""Per-request / per-job log context and secret redaction for loguru.

Every log line carries ``request_id``, ``user``, ``provider``, ``job_id`` and ``trace_id`` (empty
when unknown). The request middleware opens a fresh context per request; a worker opens one per
job with :func:`log_context`; dependencies and services fill it in with :func:`bind`. The context
is a mutable mapping held in a ``ContextVar``, so values bound in a worker thread (which runs on a
copy of the context) still reach the request's later lines.

:func:`patch_record` is installed as loguru's patcher: it copies the context into
``record["extra"]`` and scrubs configured secrets, bearer tokens, JWTs (whole or cut short),
``?token=`` query values and the token of an ``auth`` message from the message.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loguru import Record

FIELDS = ("request_id", "user", "provider", "job_id", "trace_id")
REDACTED = "[REDACTED]"
_context: ContextVar[dict[str, str] | None] = ContextVar("stt_log_context", default=None)
_secrets: set[str] = set()
_TOKEN_PATTERNS = (
    re.compile(r"(?i)(bearer\s+)[^\s,;\"']+"),
    re.compile(r"\beyJ[A-Za-z0-9_-]{8,}(?:\.[A-Za-z0-9_-]*){0,2}"),  # JWTs, also cut short
    re.compile(r"(?i)(x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s,;\"']+"),
    re.compile(r"(?i)(\b(?:access_)?token=)[^&\s\"']+"),  # WebSocket query tokens
    re.compile(r"(?i)(\"(?:token|access_token|api_key)\"\s*:\s*\")[^\"]+"),  # auth messages
)


def bind(**values: str | None) -> None:
    """Add values to the current request's or job's context (no-op keys with ``None``)."""
    current = _context.get()
    if current is None:
        current = {}
        _context.set(current)
    current.update({k: v for k, v in values.items() if v is not None})


def current() -> dict[str, str]:
    return dict(_context.get() or {})


@contextmanager
def log_context(**values: str | None) -> Iterator[dict[str, str]]:
    """A fresh context (inheriting the enclosing one) for the duration of a block."""
    inherited = _context.get() or {}
    fresh = {**inherited, **{k: v for k, v in values.items() if v is not None}}
    token = _context.set(fresh)
    try:
        yield fresh
    finally:
        _context.reset(token)


def register_secret(value: str | None) -> None:
    """Never print ``value``: every occurrence in a log message becomes ``[REDACTED]``."""
    if value and len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _TOKEN_PATTERNS:
        text = pattern.sub(
            lambda m: (m.group(1) if m.re.groups else "") + REDACTED,
            text,
        )
    return text


def patch_record(record: Record) -> None:
    extra: dict[str, Any] = record["extra"]
    context = _context.get() or {}
    for name in FIELDS:
        extra.setdefault(name, context.get(name, ""))
    record["message"] = redact(record["message"])
    fields: dict[str, Any] = record  # type: ignore[assignment]
    if isinstance(fields.get("template"), str):  # loguru 0.8 serializes the unformatted message
        fields["template"] = redact(fields["template"])


def human_format(record: Record) -> str:
    """loguru format for text logs: the usual line plus the context fields that are set."""
    extra = record["extra"]
    fields = " ".join(f"{name}={extra[name]}" for name in FIELDS if extra.get(name))
    context = f" | {fields}" if fields else ""
    return (
        "<green>{time:YYYY-MM-DD HH:mm:ss.SSS}</green> | <level>{level: <8}</level> | "
        "<cyan>{name}</cyan>:<cyan>{line}</cyan>"
        + context.replace("{", "{{").replace("}", "}}").replace("<", "\\<")
        + " - <level>{message}</level>\n{exception}"
    )
