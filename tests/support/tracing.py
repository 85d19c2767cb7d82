"""Spans in memory: an OpenTelemetry exporter the tests read back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from app.core import tracing


def memory_exporter() -> InMemorySpanExporter:
    """Install a tracer provider that exports to memory; the caller resets it afterwards
    (``tracing.set_tracer_provider(None)``)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.set_tracer_provider(provider)
    return exporter


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span finished during the test; tracing is switched off again afterwards."""
    yield memory_exporter()
    tracing.set_tracer_provider(None)
