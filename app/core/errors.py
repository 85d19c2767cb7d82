"""Map every error to OpenAI's envelope and an HTTP status, in one place."""

from __future__ import annotations

import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from app.core import metrics
from schemas.errors import (
    AuthenticationError,
    ErrorDetail,
    ErrorEnvelope,
    GatewayError,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    PermissionDenied,
    RateLimited,
    RetriableProviderError,
    ServiceUnavailable,
    UnsupportedMediaType,
)

_HTTP_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


def error_response(exc: GatewayError) -> JSONResponse:
    metrics.record_error(exc.code)
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if exc.status_code >= 500:
        logger.warning("request failed: {} ({})", exc.message, exc.code)
    return JSONResponse(exc.envelope().model_dump(), status_code=exc.status_code, headers=headers)


def _envelope(
    status: int, message: str, *, type_: str, param: str | None = None, code: str | None = None
) -> JSONResponse:
    metrics.record_error(code or f"http_{status}")
    body = ErrorEnvelope(error=ErrorDetail(message=message, type=type_, param=param, code=code))
    return JSONResponse(body.model_dump(), status_code=status)


async def _gateway_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, GatewayError)
    return error_response(exc)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    param = ".".join(loc) or None
    return _envelope(
        400,
        f"invalid value for '{param}': {first['msg']}" if param else str(first["msg"]),
        type_="invalid_request_error",
        param=param,
        code="invalid_value",
    )


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    type_ = _HTTP_TYPES.get(
        exc.status_code, "invalid_request_error" if exc.status_code < 500 else "server_error"
    )
    response = _envelope(
        exc.status_code,
        str(exc.detail),
        type_=type_,
        code="not_found" if exc.status_code == 404 else None,
    )
    if exc.headers:
        response.headers.update(exc.headers)
    if exc.status_code == 405:  # Starlette names only the first route matching the path
        response.headers["Allow"] = _allowed_methods(request)
    return response


def _allowed_methods(request: Request) -> str:
    """Every method some route serves at the request's path (GET and DELETE of one resource
    are two routes): each is tried against the app's routes, however they are nested."""
    routes = request.app.router.routes
    return ", ".join(
        method
        for method in _METHODS
        if any(r.matches({**request.scope, "method": method})[0] is Match.FULL for r in routes)
    )


async def _too_deep(request: Request, exc: Exception) -> JSONResponse:
    """Client input nested too deeply for the code walking it: a 400, never a 500. Client JSON
    is depth-bounded where it is parsed (``app.core.json_input``); this is the backstop."""
    logger.warning("request refused: RecursionError on {} {}", request.method, request.url.path)
    return error_response(
        InvalidRequest("the request is nested too deeply", code="nested_too_deeply")
    )


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.opt(exception=exc).error("unhandled error")
    return _envelope(
        500, "the server hit an unexpected error", type_="server_error", code="internal_error"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RecursionError, _too_deep)
    app.add_exception_handler(Exception, _unexpected)


# -- WebSocket close codes (RFC 6455 section 7.4.1) -------------------------------------------
# A fatal WebSocket error is sent as an ``error`` event (the same ``code`` as the HTTP envelope)
# and the socket is closed with the code below. Docs/Streaming.md lists them for clients.
WS_CLOSE_NORMAL = 1000
WS_CLOSE_UNSUPPORTED_DATA = 1003
WS_CLOSE_POLICY = 1008
WS_CLOSE_TOO_BIG = 1009
WS_CLOSE_INTERNAL = 1011
WS_CLOSE_TRY_AGAIN_LATER = 1013

_WS_CLOSE_CODES: tuple[tuple[type[GatewayError], int], ...] = (
    (ServiceUnavailable, WS_CLOSE_TRY_AGAIN_LATER),
    (RetriableProviderError, WS_CLOSE_TRY_AGAIN_LATER),
    (RateLimited, WS_CLOSE_TRY_AGAIN_LATER),
    (PayloadTooLarge, WS_CLOSE_TOO_BIG),
    (UnsupportedMediaType, WS_CLOSE_UNSUPPORTED_DATA),
    (AuthenticationError, WS_CLOSE_POLICY),
    (PermissionDenied, WS_CLOSE_POLICY),
    (InvalidRequest, WS_CLOSE_POLICY),
    (NotFound, WS_CLOSE_POLICY),
)


def websocket_close_code(exc: GatewayError) -> int:
    """The close code for a fatal error on a WebSocket (1011 for anything unexpected)."""
    for cls, code in _WS_CLOSE_CODES:
        if isinstance(exc, cls):
            return code
    return WS_CLOSE_INTERNAL
