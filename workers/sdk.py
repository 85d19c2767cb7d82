"""Worker SDK: enqueue, lease, renew, complete and fail jobs on the shared Jobs table.

A :class:`Lease` is the worker's claim on one job; its ``lease_id`` is the completion token.
Every write after leasing is fenced by job id + worker id + lease id + an unexpired lease: a
worker whose lease expired, or was reclaimed and handed to another worker, gets
:class:`~schemas.errors.LeaseLost` and its write changes nothing.

Long jobs are split into chunks (``job_chunks``) with the same protocol: the job's worker plans
them (:meth:`JobQueue.plan_chunks`), any worker of a matching pool leases one
(:meth:`JobQueue.lease_chunk`; the leased :class:`~schemas.jobs.JobChunk` carries its worker id
and lease id), renews it and finishes it, fenced like a job. Job and chunk leases run for the
same ``lease_seconds``.

Every terminal transition (complete, fail for good, cancel, reclaim as ``dead``/``cancelled``)
calls the queue's ``on_terminal`` hook in the same transaction as the terminal write (the
gateway writes its webhook outbox row there), then wakes this process's waiters.

Failures are classified once (:func:`classify`): retriable errors go back to the queue after an
exponential backoff with jitter until ``max_attempts`` is spent (then ``dead``); fatal errors end
the job as ``failed`` at once.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from loguru import logger
from sqlalchemy.engine import Connection

from app.core import metrics
from app.db.chunks_repo import ChunkRepository
from app.db.database import Database
from app.db.ids import new_token, utcnow
from app.db.jobs_repo import JobRepository
from schemas.errors import GatewayError, ProviderError, RateLimited, ServiceUnavailable
from schemas.jobs import ChunkStatus, Job, JobChunk, JobError, JobStatus, Lease, NewJob, Pool

PersistFn = Callable[[Connection], "str | None"]
TerminalFn = Callable[[Connection, Job], None]


@dataclass(frozen=True)
class QueueConfig:
    lease_seconds: float = 60.0
    retry_base_s: float = 5.0
    retry_max_s: float = 600.0

    @property
    def heartbeat_s(self) -> float:
        """Renew three times per lease period, so one missed beat is harmless."""
        return self.lease_seconds / 3

    @property
    def reclaim_every_s(self) -> float:
        return min(self.lease_seconds / 4, 5.0)


def classify(exc: BaseException) -> JobError:
    """Decide once whether a failure is worth retrying."""
    if isinstance(exc, ProviderError):
        retriable = exc.retriable
    elif isinstance(exc, ServiceUnavailable | RateLimited):
        retriable = True
    elif isinstance(exc, GatewayError):
        retriable = False  # bad input, unsupported option, ...: retrying cannot help
    else:
        return JobError(
            message=f"{type(exc).__name__}: {exc}", code="internal_error", retriable=True
        )
    return JobError(message=exc.message, code=exc.code, retriable=retriable)


class JobQueue:
    """The queue as producers and workers see it. Each method is one short transaction."""

    def __init__(
        self,
        db: Database,
        config: QueueConfig | None = None,
        *,
        on_terminal: TerminalFn | None = None,
    ) -> None:
        self.db = db
        self.config = config or QueueConfig()
        self.on_terminal = on_terminal
        self.jobs = JobRepository(db.dialect)
        self.chunks = ChunkRepository(db.dialect)
        self._last_reclaim = 0.0

    # -- producers ------------------------------------------------------------------------
    def enqueue(self, new: NewJob) -> Job:
        with self.db.write() as conn:
            job = self.enqueue_in(conn, new)
        self.signal()
        return job

    def enqueue_many(self, news: Sequence[NewJob]) -> list[Job]:
        """Bulk enqueue in one transaction (one INSERT, one wake-up)."""
        with self.db.write() as conn:
            created = self.jobs.insert_many(conn, news, utcnow())
            for pool in sorted({job.pool.value for job in created}):
                self.db.notify_channel(conn, pool)
        for _ in created:
            metrics.record_job_event("created")
        self.signal()
        return created

    def enqueue_in(self, conn: Connection, new: NewJob) -> Job:
        """Enqueue inside the caller's transaction; call :meth:`signal` after it commits."""
        job = self.jobs.insert(conn, new, utcnow())
        self.db.notify_channel(conn, job.pool.value)
        metrics.record_job_event("created")
        return job

    def signal(self) -> None:
        """Wake this process's idle workers (other processes hear PostgreSQL NOTIFY)."""
        self.db.wakeup.notify()

    def _ended(self, conn: Connection, job: Job) -> None:
        """Run the ``on_terminal`` hook inside the terminal write's transaction."""
        if job.status.terminal and self.on_terminal is not None:
            self.on_terminal(conn, job)

    def get(self, job_id: str) -> Job | None:
        with self.db.read() as conn:
            return self.jobs.get(conn, job_id)

    # -- workers --------------------------------------------------------------------------
    def _until(self, now: datetime) -> datetime:
        """The deadline of a job or chunk lease taken or renewed at ``now``."""
        return now + timedelta(seconds=self.config.lease_seconds)

    def reclaim_expired(self) -> int:
        with self.db.write() as conn:
            reclaimed = self.jobs.reclaim_expired(conn, utcnow())
            for job in reclaimed:
                self._ended(conn, job)
        self._last_reclaim = time.monotonic()
        count = len(reclaimed)
        if count:
            logger.warning("reclaimed {} job(s) whose worker lease expired", count)
            metrics.record_job_event("reclaimed")
            self.signal()
        return count

    def lease(
        self, worker_id: str, pools: Sequence[Pool], kinds: Sequence[str] | None = None
    ) -> Lease | None:
        """Claim the most urgent ready job of ``pools`` (and ``kinds``), or ``None``."""
        if time.monotonic() - self._last_reclaim >= self.config.reclaim_every_s:
            self.reclaim_expired()
        lease_id = new_token()
        now = utcnow()
        with self.db.write() as conn:
            job = self.jobs.lease(
                conn,
                pools=pools,
                kinds=kinds,
                worker_id=worker_id,
                lease_id=lease_id,
                now=now,
                until=self._until(now),
            )
        if job is None:
            return None
        metrics.record_job_event("leased")
        metrics.observe_queue_wait("jobs", (now - job.available_at).total_seconds())
        logger.debug("{} leased {} (attempt {})", worker_id, job.id, job.attempts)
        return Lease(job=job, worker_id=worker_id, lease_id=lease_id)

    def renew(self, lease: Lease) -> Job:
        """Extend the lease. The returned job says whether cancellation was requested."""
        now = utcnow()
        with self.db.write() as conn:
            return self.jobs.renew(conn, lease, now, self._until(now))

    def update_payload(
        self, lease: Lease, payload: dict[str, object], *, audio_ref: str | None = None
    ) -> Job:
        """Replace the job's payload (e.g. once a URL job's audio is stored), lease-fenced."""
        with self.db.write() as conn:
            return self.jobs.update_payload(conn, lease, utcnow(), payload, audio_ref=audio_ref)

    def progress(self, lease: Lease, done: int, total: int) -> Job:
        with self.db.write() as conn:
            return self.jobs.progress(conn, lease, utcnow(), done=done, total=total)

    def enter_stage(self, lease: Lease, stage: str) -> Job:
        """Record that the job entered ``stage`` (streamed by ``/events``), lease-fenced."""
        with self.db.write() as conn:
            return self.jobs.enter_stage(conn, lease, utcnow(), stage)

    def complete(
        self,
        lease: Lease,
        result: dict[str, object] | None = None,
        *,
        persist: PersistFn | None = None,
    ) -> Job:
        """Finish the job; ``persist`` writes its side effects in the same transaction.

        If the lease is no longer held, :class:`LeaseLost` is raised and nothing is written.
        """
        with self.db.write() as conn:
            media_id = persist(conn) if persist is not None else None
            job = self.jobs.complete(conn, lease, utcnow(), result=result, media_id=media_id)
            self._ended(conn, job)
        metrics.record_job_event("succeeded")
        self.signal()
        return job

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: ``base * 2**(attempt-1)``, scaled by 0.5-1.0."""
        ceiling = min(self.config.retry_max_s, self.config.retry_base_s * 2 ** max(0, attempt - 1))
        return ceiling * random.uniform(0.5, 1.0)

    def fail(self, lease: Lease, error: JobError, *, on_terminal: TerminalFn | None = None) -> Job:
        """Retry later (retriable, attempts left) or end the job as ``dead``/``failed``."""
        now = utcnow()
        attempts = lease.job.attempts
        retry_at = None
        if error.retriable and attempts < lease.job.max_attempts:
            retry_at = now + timedelta(seconds=self.backoff(attempts))
        with self.db.write() as conn:
            job = self.jobs.fail(conn, lease, now, error=error, retry_at=retry_at)
            if job.status.terminal and on_terminal is not None:
                on_terminal(conn, job)
            self._ended(conn, job)
        if job.status.terminal:
            self.signal()
        metrics.record_job_event("retried" if job.status is JobStatus.QUEUED else job.status.value)
        logger.log(
            "WARNING" if job.status.terminal else "INFO",
            "job {} attempt {}/{} failed ({}): {} -> {}",
            job.id,
            attempts,
            job.max_attempts,
            error.code,
            error.message,
            job.status.value,
        )
        return job

    def release(self, lease: Lease) -> Job:
        """Hand the job back untouched (graceful shutdown); the attempt is not counted."""
        with self.db.write() as conn:
            job = self.jobs.release(conn, lease, utcnow())
        self.signal()
        return job

    def acknowledge_cancel(self, lease: Lease) -> Job:
        with self.db.write() as conn:
            job = self.jobs.acknowledge_cancel(conn, lease, utcnow())
            self._ended(conn, job)
        metrics.record_job_event("cancelled")
        self.signal()
        return job

    def cancel(self, job_id: str, owner: str) -> Job:
        with self.db.write() as conn:
            job = self.cancel_in(conn, job_id, owner)
        self.signal()
        return job

    def cancel_in(self, conn: Connection, job_id: str, owner: str) -> Job:
        """Cancel inside the caller's transaction: a queued job ends now, a leased one is
        flagged and stops at its worker's next checkpoint. Call :meth:`signal` after it commits."""
        job = self.jobs.cancel(conn, job_id, owner, utcnow())
        self._ended(conn, job)
        metrics.record_job_event(
            "cancelled" if job.status is JobStatus.CANCELLED else "cancel_requested"
        )
        return job

    def wakeup_mark(self) -> int:
        """The wake-up counter now; pass it to :meth:`wait_for_work` to miss no signal."""
        return self.db.wakeup.mark()

    def wait_for_work(self, since: int, timeout: float) -> bool:
        return self.db.wakeup.wait(since, timeout)

    # -- chunks of long jobs --------------------------------------------------------------
    def plan_chunks(self, lease: Lease, spans: Sequence[tuple[float, float]]) -> list[JobChunk]:
        """Store the job's chunk plan unless it has one (a resumed job keeps its finished
        chunks), report the progress so far and wake workers that may help.

        Raises :class:`LeaseLost` (nothing written) if the job's lease is no longer held.
        """
        with self.db.write() as conn:
            now = utcnow()
            chunks = self.chunks.plan(conn, lease.job_id, spans, now)
            done = sum(c.status is ChunkStatus.DONE for c in chunks)
            self.jobs.progress(conn, lease, now, done=done, total=len(chunks))
            self.db.notify_channel(conn, lease.job.pool.value)
        self.signal()
        return chunks

    def chunks_of(self, job_id: str) -> list[JobChunk]:
        with self.db.read() as conn:
            return self.chunks.for_job(conn, job_id)

    def lease_chunk(
        self, worker_id: str, pools: Sequence[Pool], job_id: str | None = None
    ) -> JobChunk | None:
        """Claim a pending (or abandoned) chunk of ``job_id``, or of any running job of
        ``pools``, or ``None``. The chunk's ``lease_id`` fences its renewals and finish."""
        now = utcnow()
        with self.db.write() as conn:
            return self.chunks.lease(
                conn,
                job_id=job_id,
                pools=pools,
                worker_id=worker_id,
                lease_id=new_token(),
                now=now,
                until=self._until(now),
            )

    def renew_chunk(self, chunk: JobChunk) -> JobChunk:
        """Extend the chunk's lease; :class:`LeaseLost` if it is no longer held."""
        now = utcnow()
        with self.db.write() as conn:
            return self.chunks.renew(conn, chunk, now, self._until(now))

    def finish_chunk(self, chunk: JobChunk, transcript: dict[str, Any]) -> JobChunk:
        """Save the chunk's transcript and mark it done, then wake the job's worker.

        If the lease is no longer held, :class:`LeaseLost` is raised and nothing is written.
        """
        with self.db.write() as conn:
            done = self.chunks.finish(conn, chunk, utcnow(), transcript)
            self.db.notify_channel(conn, "chunk")
        self.signal()
        return done
