"""One ASGI middleware for request id, log context, server span and request metrics.

* ``X-Request-ID``: a client's value is kept when it is a short token (``[A-Za-z0-9._:-]``, at
  most 128 characters), otherwise a fresh one is made; either way it is returned on the response
  and bound into every log line of the request.
* A server span per HTTP request / WebSocket session (when tracing is on), continuing an incoming
  W3C ``traceparent``.
* ``audio_stt_requests_total`` and ``audio_stt_latency_seconds`` labelled by the matched route
  template (``unmatched`` otherwise), never by the raw path.

It is a plain ASGI middleware (not ``BaseHTTPMiddleware``) so context variables set here reach
the endpoint and streamed responses are not buffered.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from loguru import logger
from opentelemetry import propagate
from opentelemetry.trace import SpanKind, Status, StatusCode
from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.core import metrics, tracing
from app.core.log_context import bind, log_context

REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def accept_request_id(value: str | None) -> str:
    if value and _REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


def _route_label(scope: Scope) -> str:
    """The matched route's full template (``/v1/media/{media_id}``), or ``unmatched``.

    Routers included with a prefix report only their own part of the template, so the prefix is
    recovered from the concrete path: it is what precedes the route's formatted template.
    """
    route: Any = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if not isinstance(template, str):
        return "unmatched"
    try:
        concrete = template.format(**scope.get("path_params", {}))
    except (KeyError, IndexError, ValueError):
        return template
    path = scope.get("path", "")
    if concrete and path.endswith(concrete):
        return path[: len(path) - len(concrete)] + template
    return template


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = accept_request_id(headers.get(REQUEST_ID_HEADER))
        method = scope.get("method", "WS") if scope["type"] == "http" else "WS"
        status = {"code": 0}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = request_id
            elif message["type"] == "websocket.accept":
                status["code"] = 101
            elif message["type"] == "websocket.close" and not status["code"]:
                status["code"] = 403  # refused before the handshake completed
            await send(message)

        started = time.perf_counter()
        parent = propagate.extract(dict(headers.items()))
        with (
            log_context(request_id=request_id),
            tracing.tracer().start_as_current_span(
                f"{method} {scope.get('path', '')}", context=parent, kind=SpanKind.SERVER
            ) as span,
        ):
            trace_id = tracing.current_trace_id()
            if trace_id:
                bind(trace_id=trace_id)
            try:
                await self.app(scope, receive, send_wrapper)
            except Exception:
                status["code"] = status["code"] or 500
                raise
            finally:
                route = _route_label(scope)
                code = status["code"] or 500
                elapsed = time.perf_counter() - started
                metrics.record_request(route, method, code, elapsed)
                logger.debug("{} {} -> {} in {:.0f} ms", method, route, code, elapsed * 1000)
                if span.is_recording():
                    span.update_name(f"{method} {route}")
                    span.set_attribute("http.request.method", method)
                    span.set_attribute("http.route", route)
                    span.set_attribute("http.response.status_code", code)
                    span.set_attribute("stt.request_id", request_id)
                    if code >= 500:
                        span.set_status(Status(StatusCode.ERROR))
