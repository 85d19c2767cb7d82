"""Queue benchmark: enqueue-to-lease latency and jobs/s with the mock provider and 4 workers.

    .venv/bin/python Helper_Scripts/bench_queue.py                  # SQLite and PostgreSQL
    .venv/bin/python Helper_Scripts/bench_queue.py --backend postgresql --jobs 5000

* pickup latency: jobs are enqueued one at a time (``--spacing-ms`` apart) while the workers are
  idle; latency = ``started_at - created_at`` of each job (lease time minus enqueue time).
* throughput: ``--jobs`` jobs are enqueued by one producer in batches of ``--batch``
  (``JobQueue.enqueue_many``: one transaction and one NOTIFY per batch) while the workers run;
  jobs/s = jobs / (last ``finished_at`` - first ``created_at``), read from the rows, while
  the harness polls only every 100 ms so it takes no CPU from the workers. Every job goes
  through enqueue, lease, the mock provider (1 s of audio), complete.

Topologies: PostgreSQL uses 4 worker *processes* woken by LISTEN/NOTIFY (a fleet); SQLite uses
4 worker *threads* in the producer's process (the embedded ``serve`` set-up, woken in-process);
``--sqlite-processes`` runs SQLite with processes too (they fall back to polling every 50 ms).
PostgreSQL gets a temporary database (``--pg-url`` names the admin database) that is dropped.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import secrets
import statistics
import sys
import tempfile
import time
from multiprocessing.synchronize import Event
from pathlib import Path

import numpy as np
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.db.database import NOTIFY_CHANNEL, Database
from app.db.jobs_repo import JobRepository
from app.db.migrate import upgrade
from app.db.notify import PgListener
from app.db.tables import jobs
from providers.base import AudioInput
from providers.mock import MockProvider
from schemas.jobs import NewJob, Pool
from schemas.options import TranscriptionOptions
from workers.runner import Completion, JobContext, JobHandler, WorkerRunner
from workers.sdk import JobQueue, QueueConfig

KIND = "bench"
POLL_S = 0.05


class MockTranscription(JobHandler):
    kinds = (KIND,)

    def __init__(self) -> None:
        self.provider = MockProvider()
        self.audio = AudioInput(np.zeros(16_000, dtype=np.float32))
        self.options = TranscriptionOptions()

    def handle(self, ctx: JobContext) -> Completion:
        transcript = self.provider.transcribe_batch(self.audio, self.options, "mock")
        return Completion(result={"text": transcript.text})


def _runner(db: Database, concurrency: int) -> WorkerRunner:
    queue = JobQueue(db, QueueConfig(lease_seconds=30))
    return WorkerRunner(
        queue, MockTranscription(), pool=Pool.ANY, concurrency=concurrency, poll_s=POLL_S
    )


def _worker_process(url: str, stop: Event, ready: Event) -> None:
    from loguru import logger

    logger.remove()
    db = Database(url)
    listener = PgListener(db.libpq_url, NOTIFY_CHANNEL, db.wakeup) if db.dialect.notify else None
    if listener:
        listener.start()
    runner = _runner(db, 1)
    runner.start()
    ready.set()
    stop.wait()
    runner.stop(grace_s=5)
    if listener:
        listener.stop()
    db.dispose()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _unfinished(db: Database, repo: JobRepository) -> int:
    """Jobs still waiting or running (every benchmark job belongs to ``bench``)."""
    with db.read() as conn:
        return repo.count_active(conn, "bench")


def _wait_done(db: Database, timeout: float = 300) -> None:
    """Poll lightly: on a 2-core machine the harness must not steal the workers' CPU. The
    timings come from the rows' own timestamps, not from when this loop notices."""
    deadline = time.monotonic() + timeout
    repo = JobRepository(db.dialect)
    while _unfinished(db, repo):
        if time.monotonic() > deadline:
            raise SystemExit("benchmark timed out")
        time.sleep(0.1)


def _span_s(db: Database, ids: list[str]) -> float:
    """First enqueue to last completion of ``ids``, from the database rows."""
    with db.read() as conn:
        first, last = conn.execute(
            sa.select(sa.func.min(jobs.c.created_at), sa.func.max(jobs.c.finished_at)).where(
                jobs.c.id.in_(ids)
            )
        ).one()
    return float((last - first).total_seconds())


def bench(
    url: str,
    *,
    label: str,
    n_jobs: int,
    n_latency: int,
    spacing_ms: float,
    workers: int,
    processes: bool,
    batch: int,
) -> dict[str, float]:
    db = Database(url)
    upgrade(db)
    queue = JobQueue(db, QueueConfig(lease_seconds=30))
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    procs, local = [], None
    if processes:
        readies = []
        for _ in range(workers):
            ready = ctx.Event()
            proc = ctx.Process(target=_worker_process, args=(url, stop, ready), daemon=True)
            proc.start()
            procs.append(proc)
            readies.append(ready)
        for ready in readies:
            ready.wait(60)
        time.sleep(0.5)  # let every worker settle into its idle wait
    else:
        local = _runner(db, workers)
        local.start()
    try:
        latency_ids = []
        for _ in range(n_latency):
            latency_ids.append(queue.enqueue(NewJob(owner="bench", kind=KIND, payload={})).id)
            time.sleep(spacing_ms / 1000)
        _wait_done(db)
        with db.read() as conn:
            rows = conn.execute(
                sa.select(jobs.c.created_at, jobs.c.started_at).where(jobs.c.id.in_(latency_ids))
            ).all()
        pickup = [(r.started_at - r.created_at).total_seconds() * 1000 for r in rows]

        started = time.perf_counter()
        ids = []
        for first in range(0, n_jobs, batch):
            news = [NewJob(owner="bench", kind=KIND, payload={})] * min(batch, n_jobs - first)
            ids += [job.id for job in queue.enqueue_many(news)]
        enqueue_s = time.perf_counter() - started
        _wait_done(db)
        elapsed = _span_s(db, ids)
    finally:
        stop.set()
        for proc in procs:
            proc.join(30)
        if local is not None:
            local.stop(5)
        db.dispose()
    result = {
        "pickup_p50_ms": statistics.median(pickup),
        "pickup_p99_ms": _percentile(pickup, 0.99),
        "jobs_per_s": n_jobs / elapsed,
        "enqueue_per_s": n_jobs / enqueue_s,
    }
    topology = f"{workers} {'processes' if processes else 'threads'}"
    print(
        f"{label:10} ({topology}): pickup p50 {result['pickup_p50_ms']:.1f} ms, "
        f"p99 {result['pickup_p99_ms']:.1f} ms; throughput {result['jobs_per_s']:.0f} jobs/s "
        f"(enqueue alone {result['enqueue_per_s']:.0f}/s) over {n_jobs} jobs",
        flush=True,
    )
    return result


def _pg_database(admin_url: str) -> tuple[str, str]:
    import psycopg

    name = f"stt_bench_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name, f"{admin_url.rsplit('/', 1)[0]}/{name}"


def _drop(admin_url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description="job queue benchmark")
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--spacing-ms", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=50, help="jobs per enqueue transaction")
    parser.add_argument("--sqlite-processes", action="store_true")
    parser.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    from loguru import logger

    logger.remove()
    common = {
        "n_jobs": args.jobs,
        "n_latency": args.latency_jobs,
        "spacing_ms": args.spacing_ms,
        "workers": args.workers,
        "batch": args.batch,
    }
    if args.backend in ("sqlite", "both"):
        path = Path(tempfile.mkdtemp()) / "bench.db"
        bench(f"sqlite:///{path}", label="sqlite", processes=args.sqlite_processes, **common)
    if args.backend in ("postgresql", "both"):
        name, url = _pg_database(args.pg_url)
        try:
            bench(url, label="postgresql", processes=True, **common)
        finally:
            _drop(args.pg_url, name)


if __name__ == "__main__":
    main()
