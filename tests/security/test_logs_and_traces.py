"""Structured logs carry the request id and user and never a secret; OpenTelemetry spans run
from the API to the provider and continue through a job's stored trace context."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from loguru import logger
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from app.core import tracing
from app.core.log_context import REDACTED, bind, log_context, redact
from app.core.middleware import accept_request_id
from app.main import create_app
from tests.security.conftest import API_KEY, FAST, JWT_SECRET, bearer, token
from tests.security.test_rate_limits import wav_bytes
from tests.support.tracing import memory_exporter

METRICS_TOKEN = "metrics-scrape-token-" + "m" * 16


@contextmanager
def captured_app(make_settings: Any, **overrides: Any) -> Iterator[tuple[TestClient, list[dict]]]:
    """A running app and the JSON records it logs (the sink is added after ``create_app``,
    which replaces every sink)."""
    app = create_app(make_settings(**{**FAST, "log_level": "DEBUG", "log_json": True, **overrides}))
    records: list[dict[str, Any]] = []
    sink = logger.add(lambda m: records.append(json.loads(m)), serialize=True, level="DEBUG")
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client, records
    finally:
        logger.remove(sink)


@pytest.mark.parametrize("mode", ["api_key", "jwt"])
def test_no_secret_reaches_the_logs(
    make_settings: Any, capfd: pytest.CaptureFixture[str], mode: str
) -> None:
    records: list[str] = []
    signed = token("dana", "transcribe")
    settings = make_settings(
        **FAST,
        log_level="TRACE",
        log_json=True,
        auth_mode=mode,
        api_key=API_KEY,
        jwt_secret=JWT_SECRET,
        metrics_token=METRICS_TOKEN,
    )
    app = create_app(settings)  # replaces every sink: add ours afterwards
    sink = logger.add(records.append, level="TRACE", serialize=True)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            credentials = API_KEY if mode == "api_key" else signed
            for headers in (
                bearer(credentials),
                {"X-API-Key": credentials},
                bearer(credentials + "x"),
                bearer(signed[:-4] + "AAAA"),
            ):
                client.post(
                    "/v1/audio/transcriptions",
                    headers=headers,
                    files={"file": ("a.wav", wav_bytes(0.3), "audio/wav")},
                    data={"model": "mock", "prompt": f"my key is {API_KEY}"},
                )
            client.get("/metrics", headers=bearer(METRICS_TOKEN))
            client.get("/metrics", headers=bearer("wrong"))
            # careless code elsewhere: the configured secrets are still redacted
            logger.warning("oops {} {} {}", API_KEY, JWT_SECRET, METRICS_TOKEN)
            logger.info("header was Authorization: Bearer {}", signed)
    finally:
        logger.remove(sink)
    output = "\n".join(records) + capfd.readouterr().err
    assert records and REDACTED in output
    for secret in (API_KEY, JWT_SECRET, METRICS_TOKEN, signed, signed.split(".")[2]):
        assert secret not in output


def test_request_id_and_user_on_every_line(make_settings: Any) -> None:
    with captured_app(make_settings, auth_mode="jwt", jwt_secret=JWT_SECRET) as (client, captured):
        headers = {"X-Request-ID": "req-42", **bearer(token("erin"))}
        response = client.get("/v1/models", headers=headers)
        assert response.headers["X-Request-ID"] == "req-42"
        generated = client.get("/v1/models", headers={"X-Request-ID": "bad id " * 30})
        assert len(generated.headers["X-Request-ID"]) == 32
        client.post(
            "/v1/audio/transcriptions",
            headers={"X-Request-ID": "req-43", **bearer(token("erin"))},
            files={"file": ("a.wav", wav_bytes(0.3), "audio/wav")},
            data={"model": "mock"},
        )
    mine = [r["record"] for r in captured if r["record"]["extra"].get("request_id") == "req-42"]
    assert mine, "lines logged during the request carry its id"
    assert any(r["extra"]["user"] == "erin" for r in mine)
    access = [r for r in captured if r["record"]["extra"].get("request_id") == "req-43"]
    assert any(r["record"]["extra"]["provider"] == "mock:mock" for r in access)
    for record in captured:
        assert set(record["record"]["extra"]) >= {"request_id", "user", "provider", "job_id"}


def test_job_context_and_redaction_helpers() -> None:
    with log_context(job_id="job_1", user="frank") as context:
        bind(provider="mock:mock")
        assert context == {"job_id": "job_1", "user": "frank", "provider": "mock:mock"}
    assert "abc.def" in redact("Bearer abc.def") or REDACTED in redact("Bearer abc.def")
    assert redact("Authorization: Bearer sk-123456") == f"Authorization: Bearer {REDACTED}"
    assert accept_request_id("ok-1:2.3_4") == "ok-1:2.3_4"
    assert accept_request_id("../etc") != "../etc"


def test_spans_from_api_to_provider(make_settings: Any) -> None:
    app = create_app(make_settings(**FAST))  # STT_TRACING_EXPORTER=none: tracing off
    assert not tracing.enabled()
    spans = memory_exporter()  # what a configured exporter would receive
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with TestClient(app) as client:
        response = client.post(
            "/v1/audio/transcriptions",
            headers={"traceparent": parent, "X-Request-ID": "traced-1"},
            files={"file": ("a.wav", wav_bytes(0.3), "audio/wav")},
            data={"model": "mock"},
        )
        assert response.status_code == 200
    finished = {s.name: s for s in spans.get_finished_spans()}
    server = finished["POST /v1/audio/transcriptions"]
    inner = finished["transcribe"]
    assert server.kind is SpanKind.SERVER
    assert format(server.context.trace_id, "032x") == "0af7651916cd43dd8448eb211c80319c"
    assert inner.context.trace_id == server.context.trace_id
    assert inner.parent is not None and inner.parent.span_id == server.context.span_id
    assert server.attributes["http.response.status_code"] == 200
    assert server.attributes["stt.request_id"] == "traced-1"
    assert inner.attributes["stt.provider"] == "mock"
    tracing.set_tracer_provider(None)


def test_trace_context_travels_with_a_job(spans: InMemorySpanExporter) -> None:
    with tracing.tracer().start_as_current_span("enqueue") as api_span:
        carrier = tracing.inject_carrier()  # stored in the job row
    assert carrier["traceparent"].split("-")[1] == format(
        api_span.get_span_context().trace_id, "032x"
    )
    with tracing.span_from_carrier("job.process", carrier, job_id="job_9") as worker_span:
        assert worker_span.get_span_context().trace_id == api_span.get_span_context().trace_id
    process = next(s for s in spans.get_finished_spans() if s.name == "job.process")
    assert process.parent is not None
    assert process.parent.span_id == api_span.get_span_context().span_id
    assert process.attributes["job_id"] == "job_9"


def test_exporter_settings(make_settings: Any) -> None:
    tracing.configure_tracing(make_settings(tracing_exporter="console"))
    try:
        assert tracing.enabled()
    finally:
        tracing.set_tracer_provider(None)
    try:
        import opentelemetry.exporter.otlp.proto.http  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="otel"):
            tracing.configure_tracing(make_settings(tracing_exporter="otlp"))
    assert not tracing.enabled()
