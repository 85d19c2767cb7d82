"""What the job and media APIs ask for: submit, look up, list, cancel, delete, read results.

Every method takes the caller's owner id and scopes every read and write by it. Methods are
blocking (short database transactions); routes call them from a worker thread. Submissions,
cancellations and deletions write an audit event (with the acting user) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from app.core.config import Settings
from app.core.limits import enforce_job_cap
from app.db.ids import utcnow
from app.db.media_repo import MediaRepository
from app.services.jobs.audio_store import AudioStore, StoredAudio
from app.services.jobs.media import MediaWriter, transcript_of
from app.services.jobs.retention import AudioJanitor
from app.services.jobs.webhooks import WebhookOutbox
from schemas.errors import InvalidRequest, NotFound
from schemas.jobs import (
    Job,
    JobStatus,
    NewJob,
    Pool,
    TranscriptionPayload,
)
from schemas.media import AuditEvent, Media
from schemas.summary import Summary
from schemas.transcript import Transcript
from schemas.webhooks import WebhookPublic
from workers.sdk import JobQueue

KIND = "transcription"


@dataclass(frozen=True)
class JobRequest:
    """A validated submission (the audio is referenced by ``payload.source``)."""

    payload: TranscriptionPayload
    pool: Pool = Pool.ANY
    priority: int = 0
    max_attempts: int | None = None


class JobService:
    def __init__(self, settings: Settings, queue: JobQueue, store: AudioStore) -> None:
        self.settings = settings
        self.queue = queue
        self.store = store
        self.media = MediaRepository()
        self.janitor = AudioJanitor(store, self.media)
        self.webhooks = WebhookOutbox(settings, queue.db)

    # -- jobs -----------------------------------------------------------------------------
    def submit_upload(
        self,
        owner: str,
        request: JobRequest,
        upload: Path,
        idempotency_key: str | None = None,
    ) -> tuple[Job, bool]:
        """Store ``upload`` and :meth:`submit` its job (``request``'s source names the file).

        Nothing is left behind: if no new job references the stored audio (the job cap was
        reached meanwhile, the database failed, or a concurrent request with the same key won),
        the file is removed again, unless it was stored before or a job or media row uses the
        same bytes. One window stays open, as for :meth:`delete_media`: a concurrent upload of
        the same new bytes whose job is not committed yet when the file is removed.
        """
        stored = self.store.put(upload)
        source = request.payload.source.model_copy(
            update={"audio_ref": stored.ref, "content_hash": stored.sha256}
        )
        request = replace(request, payload=request.payload.model_copy(update={"source": source}))
        referenced = False
        try:
            job, created = self.submit(owner, request, idempotency_key)
            referenced = created
        finally:
            if not referenced:
                self._discard(stored)
        return job, created

    def _discard(self, stored: StoredAudio) -> None:
        """Remove audio this request stored if no job or media row references it."""
        if not stored.created:  # the bytes were there already: another upload's
            return
        with self.queue.db.read() as conn:
            orphan = self.janitor.orphaned(conn, stored.ref)
        self.janitor.remove(orphan)

    def admit(self, owner: str, idempotency_key: str | None = None) -> Job | None:
        """Before an upload is read or stored: the job a replayed ``idempotency_key`` already
        names (answered even at the job cap), else ``None`` once ``owner`` is under the cap
        (:meth:`submit` checks again in its transaction)."""
        with self.queue.db.read() as conn:
            if idempotency_key is not None:
                existing = self.queue.jobs.by_idempotency_key(conn, owner, idempotency_key)
                if existing is not None:
                    return existing
            enforce_job_cap(self.queue.jobs.count_active(conn, owner), self.settings)
        return None

    def submit(
        self, owner: str, request: JobRequest, idempotency_key: str | None = None
    ) -> tuple[Job, bool]:
        """Enqueue; with an idempotency key already used by ``owner``, return that job.

        Raises :class:`RateLimited` when ``owner`` already has ``STT_MAX_ACTIVE_JOBS_PER_USER``
        queued or leased jobs (a replayed idempotency key is answered even then), and
        :class:`InvalidRequest` for a ``callback_url`` the gateway may not call or sign.
        """
        self.webhooks.check(request.payload.webhook)
        new = NewJob(
            owner=owner,
            kind=KIND,
            payload=request.payload.model_dump(mode="json"),
            pool=request.pool,
            priority=request.priority,
            max_attempts=request.max_attempts or self.settings.job_max_attempts,
            idempotency_key=idempotency_key,
            audio_ref=request.payload.source.audio_ref,
        )
        db = self.queue.db
        try:
            with db.write() as conn:
                if idempotency_key is not None:
                    existing = self.queue.jobs.by_idempotency_key(conn, owner, idempotency_key)
                    if existing is not None:
                        return existing, False
                enforce_job_cap(self.queue.jobs.count_active(conn, owner), self.settings)
                job = self.queue.enqueue_in(conn, new)
                actor = request.payload.audit.get("actor")
                self._audit(conn, owner, "created", actor, job_id=job.id)
        except IntegrityError:  # a concurrent submission with the same key won the race
            assert idempotency_key is not None
            with db.read() as conn:
                existing = self.queue.jobs.by_idempotency_key(conn, owner, idempotency_key)
            if existing is None:
                raise
            return existing, False
        self.queue.signal()
        return job, True

    def _audit(
        self,
        conn: Connection,
        owner: str,
        event: str,
        actor: str | None,
        details: dict[str, Any] | None = None,
        *,
        job_id: str | None = None,
        media_id: str | None = None,
    ) -> None:
        self.media.add_event(
            conn,
            owner=owner,
            event=event,
            job_id=job_id,
            media_id=media_id,
            actor=actor or owner,
            details=details,
            now=utcnow(),
        )

    def get(self, owner: str, job_id: str) -> Job:
        with self.queue.db.read() as conn:
            job = self.queue.jobs.get(conn, job_id, owner)
        if job is None:
            raise NotFound(f"no job with id '{job_id}'", param="id", code="job_not_found")
        return job

    def webhook_of(self, owner: str, job_id: str) -> WebhookPublic | None:
        """The job's latest webhook event and its delivery state (None before one exists)."""
        return self.webhooks.latest(owner, job_id)

    def list_jobs(
        self, owner: str, *, statuses: Sequence[JobStatus], limit: int, before: str | None
    ) -> list[Job]:
        with self.queue.db.read() as conn:
            return self.queue.jobs.list_owned(
                conn, owner, statuses=statuses, limit=limit, before=before
            )

    def cancel(self, owner: str, job_id: str, actor: str | None = None) -> Job:
        with self.queue.db.write() as conn:
            job = self.queue.cancel_in(conn, job_id, owner)
            details = {"status": job.status.value}
            self._audit(conn, owner, "cancelled", actor, details, job_id=job.id)
        self.queue.signal()  # a job that ended now has a webhook event to deliver
        return job

    def result_media(self, owner: str, job: Job) -> Media:
        """A succeeded job's media row (its transcript and summary); 400 before that."""
        if job.status is not JobStatus.SUCCEEDED or job.media_id is None:
            raise InvalidRequest(
                f"job {job.id} is {job.status.value}; its transcript is not available",
                param="id",
                code="job_not_finished",
            )
        return self.get_media(owner, job.media_id)

    def transcript(self, owner: str, job: Job) -> Transcript:
        return transcript_of(self.result_media(owner, job))

    def result_of(self, owner: str, job: Job) -> Media | None:
        """A succeeded job's media row; None before that, or once its media was deleted."""
        if job.status is not JobStatus.SUCCEEDED or job.media_id is None:
            return None
        with self.queue.db.read() as conn:
            return self.media.get(conn, job.media_id, owner)

    # -- media ----------------------------------------------------------------------------
    def get_media(self, owner: str, media_id: str) -> Media:
        with self.queue.db.read() as conn:
            media = self.media.get(conn, media_id, owner)
        if media is None:
            raise NotFound(f"no media with id '{media_id}'", param="id", code="media_not_found")
        return media

    def list_media(self, owner: str, *, limit: int, before: str | None) -> list[Media]:
        with self.queue.db.read() as conn:
            return self.media.list_owned(conn, owner, limit=limit, before=before)

    def delete_media(self, owner: str, media_id: str, actor: str | None = None) -> Media:
        """Delete the media row, its transcript chunks and, unless another job or media row
        still uses it, its stored audio file (after the transaction commits)."""
        with self.queue.db.write() as conn:
            media = self.media.delete(conn, media_id, owner)
            orphan = self.janitor.orphaned(conn, media.audio_ref)
            details = {"source": media.source, "audio": "deleted" if orphan else "kept"}
            self._audit(conn, owner, "deleted", actor, details, media_id=media.id)
        self.janitor.remove(orphan)
        return media

    def save_summary(
        self, owner: str, media_id: str, transcript: Transcript, summary: Summary, actor: str
    ) -> Media:
        """Store a summary made on demand (and ``transcript``, its warnings updated) on the
        owner's media row, with a ``summarized`` audit event; 404 if the row is gone."""
        with self.queue.db.write() as conn:
            return MediaWriter(self.media).save_summary(
                conn,
                media_id=media_id,
                owner=owner,
                transcript=transcript,
                summary=summary,
                actor=actor,
                now=utcnow(),
            )

    def media_events(self, owner: str, media_id: str) -> list[AuditEvent]:
        with self.queue.db.read() as conn:
            return self.media.events(conn, owner, media_id=media_id)
