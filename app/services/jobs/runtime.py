"""The jobs side of a running gateway: database, queue, job service and (optionally) a worker
in this process. Built by ``app.bootstrap``; closing it stops the worker first."""

from __future__ import annotations

from dataclasses import dataclass

from loguru import logger

from app.core.config import Settings
from app.db.database import Database
from app.db.notify import PgListener
from app.services.jobs.service import JobService
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

    def start_worker(self, worker: WorkerRunner) -> None:
        self.worker = worker
        worker.start()

    def close(self) -> None:
        if self.worker is not None:
            grace = min(self.settings.worker_shutdown_grace_s, EMBEDDED_GRACE_S)
            self.worker.stop(grace)
            self.worker = None
        if self.listener is not None:
            self.listener.stop()
        self.db.dispose()
        logger.debug("jobs runtime closed")
