"""Job events for webhooks: check a callback at submission, write its event at a terminal state.

:meth:`WebhookOutbox.record` is the job queue's ``on_terminal`` hook: it runs inside the
transaction that ends the job, so the outbox row exists exactly when the terminal state does (a
gateway killed right after completion still delivers after its restart). The event body is
frozen there: every retry sends the same bytes and the same event id. Delivery is
:mod:`app.services.jobs.webhook_delivery`'s job.

Event body::

    {"id": "evt_...", "type": "job.succeeded", "created_at": "...Z",
     "data": {"job_id": ..., "status": ..., "media_id": ..., "error": null | {...},
              "links": {"job": ..., "result": ..., "media": ...},
              "transcript": "..."}}      # only with callback_include_transcript
"""

from __future__ import annotations

import json
from typing import Any

from loguru import logger
from sqlalchemy.engine import Connection

from app.core import metrics
from app.core.config import Settings
from app.db.database import Database
from app.db.ids import new_id, utcnow
from app.db.media_repo import MediaRepository
from app.db.webhooks_repo import WebhookRepository
from app.services.jobs.url_ingest import UrlPolicy
from schemas.errors import InvalidRequest
from schemas.jobs import Job, JobStatus
from schemas.webhooks import WebhookPublic, WebhookSpec, redact_url

EVENT_TYPES = {
    JobStatus.SUCCEEDED: "job.succeeded",
    JobStatus.FAILED: "job.failed",
    JobStatus.DEAD: "job.dead",
    JobStatus.CANCELLED: "job.cancelled",
}
NOTIFY_PAYLOAD = "webhook"


class WebhookOutbox:
    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.repo = WebhookRepository(db.dialect)
        self.media = MediaRepository()

    # -- at submission --------------------------------------------------------------------
    def check(self, spec: WebhookSpec | None) -> None:
        """Refuse a callback the gateway could not sign or may not call (blocking: DNS)."""
        if spec is None:
            return
        if self.settings.webhook_secret is None:
            raise InvalidRequest(
                "callback_url needs webhook signing, which this gateway has not configured "
                "(the operator sets STT_WEBHOOK_SECRET)",
                param="callback_url",
                code="webhooks_not_configured",
            )
        try:
            UrlPolicy.from_settings(self.settings).check(spec.url)
        except InvalidRequest as exc:
            raise InvalidRequest(exc.message, param="callback_url", code=exc.code) from None

    # -- at the terminal state (the queue's on_terminal hook) -----------------------------
    def spec_for(self, job: Job) -> WebhookSpec | None:
        """The job's own callback, else the operator's ``STT_WEBHOOK_DEFAULT_URL``."""
        own = job.payload.get("webhook")
        if own is not None:
            return WebhookSpec.model_validate(own)
        if self.settings.webhook_default_url:
            return WebhookSpec(url=self.settings.webhook_default_url)
        return None

    def record(self, conn: Connection, job: Job) -> None:
        """Write ``job``'s event to the outbox in the caller's (terminal) transaction."""
        spec = self.spec_for(job)
        if spec is None:
            return
        event_id, now = new_id("evt"), utcnow()
        event_type = EVENT_TYPES[job.status]
        event = {
            "id": event_id,
            "type": event_type,
            "created_at": now.isoformat().replace("+00:00", "Z"),
            "data": self._data(conn, job, spec),
        }
        self.repo.insert(
            conn,
            event_id=event_id,
            job_id=job.id,
            owner=job.owner,
            url=spec.url,
            event_type=event_type,
            body=json.dumps(event, separators=(",", ":"), ensure_ascii=False),
            max_attempts=self.settings.webhook_max_attempts,
            now=now,
        )
        self.db.notify_channel(conn, NOTIFY_PAYLOAD)  # wakes every gateway's delivery loop
        metrics.record_webhook("enqueued")
        logger.debug("job {}: {} {} for {}", job.id, event_type, event_id, redact_url(spec.url))

    def _data(self, conn: Connection, job: Job, spec: WebhookSpec) -> dict[str, Any]:
        data: dict[str, Any] = {
            "job_id": job.id,
            "status": job.status.value,
            "media_id": job.media_id,
            "error": job.error.model_dump() if job.error else None,
            "links": self._links(job),
        }
        if spec.include_transcript and job.media_id is not None:
            media = self.media.get(conn, job.media_id, job.owner)
            data["transcript"] = media.transcript if media is not None else None
        return data

    def _links(self, job: Job) -> dict[str, str]:
        """API paths, absolute under ``STT_PUBLIC_BASE_URL`` when it is set."""
        base = (self.settings.public_base_url or "").rstrip("/")
        links = {"job": f"{base}/v1/audio/jobs/{job.id}"}
        if job.status is JobStatus.SUCCEEDED:
            links["result"] = f"{base}/v1/audio/jobs/{job.id}/result"
        if job.media_id is not None:
            links["media"] = f"{base}/v1/media/{job.media_id}"
        return links

    # -- on the job -----------------------------------------------------------------------
    def latest(self, owner: str, job_id: str) -> WebhookPublic | None:
        with self.db.read() as conn:
            delivery = self.repo.latest_for_job(conn, job_id, owner)
        return WebhookPublic.of(delivery) if delivery is not None else None
