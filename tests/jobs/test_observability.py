"""Jobs and workers move their Prometheus series by the right amounts, and a worker continues
the submitting request's trace (``job.run`` and ``transcribe`` spans) on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from app.core import tracing
from app.core.config import Settings
from app.db.database import Database
from app.services.jobs.service import JobService
from schemas.errors import RateLimited
from schemas.jobs import JobStatus
from tests.jobs.support import submit_file, wait_for, worker, write_wav

PROBES = {
    "created": ("audio_stt_jobs_total", {"event": "created"}),
    "leased": ("audio_stt_jobs_total", {"event": "leased"}),
    "succeeded": ("audio_stt_jobs_total", {"event": "succeeded"}),
    "cancelled": ("audio_stt_jobs_total", {"event": "cancelled"}),
    "cancel_requested": ("audio_stt_jobs_total", {"event": "cancel_requested"}),
    "audio_deleted": ("audio_stt_jobs_total", {"event": "audio_deleted"}),
    "refused": ("audio_stt_rate_limited_total", {"scope": "jobs"}),
    "waits": ("audio_stt_queue_wait_seconds_count", {"queue": "jobs"}),
    "workers": ("audio_stt_active_workers", {"pool": "any"}),
}


def snapshot() -> dict[str, float]:
    return {k: REGISTRY.get_sample_value(n, labels) or 0.0 for k, (n, labels) in PROBES.items()}


def test_job_metrics_move_by_the_traffic(
    job_settings: Settings, db: Database, service: JobService, tmp_path: Path
) -> None:
    settings = job_settings.model_copy(
        update={"delete_audio_after_transcription": True, "max_active_jobs_per_user": 3}
    )
    capped = JobService(settings, service.queue, service.store)
    before = snapshot()
    jobs = [submit_file(capped, write_wav(tmp_path / f"{i}.wav", seed=i)) for i in range(3)]
    with pytest.raises(RateLimited, match="limit is 3"):
        submit_file(capped, write_wav(tmp_path / "x.wav"))
    capped.cancel("alice", jobs[2].id)
    with worker(settings, db):
        running = snapshot()
        wait_for(
            lambda: all(capped.get("alice", j.id).status.terminal for j in jobs[:2]), 30, "jobs"
        )
    after = snapshot()
    assert all(capped.get("alice", j.id).status is JobStatus.SUCCEEDED for j in jobs[:2])
    delta = {k: after[k] - before[k] for k in PROBES}
    assert delta == {
        "created": 3,
        "leased": 2,
        "succeeded": 2,
        "cancelled": 1,
        "cancel_requested": 0,
        "audio_deleted": 2,  # STT_DELETE_AUDIO_AFTER_TRANSCRIPTION, nothing else used them
        "refused": 1,
        "waits": 2,
        "workers": 0,
    }
    assert running["workers"] - before["workers"] == 1  # while the worker ran


def test_worker_continues_the_submitting_trace(
    spans: InMemorySpanExporter,
    job_settings: Settings,
    db: Database,
    service: JobService,
    tmp_path: Path,
) -> None:
    with tracing.tracer().start_as_current_span("POST /v1/audio/jobs") as api:
        carrier = tracing.inject_carrier()  # what the job route stores in the payload
        audio = write_wav(tmp_path / "a.wav")
        job = submit_file(service, audio, audit={"actor": "alice", **carrier})
    with worker(job_settings, db):
        wait_for(lambda: service.get("alice", job.id).status.terminal, 30, "the job")
    finished = {s.name: s for s in spans.get_finished_spans()}
    run, inner = finished["job.run"], finished["transcribe"]
    trace_id = api.get_span_context().trace_id
    assert run.kind is SpanKind.CONSUMER
    assert run.context.trace_id == trace_id == inner.context.trace_id
    assert run.parent is not None and run.parent.span_id == api.get_span_context().span_id
    assert inner.parent is not None and inner.parent.span_id == run.context.span_id
    assert run.attributes is not None and run.attributes["stt.job_id"] == job.id
    assert inner.attributes is not None and inner.attributes["stt.provider"] == "mock"
