"""The chunk lease protocol through the worker SDK, on SQLite and PostgreSQL: plan, lease,
renew and finish, fenced like a job lease."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.db.ids import utcnow
from app.db.tables import job_chunks
from schemas.errors import LeaseLost
from schemas.jobs import ChunkStatus, JobStatus, Lease, NewJob, Pool
from workers.sdk import JobQueue

POOLS = (Pool.CPU, Pool.ANY)
SPANS = [(0.0, 60.0), (59.0, 120.0), (119.0, 150.0)]


def _running(queue: JobQueue) -> Lease:
    queue.enqueue(NewJob(owner="alice", kind="test", payload={}))
    lease = queue.lease("owner", POOLS)
    assert lease is not None
    return lease


def test_plan_is_stored_once_and_reports_progress(queue: JobQueue) -> None:
    lease = _running(queue)
    mark = queue.wakeup_mark()
    chunks = queue.plan_chunks(lease, SPANS)
    assert queue.wait_for_work(mark, 0)  # helpers in this process are woken
    assert [(c.idx, c.start, c.end, c.status) for c in chunks] == [
        (i, s, e, ChunkStatus.PENDING) for i, (s, e) in enumerate(SPANS)
    ]
    job = queue.get(lease.job_id)
    assert job is not None and (job.chunks_done, job.chunks_total) == (0, 3)

    chunk = queue.lease_chunk("w1", POOLS, lease.job_id)
    assert chunk is not None
    queue.finish_chunk(chunk, {"text": "first"})
    # a resumed job keeps its plan and its finished chunk (other spans are ignored)
    again = queue.plan_chunks(lease, [(0.0, 150.0)])
    assert [c.status for c in again] == [ChunkStatus.DONE, ChunkStatus.PENDING, ChunkStatus.PENDING]
    job = queue.get(lease.job_id)
    assert job is not None and (job.chunks_done, job.chunks_total) == (1, 3)
    assert queue.chunks_of(lease.job_id) == again


def test_plan_needs_the_job_lease(queue: JobQueue) -> None:
    lease = _running(queue)
    stale = lease.model_copy(update={"lease_id": "not-the-lease"})
    with pytest.raises(LeaseLost):
        queue.plan_chunks(stale, SPANS)
    assert queue.chunks_of(lease.job_id) == []  # the plan was rolled back with the progress


def test_lease_renew_finish(queue: JobQueue) -> None:
    lease = _running(queue)
    queue.plan_chunks(lease, SPANS)
    before = utcnow()
    first = queue.lease_chunk("w1", POOLS, lease.job_id)
    second = queue.lease_chunk("w2", POOLS)  # helping any running job
    assert first is not None and second is not None
    assert (first.idx, first.worker_id, first.status) == (0, "w1", ChunkStatus.LEASED)
    assert (second.idx, second.worker_id) == (1, "w2")
    assert first.lease_id and first.lease_id != second.lease_id
    # the same lease period as a job lease
    assert first.leased_until is not None
    lease_s = timedelta(seconds=queue.config.lease_seconds)
    assert before + lease_s <= first.leased_until <= utcnow() + lease_s
    assert queue.lease_chunk("w3", [Pool.GPU]) is None  # pool mismatch

    renewed = queue.renew_chunk(first)
    assert renewed.leased_until is not None and renewed.leased_until >= first.leased_until
    mark = queue.wakeup_mark()
    done = queue.finish_chunk(first, {"text": "hello"})
    assert queue.wait_for_work(mark, 0)
    assert (done.status, done.transcript, done.leased_until) == (
        ChunkStatus.DONE,
        {"text": "hello"},
        None,
    )
    with pytest.raises(LeaseLost):  # a finished chunk is no longer leased
        queue.renew_chunk(first)
    third = queue.lease_chunk("w1", POOLS, lease.job_id)
    assert third is not None and third.idx == 2
    assert queue.lease_chunk("w1", POOLS, lease.job_id) is None  # all taken


def test_stale_chunk_lease_is_refused(queue: JobQueue) -> None:
    lease = _running(queue)
    queue.plan_chunks(lease, SPANS[:1])
    chunk = queue.lease_chunk("w1", POOLS, lease.job_id)
    assert chunk is not None
    with pytest.raises(LeaseLost):
        queue.finish_chunk(chunk.model_copy(update={"lease_id": "forged"}), {"text": "x"})
    with queue.db.write() as conn:  # the lease expires; another worker takes the chunk
        conn.execute(job_chunks.update().values(leased_until=utcnow() - timedelta(seconds=1)))
    with pytest.raises(LeaseLost):
        queue.renew_chunk(chunk)
    taken = queue.lease_chunk("w2", POOLS, lease.job_id)
    assert taken is not None and taken.worker_id == "w2"
    with pytest.raises(LeaseLost):
        queue.finish_chunk(chunk, {"text": "late"})
    assert queue.finish_chunk(taken, {"text": "on time"}).transcript == {"text": "on time"}
    assert queue.chunks_of(lease.job_id)[0].transcript == {"text": "on time"}


def test_chunks_of_cancelled_or_finished_jobs_are_not_leased(queue: JobQueue) -> None:
    lease = _running(queue)
    queue.plan_chunks(lease, SPANS)
    queue.cancel(lease.job_id, "alice")  # flagged: helpers stop taking its chunks
    assert queue.lease_chunk("w1", POOLS) is None
    assert queue.acknowledge_cancel(lease).status is JobStatus.CANCELLED
    assert queue.lease_chunk("w1", POOLS, lease.job_id) is None


def test_worker_survives_a_lost_chunk_lease_while_assisting(queue: JobQueue) -> None:
    """Helping with another job's chunk that was taken over must not end the worker thread."""
    import threading

    from workers.runner import Completion, JobContext, JobHandler, WorkerInfo, WorkerRunner

    class Flaky(JobHandler):
        kinds = ("test",)

        def __init__(self) -> None:
            self.assists = 0
            self.handled = threading.Event()

        def assist(self, worker: WorkerInfo) -> bool:
            self.assists += 1
            if self.assists == 1:
                raise LeaseLost("worker w no longer holds chunk 0 of job j")
            return False

        def handle(self, ctx: JobContext) -> Completion:
            self.handled.set()
            return Completion({"ok": True})

    handler = Flaky()
    runner = WorkerRunner(queue, handler, pool=Pool.ANY, concurrency=1, poll_s=0.05, grace_s=1)
    runner.start()
    try:
        deadline = utcnow() + timedelta(seconds=10)
        while handler.assists < 2 and utcnow() < deadline:
            handler.handled.wait(0.05)
        queue.enqueue(NewJob(owner="alice", kind="test", payload={}))
        assert handler.handled.wait(10), "the worker thread died with the lost chunk lease"
    finally:
        runner.stop(1)
