"""Write your own worker with the SDK: lease jobs of a kind, heartbeat, complete or fail.

This example enqueues a few ``word-count`` jobs and runs two worker threads that count words in
each job's ``text``. Any process pointed at the same database (``--database-url``, default a
SQLite file here) can enqueue or work; on PostgreSQL, workers on other machines wake on NOTIFY.

    python Helper_Scripts/Samples/Jobs/batch_worker_example.py
    python Helper_Scripts/Samples/Jobs/batch_worker_example.py \
        --database-url postgresql://postgres@127.0.0.1:5432/postgres

The pieces, from lowest to highest level:

* ``JobQueue.enqueue(NewJob(...))`` puts a job on the queue (``kind``, ``payload``, ``pool``,
  ``priority``, ``max_attempts``, ``idempotency_key``, ``delay_s``).
* ``JobQueue.lease(worker_id, pools, kinds)`` claims one; ``renew``, ``progress``,
  ``complete(lease, result)``, ``fail(lease, JobError(...))`` and ``release`` are fenced by the
  lease: after it expired or was taken over they raise ``LeaseLost`` and change nothing.
* ``WorkerRunner`` does the loop for you: heartbeats, checkpoints (``ctx.checkpoint()`` raises
  when the job was cancelled or the lease lost), retries with backoff, graceful shutdown.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from app.db.database import Database
from app.db.migrate import upgrade
from schemas.errors import InvalidRequest
from schemas.jobs import JobStatus, NewJob, Pool
from workers.runner import Completion, JobContext, JobHandler, WorkerRunner
from workers.sdk import JobQueue, QueueConfig

TEXTS = [
    "the quick brown fox jumps over the lazy dog",
    "to be or not to be that is the question",
    "",  # an empty text fails fatally (no retry)
    "speech to text gateways turn audio into words",
]


class WordCount(JobHandler):
    kinds = ("word-count",)

    def handle(self, ctx: JobContext) -> Completion:
        text = str(ctx.job.payload.get("text", ""))
        if not text:
            raise InvalidRequest("nothing to count")  # a GatewayError that is not retriable
        words = text.split()
        for _ in words:
            ctx.checkpoint()  # stop promptly if cancelled or if the lease was lost
        ctx.progress(1, 1)
        return Completion(result={"words": len(words)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{tempfile.mkdtemp()}/example.db"

    db = Database(url)
    upgrade(db)
    queue = JobQueue(db, QueueConfig(lease_seconds=30, retry_base_s=1))
    jobs = [
        queue.enqueue(NewJob(owner="example", kind="word-count", payload={"text": t}))
        for t in TEXTS
    ]
    runner = WorkerRunner(queue, WordCount(), pool=Pool.ANY, concurrency=2, poll_s=0.5)
    runner.start()
    try:
        while not all(queue.get(j.id).status.terminal for j in jobs):  # type: ignore[union-attr]
            time.sleep(0.1)
    finally:
        runner.stop(grace_s=5)
    for job in jobs:
        done = queue.get(job.id)
        assert done is not None
        outcome = done.result if done.status is JobStatus.SUCCEEDED else done.error
        print(f"{done.id} {done.status.value:9} {outcome}")
    db.dispose()


if __name__ == "__main__":
    main()
