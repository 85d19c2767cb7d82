"""Wire authentication, rate limits, caps, tracing, metrics and request ids into an app.

``create_app`` calls :func:`install_security` once; routes then reach the pieces through
``app.state`` (``authenticator``, ``rate_limits``, ``stream_slots``, ``redis``, ``settings``) via
the dependencies in ``app.api.deps`` and :func:`app.core.auth.authenticate_websocket`. The
``/metrics`` route (``app.api.metrics``) is registered by ``app.main``: core never imports routes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from loguru import logger

from app.core.auth import Authenticator
from app.core.config import Settings
from app.core.limits import RateLimits, UserSlots
from app.core.middleware import ObservabilityMiddleware
from app.core.redis_store import RedisStore
from app.core.tracing import configure_tracing
from schemas.errors import ErrorEnvelope

_ERROR_STATUSES = {
    400: "Invalid request",
    401: "Missing or invalid credentials",
    403: "The credentials lack the needed scope",
    404: "Not found",
    408: "The request body stalled (STT_HTTP_BODY_TIMEOUT_S)",
    413: "Request body or upload too large",
    415: "Not multipart/form-data, or not audio",
    429: "Rate limit or concurrency cap reached (see Retry-After)",
    500: "Internal error",
    503: "Capacity exhausted or a dependency is down (see Retry-After)",
}
# OpenAPI: every API route may answer these, always in OpenAI's error envelope.
API_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope, "description": text}
    for status, text in _ERROR_STATUSES.items()
}


def _warn_no_auth(settings: Settings) -> None:
    logger.warning(
        "\n" + "!" * 78 + "\n"
        "!! AUTHENTICATION IS OFF (STT_AUTH_MODE=none): every caller is the local user with\n"
        "!! every scope. Serving on {}:{}. Set STT_AUTH_MODE=api_key (STT_API_KEY) or jwt\n"
        "!! before exposing this gateway to anyone else.\n" + "!" * 78,
        settings.host,
        settings.port,
    )


def install_security(app: FastAPI, settings: Settings) -> None:
    app.state.settings = settings
    app.state.authenticator = Authenticator(settings)
    app.state.redis = store = RedisStore.from_settings(settings)  # None without STT_REDIS_URL
    app.state.rate_limits = RateLimits(settings, store)
    app.state.stream_slots = UserSlots(
        "stream",
        settings.max_streams_per_user,
        store=store,
        prefix=settings.rate_limit_key_prefix,
    )
    configure_tracing(settings)
    app.add_middleware(ObservabilityMiddleware)
    if settings.auth_mode == "none":
        _warn_no_auth(settings)
    else:
        logger.info("authentication: {}", settings.auth_mode)
    logger.info(
        "rate limits: global={} per_user={} providers={} storage={}",
        settings.rate_limit_global or "off",
        settings.rate_limit_per_user or "off",
        settings.rate_limit_providers or "off",
        f"redis (failure policy: {settings.redis_failure_policy})" if store else "memory",
    )
