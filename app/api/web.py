"""The browser page at ``/`` and its static files under ``/static`` (Docs/Web_UI.md), and
CORS for pages served from other origins (``STT_CORS_ORIGINS``, off by default).

The page is public (it holds no data); every API call it makes is authenticated like any
other client's. It is served with a Content-Security-Policy that allows only its own
scripts and connections to this server.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from app.core.config import Settings
from app.web import STATIC_DIR

CSP = (
    "default-src 'self'; connect-src 'self' ws: wss:; media-src 'self' blob:; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


async def index() -> FileResponse:
    return FileResponse(
        STATIC_DIR / "index.html",
        headers={"Content-Security-Policy": CSP, "Cache-Control": "no-cache"},
    )


def install_web(app: FastAPI, settings: Settings) -> None:
    origins = settings.cors_origin_list
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(origins),
            allow_methods=["GET", "POST", "DELETE", "OPTIONS"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "Idempotency-Key"],
            expose_headers=["Retry-After", "X-Request-ID"],
            max_age=600,
        )
    if settings.web_ui_enabled:
        app.add_api_route("/", index, methods=["GET"], include_in_schema=False)
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
