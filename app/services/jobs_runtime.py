"""The jobs side of a running gateway: database, queue, job service, embedded worker."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from app.core.config import Settings
from app.db.database import Database
from app.db.notify import PgListener
from app.services.audio_store import AudioStore
from app.services.inference import InferenceRunner
from app.services.job_worker import build_runner, loop_bridge, open_database, queue_config
from app.services.jobs import JobService
from app.services.pipeline import TranscriptionPipeline
from schemas.jobs import Pool
from workers.runner import WorkerRunner
from workers.sdk import JobQueue

EMBEDDED_GRACE_S = 5.0


@dataclass
class JobsRuntime:
    settings: Settings
    db: Database
    listener: PgListener | None
    queue: JobQueue
    service: JobService
    worker: WorkerRunner | None = None

    @classmethod
    def open(cls, settings: Settings) -> JobsRuntime:
        db, listener = open_database(settings)
        queue = JobQueue(db, queue_config(settings))
        service = JobService(settings, queue, AudioStore.from_settings(settings))
        return cls(settings, db, listener, queue, service)

    def start_embedded_worker(
        self,
        pipeline: TranscriptionPipeline,
        runner: InferenceRunner,
        loop: asyncio.AbstractEventLoop,
        *,
        wrap: Callable[[WorkerRunner], WorkerRunner] | None = None,
    ) -> None:
        """``STT_EMBEDDED_WORKER``: an in-process worker sharing the inference pool."""
        if not self.settings.embedded_worker:
            return
        worker = build_runner(
            self.settings,
            self.db,
            pipeline,
            pool=Pool.ANY,
            concurrency=self.settings.embedded_worker_concurrency,
            infer=loop_bridge(runner, loop),
        )
        self.worker = wrap(worker) if wrap else worker
        self.worker.start()

    def close(self) -> None:
        if self.worker is not None:
            grace = min(self.settings.worker_shutdown_grace_s, EMBEDDED_GRACE_S)
            self.worker.stop(grace)
            self.worker = None
        if self.listener is not None:
            self.listener.stop()
        self.db.dispose()
        logger.debug("jobs runtime closed")
