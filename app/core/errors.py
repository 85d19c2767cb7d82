"""Map every error to OpenAI's envelope and an HTTP status, in one place."""

from __future__ import annotations

import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from loguru import logger
from starlette.exceptions import HTTPException as StarletteHTTPException

from schemas.errors import ErrorDetail, ErrorEnvelope, GatewayError

_HTTP_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}


def error_response(exc: GatewayError) -> JSONResponse:
    headers = {}
    if exc.retry_after is not None:
        headers["Retry-After"] = str(max(1, math.ceil(exc.retry_after)))
    if exc.status_code >= 500:
        logger.warning("request failed: {} ({})", exc.message, exc.code)
    return JSONResponse(exc.envelope().model_dump(), status_code=exc.status_code, headers=headers)


def _envelope(
    status: int, message: str, *, type_: str, param: str | None = None, code: str | None = None
) -> JSONResponse:
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
        f"invalid value for '{param}': {first['msg']}" if param else first["msg"],
        type_="invalid_request_error",
        param=param,
        code="invalid_value",
    )


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
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
    return response


async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.opt(exception=exc).error("unhandled error")
    return _envelope(
        500, "the server hit an unexpected error", type_="server_error", code="internal_error"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
