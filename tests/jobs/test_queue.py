"""Queue semantics through the worker SDK, on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.db.database import Database
from app.db.ids import utcnow
from app.db.tables import jobs as jobs_table
from app.db.tables import metadata
from app.services.jobs.service import JobService
from schemas.errors import InvalidTransition, LeaseLost, NotFound
from schemas.jobs import (
    TRANSITIONS,
    JobError,
    JobStatus,
    NewJob,
    Pool,
    pools_served_by,
    sources_of,
)
from tests.jobs.support import submit_file, write_wav
from workers.sdk import JobQueue

RETRIABLE = JobError(message="provider timed out", code="provider_unavailable", retriable=True)
FATAL = JobError(message="bad audio", code="invalid_audio", retriable=False)


def _new(**kw: object) -> NewJob:
    return NewJob(owner=str(kw.pop("owner", "alice")), kind="test", payload={}, **kw)  # type: ignore[arg-type]


def test_migrations_match_the_tables(db: Database) -> None:
    with db.read() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


def test_transition_table_is_consistent() -> None:
    for status in JobStatus:
        assert (not TRANSITIONS[status]) == status.terminal
    assert sources_of(JobStatus.SUCCEEDED) == (JobStatus.LEASED,)
    assert set(pools_served_by(Pool.GPU)) == {Pool.GPU, Pool.ANY}


def test_priority_then_fifo_and_pools(queue: JobQueue) -> None:
    low = queue.enqueue(_new(priority=-5))
    first = queue.enqueue(_new(priority=10))
    second = queue.enqueue(_new(priority=10))
    gpu_only = queue.enqueue(_new(priority=50, pool=Pool.GPU))
    cpu = [Pool.CPU, Pool.ANY]
    order = [queue.lease("w", cpu) for _ in range(4)]
    assert [lease.job_id if lease else None for lease in order] == [
        first.id,
        second.id,
        low.id,
        None,
    ]
    gpu = queue.lease("g", pools_served_by(Pool.GPU))
    assert gpu is not None and gpu.job_id == gpu_only.id


def test_retriable_failures_back_off_then_die(queue: JobQueue) -> None:
    job = queue.enqueue(_new(max_attempts=3))
    delays = []
    for attempt in (1, 2, 3):
        lease = None
        deadline = time.monotonic() + 5
        while lease is None:
            assert time.monotonic() < deadline, "job never became available again"
            lease = queue.lease("w", [Pool.ANY])
        assert lease.job.attempts == attempt
        failed = queue.fail(lease, RETRIABLE)
        if attempt < 3:
            assert failed.status is JobStatus.QUEUED
            delay = (failed.available_at - failed.updated_at).total_seconds()
            base = queue.config.retry_base_s * 2 ** (attempt - 1)
            assert base * 0.5 - 1e-3 <= delay <= base + 1e-3
            delays.append(delay)
            assert queue.lease("w", [Pool.ANY]) is None  # not before its backoff
        else:
            assert failed.status is JobStatus.DEAD
            assert failed.error is not None and failed.error.retriable
    assert delays[0] < delays[1]
    assert queue.get(job.id).status is JobStatus.DEAD  # type: ignore[union-attr]


def test_fatal_failure_is_not_retried(queue: JobQueue) -> None:
    queue.enqueue(_new(max_attempts=5))
    lease = queue.lease("w", [Pool.ANY])
    assert lease is not None
    failed = queue.fail(lease, FATAL)
    assert failed.status is JobStatus.FAILED and failed.attempts == 1
    assert queue.lease("w", [Pool.ANY]) is None


def test_writes_are_fenced_by_worker_and_lease(queue: JobQueue) -> None:
    queue.enqueue(_new())
    lease = queue.lease("w1", [Pool.ANY])
    assert lease is not None
    forged = lease.model_copy(update={"lease_id": "0" * 32})
    other = lease.model_copy(update={"worker_id": "w2"})
    for stale in (forged, other):
        with pytest.raises(LeaseLost):
            queue.complete(stale, {"x": 1})
        with pytest.raises(LeaseLost):
            queue.renew(stale)
        with pytest.raises(LeaseLost):
            queue.fail(stale, FATAL)
    assert queue.complete(lease, {"ok": True}).status is JobStatus.SUCCEEDED
    with pytest.raises(LeaseLost):  # a second completion is refused too
        queue.complete(lease, {"ok": True})


def test_expired_lease_is_reclaimed_and_the_old_worker_refused(queue: JobQueue) -> None:
    queue.enqueue(_new(max_attempts=3))
    stale = queue.lease("dead-worker", [Pool.ANY])
    assert stale is not None
    with queue.db.write() as conn:  # the lease runs out (the worker stopped beating)
        conn.execute(jobs_table.update().values(leased_until=utcnow() - timedelta(seconds=1)))
    assert queue.reclaim_expired() == 1
    fresh = queue.lease("live-worker", [Pool.ANY])
    assert fresh is not None and fresh.job.attempts == 2
    with pytest.raises(LeaseLost):
        queue.complete(stale, None)
    with pytest.raises(LeaseLost):
        queue.renew(stale)
    assert queue.complete(fresh, None).status is JobStatus.SUCCEEDED


def test_expired_lease_on_last_attempt_is_dead(queue: JobQueue) -> None:
    job = queue.enqueue(_new(max_attempts=1))
    assert queue.lease("w", [Pool.ANY]) is not None
    with queue.db.write() as conn:
        conn.execute(jobs_table.update().values(leased_until=utcnow() - timedelta(seconds=1)))
    queue.reclaim_expired()
    dead = queue.get(job.id)
    assert dead is not None and dead.status is JobStatus.DEAD
    assert dead.error is not None and dead.error.code == "lease_expired"


def test_release_does_not_spend_an_attempt(queue: JobQueue) -> None:
    queue.enqueue(_new())
    lease = queue.lease("w", [Pool.ANY])
    assert lease is not None
    released = queue.release(lease)
    assert released.status is JobStatus.QUEUED and released.attempts == 0


def test_cancel_queued_and_running(queue: JobQueue) -> None:
    queued = queue.enqueue(_new())
    running = queue.enqueue(_new(priority=1))
    lease = queue.lease("w", [Pool.ANY])
    assert lease is not None and lease.job_id == running.id
    assert queue.cancel(queued.id, "alice").status is JobStatus.CANCELLED
    assert queue.lease("w", [Pool.ANY]) is None  # a cancelled job never starts
    flagged = queue.cancel(running.id, "alice")
    assert flagged.status is JobStatus.LEASED and flagged.cancel_requested
    assert queue.renew(lease).cancel_requested  # the worker learns it at its next heartbeat
    assert queue.acknowledge_cancel(lease).status is JobStatus.CANCELLED
    with pytest.raises(InvalidTransition):
        queue.cancel(running.id, "alice")
    with pytest.raises(NotFound):
        queue.cancel(running.id, "mallory")  # other tenants cannot even see it


def test_idempotency_key_and_tenants(service: JobService, tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "a.wav")
    first = submit_file(service, audio, owner="alice", idempotency_key="k-1")
    again = submit_file(service, audio, owner="alice", idempotency_key="k-1")
    other = submit_file(service, audio, owner="bob", idempotency_key="k-1")
    assert again.id == first.id
    assert other.id != first.id
    assert [j.id for j in service.list_jobs("alice", statuses=(), limit=10, before=None)] == [
        first.id
    ]
    with pytest.raises(NotFound):
        service.get("bob", first.id)


def test_bulk_enqueue_keeps_order_and_wakes_workers(queue: JobQueue) -> None:
    mark = queue.db.wakeup.mark()
    created = queue.enqueue_many([_new(priority=p) for p in (1, 3, 2)])
    assert [j.priority for j in created] == [1, 3, 2]
    assert queue.wait_for_work(mark, 0.01)
    leased = [queue.lease("w", [Pool.ANY]) for _ in range(3)]
    assert [lease.job.priority for lease in leased if lease] == [3, 2, 1]
