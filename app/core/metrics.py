"""Prometheus metrics: every ``audio_stt_*`` series, and small functions to move them.

Callers (REST middleware, inference pool, streaming sessions, job workers, the provider
registry's fallback chain) call the ``record_*``/``observe_*`` helpers below rather than touching
the collectors, so label values stay bounded: routes are templates, models are known names or
``custom``, reasons are error codes, never user ids, raw paths or free text.

Series (all in the default registry, served by ``GET /metrics``):

==============================================  =========  ==================================
audio_stt_requests_total                        counter    route, method, status
audio_stt_errors_total                          counter    reason (error code)
audio_stt_latency_seconds                       histogram  route, method
audio_stt_queue_wait_seconds                    histogram  queue (inference | jobs)
audio_stt_processing_seconds                    histogram  provider, model
audio_stt_audio_seconds_total                   counter    provider, model
audio_stt_real_time_factor                      histogram  provider, model
audio_stt_fallbacks_total                       counter    from_provider, to_provider, reason
audio_stt_rate_limited_total                    counter    scope (global | user | provider | ...)
audio_stt_streaming_sessions                    gauge      (active sessions)
audio_stt_streaming_sessions_started_total      counter    protocol (native | realtime)
audio_stt_streaming_sessions_ended_total        counter    outcome, protocol
audio_stt_streaming_token_latency_seconds       histogram  (audio received -> partial/final)
audio_stt_jobs_total                            counter    event (created, succeeded, ...)
audio_stt_active_workers                        gauge      pool
audio_stt_inference_in_flight                   gauge      (admitted to the inference pool)
audio_stt_gpu_memory_bytes                      gauge      device, kind (used | total)
audio_stt_dependency_up                         gauge      dependency (redis)
audio_stt_dependency_errors_total               counter    dependency, operation
audio_stt_webhook_deliveries_total              counter    outcome (enqueued, delivered, retry,
                                                           failed, lease_lost)
audio_stt_webhook_outbox_pending                gauge      (events waiting to be delivered)
==============================================  =========  ==================================
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from prometheus_client import REGISTRY, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# Seconds: sub-second REST calls up to hour-long jobs ("tens of minutes" and beyond).
LONG_BUCKETS = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0,
    1800.0, 3600.0,
)  # fmt: skip
TOKEN_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 5.0, 10.0)

REQUESTS = Counter(
    "audio_stt_requests", "HTTP and WebSocket requests handled", ("route", "method", "status")
)
ERRORS = Counter("audio_stt_errors", "Errors answered to clients, by reason", ("reason",))
LATENCY = Histogram(
    "audio_stt_latency_seconds",
    "Time from request start to the end of the response",
    ("route", "method"),
    buckets=LONG_BUCKETS,
)
QUEUE_WAIT = Histogram(
    "audio_stt_queue_wait_seconds",
    "Time spent waiting for an inference slot or a job lease",
    ("queue",),
    buckets=LONG_BUCKETS,
)
PROCESSING = Histogram(
    "audio_stt_processing_seconds",
    "Provider processing time per transcription",
    ("provider", "model"),
    buckets=LONG_BUCKETS,
)
AUDIO_SECONDS = Counter(
    "audio_stt_audio_seconds", "Seconds of audio transcribed", ("provider", "model")
)
REAL_TIME_FACTOR = Histogram(
    "audio_stt_real_time_factor",
    "Processing time divided by audio duration",
    ("provider", "model"),
    buckets=RTF_BUCKETS,
)
FALLBACKS = Counter(
    "audio_stt_fallbacks",
    "Provider fallbacks taken",
    ("from_provider", "to_provider", "reason"),
)
RATE_LIMITED = Counter("audio_stt_rate_limited", "Requests refused by a rate limit", ("scope",))
STREAMING_ACTIVE = Gauge("audio_stt_streaming_sessions", "Active WebSocket streaming sessions")
STREAMING_STARTED = Counter(
    "audio_stt_streaming_sessions_started",
    "Streaming sessions opened (after authentication), by protocol",
    ("protocol",),
)
STREAMING_ENDED = Counter(
    "audio_stt_streaming_sessions_ended",
    "Streaming sessions ended, by outcome and protocol",
    ("outcome", "protocol"),
)
TOKEN_LATENCY = Histogram(
    "audio_stt_streaming_token_latency_seconds",
    "Delay between audio arriving and the partial/final transcript that covers it",
    buckets=TOKEN_BUCKETS,
)
JOBS = Counter("audio_stt_jobs", "Job lifecycle events", ("event",))
ACTIVE_WORKERS = Gauge("audio_stt_active_workers", "Workers currently running", ("pool",))
INFERENCE_IN_FLIGHT = Gauge(
    "audio_stt_inference_in_flight", "Inferences admitted to the pool (running or waiting)"
)
DEPENDENCY_UP = Gauge(
    "audio_stt_dependency_up",
    "Whether the last call to a shared dependency succeeded (1) or failed (0)",
    ("dependency",),
)
DEPENDENCY_ERRORS = Counter(
    "audio_stt_dependency_errors",
    "Failed calls to a shared dependency, by operation",
    ("dependency", "operation"),
)
WEBHOOK_DELIVERIES = Counter(
    "audio_stt_webhook_deliveries", "Webhook events enqueued and attempts, by outcome", ("outcome",)
)
SUMMARIES = Counter("audio_stt_summaries", "Summaries made, by outcome (ok, failed)", ("outcome",))
SUMMARY_CALLS = Counter(
    "audio_stt_summary_calls",
    "Chat completions asked for summaries, by step (map, reduce)",
    ("step",),
)
WEBHOOK_PENDING = Gauge(
    "audio_stt_webhook_outbox_pending", "Webhook events not yet delivered or given up"
)

_LABEL = re.compile(r"^[A-Za-z0-9_.:+-]{1,64}$")


def bounded(value: str | None, *, fallback: str = "other") -> str:
    """A safe label value: short names pass, anything path-like or odd becomes ``fallback``."""
    if value and _LABEL.match(value) and "/" not in value:
        return value
    return fallback


def record_request(route: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route, method).observe(seconds)


def record_error(reason: str | None) -> None:
    ERRORS.labels(bounded(reason, fallback="unknown")).inc()


def record_rate_limited(scope: str) -> None:
    RATE_LIMITED.labels(bounded(scope)).inc()


def observe_queue_wait(queue: str, seconds: float) -> None:
    QUEUE_WAIT.labels(bounded(queue)).observe(max(0.0, seconds))


def observe_transcription(
    provider: str, model: str, *, audio_seconds: float, processing_seconds: float
) -> None:
    labels = (bounded(provider), bounded(model, fallback="custom"))
    PROCESSING.labels(*labels).observe(max(0.0, processing_seconds))
    AUDIO_SECONDS.labels(*labels).inc(max(0.0, audio_seconds))
    if audio_seconds > 0:
        REAL_TIME_FACTOR.labels(*labels).observe(processing_seconds / audio_seconds)


def record_fallback(from_provider: str, to_provider: str, reason: str) -> None:
    FALLBACKS.labels(bounded(from_provider), bounded(to_provider), bounded(reason)).inc()


def streaming_session_started(protocol: str) -> None:
    """``protocol``: ``native`` (the gateway's WebSocket protocol) or ``realtime`` (OpenAI's)."""
    STREAMING_ACTIVE.inc()
    STREAMING_STARTED.labels(bounded(protocol)).inc()


def streaming_session_ended(outcome: str, protocol: str) -> None:
    """``outcome``: ``completed``, ``client_closed``, ``error``, ``rejected`` ..."""
    STREAMING_ACTIVE.dec()
    STREAMING_ENDED.labels(bounded(outcome), bounded(protocol)).inc()


def observe_token_latency(seconds: float) -> None:
    TOKEN_LATENCY.observe(max(0.0, seconds))


def record_job_event(event: str) -> None:
    JOBS.labels(bounded(event)).inc()


def record_webhook(outcome: str) -> None:
    WEBHOOK_DELIVERIES.labels(bounded(outcome)).inc()


def record_summary(outcome: str) -> None:
    SUMMARIES.labels(bounded(outcome)).inc()


def record_summary_call(step: str) -> None:
    SUMMARY_CALLS.labels(bounded(step)).inc()


def set_webhook_pending(count: int) -> None:
    WEBHOOK_PENDING.set(count)


def worker_started(pool: str) -> None:
    ACTIVE_WORKERS.labels(bounded(pool)).inc()


def worker_stopped(pool: str) -> None:
    ACTIVE_WORKERS.labels(bounded(pool)).dec()


def set_dependency_up(dependency: str, up: bool) -> None:
    DEPENDENCY_UP.labels(bounded(dependency)).set(1 if up else 0)


def record_dependency_error(dependency: str, operation: str) -> None:
    DEPENDENCY_ERRORS.labels(bounded(dependency), bounded(operation)).inc()


class GpuMemoryCollector(Collector):
    """``audio_stt_gpu_memory_bytes`` via NVML (``nvidia-ml-py``) when a CUDA GPU is present."""

    def __init__(self) -> None:
        self._nvml: Any = None
        self._ready: bool | None = None

    def _init(self) -> bool:
        if self._ready is None:
            self._ready = False
            try:
                import pynvml  # type: ignore[import-not-found]
            except ImportError:
                return False
            try:
                pynvml.nvmlInit()
            except pynvml.NVMLError:  # no driver or no GPU
                return False
            self._nvml, self._ready = pynvml, True
        return self._ready

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "audio_stt_gpu_memory_bytes", "GPU memory by device", labels=("device", "kind")
        )
        if self._init():
            nvml = self._nvml
            for index in range(nvml.nvmlDeviceGetCount()):
                info = nvml.nvmlDeviceGetMemoryInfo(nvml.nvmlDeviceGetHandleByIndex(index))
                family.add_metric((str(index), "used"), float(info.used))
                family.add_metric((str(index), "total"), float(info.total))
        yield family


REGISTRY.register(GpuMemoryCollector())
