"""Assemble the job machinery: database + migrations, queue, handler, worker runner.

Used by ``serve`` (the embedded in-process worker, sharing the gateway's inference pool) and
by ``stt-gateway worker`` (a fleet member with its own threads).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

from loguru import logger

from app.core import metrics
from app.core.config import Settings
from app.db.database import NOTIFY_CHANNEL, Database
from app.db.migrate import upgrade
from app.db.notify import PgListener
from app.services.audio_store import AudioStore
from app.services.inference import InferenceRunner
from app.services.job_handler import Infer, TranscriptionHandler, call_directly
from app.services.pipeline import TranscriptionPipeline
from schemas.errors import ServiceUnavailable
from schemas.jobs import Pool
from workers.runner import WorkerRunner
from workers.sdk import JobQueue, QueueConfig

T = TypeVar("T")
CAPACITY_RETRY_S = 0.5


def open_database(settings: Settings) -> tuple[Database, PgListener | None]:
    """Connect, migrate to head, and listen for wake-ups when the backend can deliver them."""
    db = Database(settings.resolved_database_url)
    upgrade(db)
    listener = None
    if db.dialect.notify:
        listener = PgListener(db.libpq_url, NOTIFY_CHANNEL, db.wakeup)
        listener.start()
    return db, listener


def queue_config(settings: Settings) -> QueueConfig:
    return QueueConfig(
        lease_seconds=settings.job_lease_seconds,
        retry_base_s=settings.job_retry_base_s,
        retry_max_s=settings.job_retry_max_s,
    )


def loop_bridge(runner: InferenceRunner, loop: asyncio.AbstractEventLoop) -> Infer:
    """Run worker-thread inference in the gateway's bounded pool (shared with REST requests).

    When the pool's wait queue is full the job waits its turn instead of failing.
    """

    def infer(fn: Callable[..., T], *args: object) -> T:
        while True:
            future = asyncio.run_coroutine_threadsafe(runner.run(fn, *args), loop)
            try:
                return future.result()[0]
            except ServiceUnavailable as exc:
                if exc.code != "capacity_exhausted":
                    raise
                time.sleep(CAPACITY_RETRY_S)

    return infer


def check_gpu(settings: Settings, pool: Pool) -> None:
    """A GPU worker without CUDA runs on the CPU (int8), said once with a log line and a metric.
    With CUDA, out-of-memory and CUDA errors fall back per request to faster-whisper's CPU twin
    in the registry's chain."""
    if pool is not Pool.GPU or settings.force_cpu:
        return
    from providers.faster_whisper.provider import cuda_device_count

    if cuda_device_count() == 0:
        logger.warning("GPU worker: no CUDA device found; transcribing on CPU (int8) instead")
        metrics.record_fallback("cuda", "cpu", "cuda_missing")


def build_runner(
    settings: Settings,
    db: Database,
    pipeline: TranscriptionPipeline,
    *,
    pool: Pool,
    concurrency: int,
    infer: Infer = call_directly,
) -> WorkerRunner:
    queue = JobQueue(db, queue_config(settings))
    handler = TranscriptionHandler(
        settings=settings,
        queue=queue,
        pipeline=pipeline,
        store=AudioStore.from_settings(settings),
        infer=infer,
    )
    return WorkerRunner(
        queue,
        handler,
        pool=pool,
        concurrency=concurrency,
        poll_s=settings.worker_poll_s,
        grace_s=settings.worker_shutdown_grace_s,
    )
