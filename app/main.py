"""FastAPI application factory: wires routers, error handlers and shared state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from loguru import logger

from app import __version__
from app.api import health, metrics
from app.api.openapi import install_openapi
from app.api.v1 import audio, jobs, media, models, stream
from app.api.v1 import language as language_api
from app.api.v1 import providers as providers_api
from app.api.web import install_web
from app.bootstrap import build_gateway
from app.core.config import Settings, get_settings
from app.core.errors import install_error_handlers
from app.core.logging import configure_logging
from app.core.request_limits import RequestLimitsMiddleware
from app.core.security import API_ERROR_RESPONSES, install_security

API_PREFIXES = ("/v1", "/api/v1")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(
        settings.log_level, json_lines=settings.log_json, secrets=settings.secret_values()
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gateway = build_gateway(settings)
        app.state.gateway = gateway
        gateway.start_workers(asyncio.get_running_loop())
        logger.info(
            "gateway ready: default model {}:{}", settings.default_provider, settings.default_model
        )
        try:
            yield
        finally:
            gateway.close()

    app = FastAPI(
        title="STT Gateway",
        version=__version__,
        lifespan=lifespan,
        description="OpenAI-compatible speech-to-text gateway",
    )
    install_error_handlers(app)
    # Added before install_security's observability middleware, which then wraps it: refusals
    # of oversized, stalled or excess bodies get request ids and metrics like any response.
    app.add_middleware(RequestLimitsMiddleware, settings=settings)
    install_security(app, settings)
    if settings.metrics_enabled:
        app.include_router(metrics.router)
    app.include_router(health.router)
    for prefix in API_PREFIXES:
        for router in (
            audio.router,
            models.router,
            jobs.router,
            media.router,
            language_api.router,
            providers_api.router,
        ):
            app.include_router(
                router,
                prefix=prefix,
                include_in_schema=prefix == "/v1",
                responses=API_ERROR_RESPONSES,
            )
        app.include_router(stream.router, prefix=prefix)
    install_openapi(app)  # request bodies of the routes that stream their uploads
    install_web(app, settings)  # the page at / and CORS (outermost, so preflights pass)
    return app
