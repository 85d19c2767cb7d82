"""What the job and media APIs ask for: submit, look up, list, cancel, read results.

Every method takes the caller's owner id and scopes every read and write by it. Methods are
blocking (short database transactions); routes call them from a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.exc import IntegrityError

from app.core.config import Settings
from app.db.media_repo import MediaRepository
from app.services.audio_store import AudioStore
from app.services.media import transcript_of
from schemas.errors import InvalidRequest, NotFound
from schemas.jobs import (
    AudioSource,
    Job,
    JobStatus,
    NewJob,
    Pool,
    TranscriptionPayload,
)
from schemas.media import AuditEvent, Media
from schemas.transcript import Transcript
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

    # -- jobs -----------------------------------------------------------------------------
    def store_upload(self, path: Path, filename: str) -> AudioSource:
        stored = self.store.put(path)
        return AudioSource(
            kind="upload", filename=filename, audio_ref=stored.ref, content_hash=stored.sha256
        )

    def submit(
        self, owner: str, request: JobRequest, idempotency_key: str | None = None
    ) -> tuple[Job, bool]:
        """Enqueue; with an idempotency key already used by ``owner``, return that job."""
        new = NewJob(
            owner=owner,
            kind=KIND,
            payload=request.payload.model_dump(mode="json"),
            pool=request.pool,
            priority=request.priority,
            max_attempts=request.max_attempts or self.settings.job_max_attempts,
            idempotency_key=idempotency_key,
        )
        db = self.queue.db
        try:
            with db.write() as conn:
                if idempotency_key is not None:
                    existing = self.queue.jobs.by_idempotency_key(conn, owner, idempotency_key)
                    if existing is not None:
                        return existing, False
                job = self.queue.enqueue_in(conn, new)
        except IntegrityError:  # a concurrent submission with the same key won the race
            assert idempotency_key is not None
            with db.read() as conn:
                existing = self.queue.jobs.by_idempotency_key(conn, owner, idempotency_key)
            if existing is None:
                raise
            return existing, False
        self.queue.signal()
        return job, True

    def get(self, owner: str, job_id: str) -> Job:
        with self.queue.db.read() as conn:
            job = self.queue.jobs.get(conn, job_id, owner)
        if job is None:
            raise NotFound(f"no job with id '{job_id}'", param="id", code="job_not_found")
        return job

    def list_jobs(
        self, owner: str, *, statuses: Sequence[JobStatus], limit: int, before: str | None
    ) -> list[Job]:
        with self.queue.db.read() as conn:
            return self.queue.jobs.list_owned(
                conn, owner, statuses=statuses, limit=limit, before=before
            )

    def cancel(self, owner: str, job_id: str) -> Job:
        job = self.queue.cancel(job_id, owner)
        return job

    def transcript(self, owner: str, job: Job) -> Transcript:
        if job.status is not JobStatus.SUCCEEDED or job.media_id is None:
            raise InvalidRequest(
                f"job {job.id} is {job.status.value}; its transcript is not available",
                param="id",
                code="job_not_finished",
            )
        return transcript_of(self.get_media(owner, job.media_id))

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

    def media_events(self, owner: str, media_id: str) -> list[AuditEvent]:
        with self.queue.db.read() as conn:
            return self.media.events(conn, owner, media_id=media_id)
