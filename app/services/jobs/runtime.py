"""The jobs side of a running gateway: database, queue, job service, and (in ``serve``) the
webhook delivery loop and a worker in this process. Built by ``app.bootstrap``; closing it stops
the worker first, then webhook delivery (so the worker's last events are still attempted)."""

from __future__ import annotations

from dataclasses import dataclass

from loguru import logger

from app.core.config import Settings
from app.db.database import Database
from app.db.notify import PgListener
from app.services.jobs.service import JobService
from app.services.jobs.webhook_delivery import WebhookDispatcher
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
    webhooks: WebhookDispatcher | None = None

    def start_worker(self, worker: WorkerRunner) -> None:
        self.worker = worker
        worker.start()

    def start_webhooks(self, dispatcher: WebhookDispatcher) -> None:
        self.webhooks = dispatcher
        dispatcher.start()

    def close(self) -> None:
        if self.worker is not None:
            grace = min(self.settings.worker_shutdown_grace_s, EMBEDDED_GRACE_S)
            self.worker.stop(grace)
            self.worker = None
        if self.webhooks is not None:
            self.webhooks.stop()
            self.webhooks = None
        if self.listener is not None:
            self.listener.stop()
        self.db.dispose()
        logger.debug("jobs runtime closed")
