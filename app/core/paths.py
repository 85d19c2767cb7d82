"""Storage paths built from sanitised ids only.

User ids come from JWT ``sub`` claims and job/media ids from clients; none of them may ever steer
a path. :func:`safe_component` maps any string to one harmless path segment, and
:func:`contained` checks that a built path stays inside its root.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")
_MAX = 64


def safe_component(value: str) -> str:
    """One path segment derived from ``value``: ``[A-Za-z0-9_.-]`` only, never ``.``/``..``.

    Values that are already safe are kept as they are (readable directories); any value that
    had to change gets a short hash suffix, so two different ids never share a segment.
    """
    cleaned = _UNSAFE.sub("_", value)[:_MAX].strip(".")
    if cleaned == value and cleaned:
        return cleaned
    digest = hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    return f"{cleaned or 'id'}-{digest}"


def contained(root: Path, *parts: str) -> Path:
    """``root / safe parts``; raises ``ValueError`` if the result escapes ``root``."""
    path = root.joinpath(*(safe_component(p) for p in parts))
    if not path.resolve().is_relative_to(root.resolve()):
        raise ValueError("path escapes its storage root")
    return path
