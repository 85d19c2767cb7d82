"""OpenTelemetry tracing: off by default, console or OTLP exporter when enabled.

The gateway keeps its own ``TracerProvider`` (not the process-global one), so several apps in
one process and tests can each install theirs. Spans: one server span per HTTP request / WebSocket
session (``app.core.middleware``), ``transcribe`` around each provider call, and whatever the job
queue and workers open. A job row carries the creating request's trace context as a W3C
``traceparent`` carrier (:func:`inject_carrier`); the worker continues the trace with
:func:`span_from_carrier`.

The OTLP exporter needs the ``otel`` extra (``opentelemetry-exporter-otlp-proto-http``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Tracer

if TYPE_CHECKING:
    from app.core.config import Settings

_NOOP = trace.NoOpTracerProvider()
_provider: TracerProvider | None = None
TRACER_NAME = "stt-gateway"


def _exporter(settings: Settings) -> SpanExporter:
    if settings.tracing_exporter == "console":
        return ConsoleSpanExporter()
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (  # type: ignore[import-not-found]
            OTLPSpanExporter,
        )
    except ImportError:
        raise ValueError(
            "STT_TRACING_EXPORTER=otlp needs the 'otel' extra (pip install 'stt-gateway[otel]')"
        ) from None
    if settings.otlp_endpoint:
        return OTLPSpanExporter(endpoint=settings.otlp_endpoint)  # type: ignore[no-any-return]
    return OTLPSpanExporter()  # type: ignore[no-any-return]


def configure_tracing(settings: Settings) -> None:
    """Install the provider the settings ask for (``none`` turns tracing off)."""
    if settings.tracing_exporter == "none":
        set_tracer_provider(None)
        return
    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.service_name}),
        sampler=ParentBased(TraceIdRatioBased(settings.tracing_sample_ratio)),
    )
    provider.add_span_processor(BatchSpanProcessor(_exporter(settings)))
    set_tracer_provider(provider)


def set_tracer_provider(provider: TracerProvider | None) -> None:
    """Use ``provider`` for the gateway's spans (``None``: no tracing). Flushes the old one."""
    global _provider
    if _provider is not None and _provider is not provider:
        _provider.shutdown()
    _provider = provider


def tracer() -> Tracer:
    return (_provider or _NOOP).get_tracer(TRACER_NAME)


def enabled() -> bool:
    return _provider is not None


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def inject_carrier() -> dict[str, str]:
    """The current trace context as a W3C carrier (``traceparent``), to store in a job row."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


@contextmanager
def span_from_carrier(
    name: str, carrier: Mapping[str, str] | None, **attributes: str | int | float | bool
) -> Iterator[Span]:
    """A span that continues the trace stored in ``carrier`` (a worker processing a job)."""
    context = propagate.extract(dict(carrier or {}))
    with tracer().start_as_current_span(
        name, context=context, kind=SpanKind.CONSUMER, attributes=attributes
    ) as span:
        yield span
