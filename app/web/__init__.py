"""The browser page served at ``/`` (Docs/Web_UI.md): static files, no build step, no
third-party code. ``static/app.js`` talks to the same public API as any other client."""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
