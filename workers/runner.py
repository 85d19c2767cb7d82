"""The worker loop: lease, heartbeat, run the handler, complete or fail; stop gracefully.

``WorkerRunner`` runs ``concurrency`` threads. Each job runs in its own log context (job id,
owner) and a ``job.run`` span that continues the submitting request's trace (the W3C carrier in
the payload's ``audit``). An idle thread waits on the wake-up signal (set
by in-process producers and by PostgreSQL NOTIFY) with ``poll_s`` as the fallback poll. On
:meth:`WorkerRunner.stop`, threads finish their current job within ``grace_s``; jobs still
running after that are released back to the queue without spending an attempt.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from loguru import logger
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from app.core import metrics, tracing
from app.core.log_context import bind, log_context
from app.db.ids import new_token
from schemas.errors import JobCancelled, LeaseLost
from schemas.jobs import Job, JobError, Lease, Pool, pools_served_by
from workers.heartbeat import Heartbeat, Tracked
from workers.sdk import JobQueue, PersistFn, classify


@dataclass
class Completion:
    """What a handler returns: a small result, and/or side effects to commit with the job.

    ``after_commit`` runs once the completion has committed (e.g. deleting files the committed
    rows no longer reference); it is skipped when the lease was lost.
    """

    result: dict[str, object] | None = None
    persist: PersistFn | None = None
    after_commit: Callable[[], None] | None = None


@dataclass
class JobContext:
    """Handed to a handler with each job: checkpoints and progress reports."""

    queue: JobQueue
    lease: Lease
    tracked: Tracked
    worker: WorkerInfo

    @property
    def job(self) -> Job:
        return self.lease.job

    def checkpoint(self) -> None:
        """Raise :class:`LeaseLost` or :class:`JobCancelled` if the work must stop now."""
        self.tracked.check()

    def progress(self, done: int, total: int) -> None:
        self.checkpoint()
        self.queue.progress(self.lease, done, total)

    def stage(self, stage: str) -> None:
        """Record that the job entered ``stage`` (a named step its event stream shows)."""
        self.checkpoint()
        self.queue.enter_stage(self.lease, stage)


@dataclass(frozen=True)
class WorkerInfo:
    worker_id: str
    pool: Pool
    heartbeat: Heartbeat = field(compare=False)
    stopping: threading.Event = field(compare=False)

    @property
    def pools(self) -> tuple[Pool, ...]:
        return pools_served_by(self.pool)


class JobHandler:
    """Subclass and implement :meth:`handle`. ``kinds`` limits which jobs are leased."""

    kinds: tuple[str, ...] | None = None

    def handle(self, ctx: JobContext) -> Completion:
        raise NotImplementedError

    def assist(self, worker: WorkerInfo) -> bool:
        """Idle-time work that is not a job of its own (e.g. a chunk of someone's long job).

        Return True when something was done, so the worker looks for more at once.
        """
        return False

    def on_terminal_failure(self, conn: Connection, job: Job) -> None:
        """Record a job that ended ``failed`` or ``dead`` (same transaction as the change)."""


def trace_carrier(job: Job) -> dict[str, str]:
    """The W3C trace context the submitting request stored in the payload's ``audit``."""
    audit = job.payload.get("audit")
    if not isinstance(audit, dict):
        return {}
    return {k: v for k, v in audit.items() if isinstance(v, str) and k != "actor"}


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{new_token()[:6]}"


class WorkerRunner:
    def __init__(
        self,
        queue: JobQueue,
        handler: JobHandler,
        *,
        pool: Pool = Pool.ANY,
        concurrency: int = 1,
        poll_s: float = 2.0,
        grace_s: float = 30.0,
        worker_id: str | None = None,
    ) -> None:
        self.queue = queue
        self.handler = handler
        self.pool = pool
        self.concurrency = concurrency
        self.poll_s = poll_s
        self.grace_s = grace_s
        self.worker_id = worker_id or default_worker_id()
        self.stopping = threading.Event()
        self.heartbeat = Heartbeat(queue.config.heartbeat_s)
        self._threads: list[threading.Thread] = []
        self._active: dict[int, Lease] = {}
        self._lock = threading.Lock()

    def start(self) -> None:
        self.heartbeat.start()
        for slot in range(self.concurrency):
            thread = threading.Thread(
                target=self._loop, args=(slot,), name=f"job-worker-{slot}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        metrics.worker_started(self.pool.value)
        logger.info(
            "worker {} started: pool {}, concurrency {}",
            self.worker_id,
            self.pool.value,
            self.concurrency,
        )

    def stop(self, grace_s: float | None = None) -> None:
        """Stop leasing; let running jobs finish within the grace period, then release them."""
        self.stopping.set()
        self.queue.signal()
        grace = self.grace_s if grace_s is None else grace_s
        for thread in self._threads:
            thread.join(timeout=grace / max(1, len(self._threads)))
        with self._lock:
            leftover = list(self._active.values())
        for lease in leftover:
            try:
                self.queue.release(lease)
                logger.warning("released job {} at shutdown", lease.job_id)
            except LeaseLost:
                pass
        self.heartbeat.stop()
        metrics.worker_stopped(self.pool.value)
        logger.info("worker {} stopped", self.worker_id)

    def wait(self) -> None:
        """Block until :meth:`stop` is called (the CLI's main thread)."""
        self.stopping.wait()

    # -- the loop -------------------------------------------------------------------------
    def _info(self, slot: int) -> WorkerInfo:
        return WorkerInfo(f"{self.worker_id}/{slot}", self.pool, self.heartbeat, self.stopping)

    def _loop(self, slot: int) -> None:
        info = self._info(slot)
        while not self.stopping.is_set():
            mark = self.queue.wakeup_mark()
            try:
                lease = self.queue.lease(info.worker_id, info.pools, self.handler.kinds)
                if lease is not None:
                    self._run(slot, info, lease)
                    continue
                if self.handler.assist(info):
                    continue
            except SQLAlchemyError as exc:
                logger.warning("worker {}: database error: {}", info.worker_id, exc)
            except LeaseLost as exc:  # a chunk it helped with was taken over: look for more work
                logger.warning("worker {}: {}", info.worker_id, exc.message)
            self.queue.wait_for_work(mark, self.poll_s)

    def _run(self, slot: int, info: WorkerInfo, lease: Lease) -> None:
        with self._lock:
            self._active[slot] = lease
        tracked = self.heartbeat.track(
            lease.job_id, lambda: self.queue.renew(lease).cancel_requested
        )
        ctx = JobContext(self.queue, lease, tracked, info)
        job = lease.job
        attributes: dict[str, str | int | float | bool] = {
            "stt.job_id": job.id,
            "stt.job_kind": job.kind,
            "stt.attempt": job.attempts,
            "stt.worker_id": info.worker_id,
        }
        try:
            with (
                log_context(job_id=job.id, user=job.owner),
                tracing.span_from_carrier("job.run", trace_carrier(job), **attributes),
            ):
                bind(trace_id=tracing.current_trace_id())
                self._execute(ctx)
        finally:
            self.heartbeat.untrack(tracked)
            with self._lock:
                self._active.pop(slot, None)

    def _execute(self, ctx: JobContext) -> None:
        lease = ctx.lease
        try:
            try:
                ctx.checkpoint()
                completion = self.handler.handle(ctx)
                self.queue.complete(lease, completion.result, persist=completion.persist)
                if completion.after_commit is not None:
                    completion.after_commit()
            except JobCancelled:
                self.queue.acknowledge_cancel(lease)
                logger.info("job {} cancelled while running", lease.job_id)
            except LeaseLost:
                raise
            except Exception as exc:  # the worker boundary: any handler failure fails the job
                error = classify(exc)
                if error.code == "internal_error":
                    logger.opt(exception=exc).error("job {} crashed", lease.job_id)
                self._fail(lease, error)
        except LeaseLost as exc:
            metrics.record_job_event("lease_lost")
            logger.warning("job {}: {}; result discarded", lease.job_id, exc.message)

    def _fail(self, lease: Lease, error: JobError) -> None:
        self.queue.fail(lease, error, on_terminal=self.handler.on_terminal_failure)


def run_until_signalled(
    runner: WorkerRunner, install: Callable[[Callable[[], None]], None]
) -> None:
    """Start ``runner``, block until ``install``'s callback fires (a signal), then stop."""
    install(runner.stopping.set)
    runner.start()
    runner.wait()
    runner.stop()
