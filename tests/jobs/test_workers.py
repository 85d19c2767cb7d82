"""Worker processes and the in-process runner against both backends: exactly once, crashes,
retries to ``dead``, fatal failures, cancelling running jobs."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from app.core.config import Settings
from app.db.database import Database
from app.db.media_repo import MediaRepository
from app.db.tables import audit_events, jobs, media
from app.services.jobs.service import JobService
from schemas.errors import FatalProviderError, LeaseLost, RetriableProviderError
from schemas.jobs import JobStatus, Lease
from tests.jobs.support import count, spawn_worker, submit_file, wait_for, worker, write_wav
from workers.sdk import JobQueue, classify

SLOW_WORKER = Path(__file__).with_name("slow_worker.py")


def _statuses(db: Database) -> dict[str, int]:
    with db.read() as conn:
        return dict(
            conn.execute(sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status)).all()
        )  # type: ignore[arg-type]


@pytest.mark.slow
def test_exactly_once_with_four_worker_processes(
    job_settings: Settings,
    db: Database,
    service: JobService,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    audio_dir = tmp_path / "in"
    audio_dir.mkdir()
    uncapped = job_settings.model_copy(update={"max_active_jobs_per_user": 1000})
    service = JobService(uncapped, service.queue, service.store)
    ids = {
        submit_file(service, write_wav(audio_dir / f"{i}.wav", 0.3, seed=i)).id for i in range(200)
    }
    processes.extend(spawn_worker(job_settings, tmp_path, "--pool", "any") for _ in range(4))
    wait_for(lambda: _statuses(db).get("succeeded", 0) == 200, 90, "200 jobs to succeed")
    assert _statuses(db) == {"succeeded": 200}
    with db.read() as conn:
        rows = conn.execute(sa.select(jobs.c.id, jobs.c.attempts, jobs.c.media_id)).all()
        media_jobs = conn.execute(sa.select(media.c.job_id)).scalars().all()
    assert {r.id for r in rows} == ids
    assert all(r.attempts == 1 for r in rows)
    assert sorted(media_jobs) == sorted(ids)  # one media row per job, none twice
    assert len({r.media_id for r in rows}) == 200
    created = audit_events.c.event == "created"
    assert count(db, audit_events, created, audit_events.c.media_id.is_not(None)) == 200
    assert count(db, audit_events, created, audit_events.c.media_id.is_(None)) == 200  # jobs
    processes_used = {w.split(":")[1] for (w,) in _worker_ids(db)}
    assert len(processes_used) >= 2  # the work really was shared between processes
    for proc in processes:  # graceful shutdown on SIGTERM
        proc.send_signal(signal.SIGTERM)
    for proc in processes:
        assert proc.wait(timeout=30) == 0
    assert count(db, jobs, jobs.c.status == "leased") == 0


def _worker_ids(db: Database) -> list[tuple[str]]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(sa.select(jobs.c.worker_id).distinct()).all()]


@pytest.mark.slow
def test_killed_worker_lease_expires_and_another_finishes(
    job_settings: Settings,
    db: Database,
    queue: JobQueue,
    service: JobService,
    tmp_path: Path,
    processes: list[subprocess.Popen[bytes]],
) -> None:
    job = submit_file(service, write_wav(tmp_path / "a.wav", 1.0))
    doomed = spawn_worker(job_settings, tmp_path, "60", script=SLOW_WORKER)
    processes.append(doomed)
    wait_for(lambda: queue.get(job.id).status is JobStatus.LEASED, 30, "the slow worker to lease")  # type: ignore[union-attr]
    held = queue.get(job.id)
    assert held is not None and held.worker_id and held.lease_id
    assert held.worker_id.split(":")[1] == str(doomed.pid)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=10)
    stale = Lease(job=held, worker_id=held.worker_id, lease_id=held.lease_id)

    processes.append(spawn_worker(job_settings, tmp_path, "--pool", "any"))
    wait_for(lambda: queue.get(job.id).status is JobStatus.SUCCEEDED, 60, "the job to finish")  # type: ignore[union-attr]
    done = queue.get(job.id)
    assert done is not None and done.attempts == 2 and done.worker_id != held.worker_id
    # the dead worker's late writes (simulated with its lease) are refused
    with pytest.raises(LeaseLost):
        queue.complete(stale, {"late": True}, persist=lambda conn: _late_media(conn))
    with pytest.raises(LeaseLost):
        queue.fail(stale, classify(RetriableProviderError("late failure")))
    with pytest.raises(LeaseLost):
        queue.renew(stale)
    assert count(db, media) == 1
    assert queue.get(job.id).status is JobStatus.SUCCEEDED  # type: ignore[union-attr]


def _late_media(conn: Any) -> str:
    conn.execute(media.delete())  # would wipe the media table if it were ever committed
    return "med_late"


def test_retriable_provider_errors_end_dead_with_an_audit_event(
    job_settings: Settings,
    db: Database,
    service: JobService,
    tmp_path: Path,
) -> None:
    calls: list[float] = []

    def failing(fn: Callable[..., Any], *args: object) -> Any:
        calls.append(time.monotonic())
        raise RetriableProviderError("upstream timed out")

    job = submit_file(service, write_wav(tmp_path / "a.wav"), max_attempts=3)
    with worker(job_settings, db, failing) as worker_id:
        wait_for(lambda: service.get("alice", job.id).status is JobStatus.DEAD, 20, "dead")
    assert len(calls) == 3
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[0] >= 0.09 and gaps[1] >= 0.18  # backoff 0.1-0.2s, then 0.2-0.4s
    dead = service.get("alice", job.id)
    assert dead.error is not None and dead.error.code == "provider_unavailable"
    with db.read() as conn:
        events = MediaRepository().events(conn, "alice", job_id=job.id)
    assert [(e.event, e.actor) for e in events] == [
        ("created", "alice"),  # the submitting user
        ("failed", dead.worker_id),  # the worker that ended it
    ]
    assert dead.worker_id is not None and dead.worker_id.startswith(worker_id)


def test_fatal_provider_error_is_not_retried(
    job_settings: Settings,
    db: Database,
    service: JobService,
    tmp_path: Path,
) -> None:
    calls: list[int] = []

    def fatal(fn: Callable[..., Any], *args: object) -> Any:
        calls.append(1)
        raise FatalProviderError("the model crashed on this input")

    job = submit_file(service, write_wav(tmp_path / "a.wav"), max_attempts=5)
    with worker(job_settings, db, fatal):
        wait_for(lambda: service.get("alice", job.id).status is JobStatus.FAILED, 20, "failed")
    assert calls == [1]


def test_cancel_running_job_stops_at_checkpoint(
    job_settings: Settings,
    db: Database,
    service: JobService,
    tmp_path: Path,
) -> None:
    started: list[float] = []

    def slow(fn: Callable[..., Any], *args: object) -> tuple[Any, float]:
        started.append(time.monotonic())
        time.sleep(1.5)
        return fn(*args), 0.0  # (result, seconds waited for a turn)

    job = submit_file(service, write_wav(tmp_path / "a.wav"))
    with worker(job_settings, db, slow):
        wait_for(lambda: bool(started), 20, "the job to start")
        assert service.cancel("alice", job.id).cancel_requested
        wait_for(
            lambda: service.get("alice", job.id).status is JobStatus.CANCELLED, 20, "cancelled"
        )
    assert count(db, media) == 0
