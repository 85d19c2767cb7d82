"""Public ids (a prefix plus a time-ordered hex string), lease tokens and the UTC clock."""

from __future__ import annotations

import secrets
import time
from datetime import datetime, timezone


def new_id(prefix: str) -> str:
    return f"{prefix}_{time.time_ns() // 1000:014x}{secrets.token_hex(6)}"


def new_token() -> str:
    """A lease id: 128 random bits, the completion token that fences a worker's writes."""
    return secrets.token_hex(16)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
