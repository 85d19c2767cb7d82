"""SQL for the chunks of long recordings: planned once, leased one by one, fenced like jobs.

Any idle worker of a matching pool may lease a pending chunk of a running job, so a long job is
transcribed in parallel when several workers are free; the job's own worker merges the results.
A chunk whose lease expired is pending again. Callers own transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from app.db.database import Dialect
from app.db.tables import job_chunks, jobs
from schemas.errors import LeaseLost
from schemas.jobs import ChunkStatus, JobChunk, JobStatus, Pool


def _to_chunk(row: sa.Row[Any]) -> JobChunk:
    data = dict(row._mapping)
    data["start"], data["end"] = data.pop("start_s"), data.pop("end_s")
    data.pop("updated_at", None)
    return JobChunk.model_validate(data)


class ChunkRepository:
    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect

    def for_job(
        self, conn: Connection, job_id: str, *, first: int = 0, stop: int | None = None
    ) -> list[JobChunk]:
        """The job's chunks in audio order (those with ``first <= idx < stop`` when given)."""
        query = sa.select(job_chunks).where(
            job_chunks.c.job_id == job_id, job_chunks.c.idx >= first
        )
        if stop is not None:
            query = query.where(job_chunks.c.idx < stop)
        return [_to_chunk(r) for r in conn.execute(query.order_by(job_chunks.c.idx)).all()]

    def outline(self, conn: Connection, job_id: str) -> list[JobChunk]:
        """The job's chunks in audio order without their transcripts (cheap to poll)."""
        columns = [c for c in job_chunks.c if c.name != "transcript"]
        rows = conn.execute(
            sa.select(*columns).where(job_chunks.c.job_id == job_id).order_by(job_chunks.c.idx)
        ).all()
        return [_to_chunk(r) for r in rows]

    def plan(
        self, conn: Connection, job_id: str, spans: Sequence[tuple[float, float]], now: datetime
    ) -> list[JobChunk]:
        """Store the chunk plan unless one exists (a resumed job keeps its finished chunks)."""
        existing = self.for_job(conn, job_id)
        if existing:
            return existing
        conn.execute(
            job_chunks.insert(),
            [
                {
                    "job_id": job_id,
                    "idx": i,
                    "start_s": start,
                    "end_s": end,
                    "status": ChunkStatus.PENDING.value,
                    "updated_at": now,
                }
                for i, (start, end) in enumerate(spans)
            ],
        )
        return self.for_job(conn, job_id)

    def lease(
        self,
        conn: Connection,
        *,
        job_id: str | None,
        pools: Sequence[Pool],
        worker_id: str,
        lease_id: str,
        now: datetime,
        until: datetime,
    ) -> JobChunk | None:
        """Claim a pending (or abandoned) chunk of ``job_id``, or of any running job."""
        claimable = sa.or_(
            job_chunks.c.status == ChunkStatus.PENDING.value,
            sa.and_(
                job_chunks.c.status == ChunkStatus.LEASED.value, job_chunks.c.leased_until < now
            ),
        )
        running = sa.select(jobs.c.id).where(
            jobs.c.status == JobStatus.LEASED.value,
            sa.not_(jobs.c.cancel_requested),
            jobs.c.pool.in_([p.value for p in pools]),
        )
        if job_id is not None:
            running = running.where(jobs.c.id == job_id)
        candidate = (
            sa.select(job_chunks.c.job_id, job_chunks.c.idx)
            .where(claimable, job_chunks.c.job_id.in_(running))
            .order_by(job_chunks.c.job_id, job_chunks.c.idx)
            .limit(1)
        )
        found = conn.execute(self._dialect.lockable(candidate)).first()
        if found is None:
            return None
        row = conn.execute(
            job_chunks.update()
            .where(job_chunks.c.job_id == found.job_id, job_chunks.c.idx == found.idx, claimable)
            .values(
                status=ChunkStatus.LEASED.value,
                worker_id=worker_id,
                lease_id=lease_id,
                leased_until=until,
                updated_at=now,
            )
            .returning(*job_chunks.c)
        ).first()
        return _to_chunk(row) if row else None

    def _fenced(
        self, conn: Connection, chunk: JobChunk, now: datetime, values: dict[str, Any]
    ) -> JobChunk:
        row = conn.execute(
            job_chunks.update()
            .where(
                job_chunks.c.job_id == chunk.job_id,
                job_chunks.c.idx == chunk.idx,
                job_chunks.c.status == ChunkStatus.LEASED.value,
                job_chunks.c.worker_id == chunk.worker_id,
                job_chunks.c.lease_id == chunk.lease_id,
                job_chunks.c.leased_until >= now,
            )
            .values(updated_at=now, **values)
            .returning(*job_chunks.c)
        ).first()
        if row is None:
            raise LeaseLost(
                f"worker {chunk.worker_id} no longer holds chunk {chunk.idx} of job {chunk.job_id}"
            )
        return _to_chunk(row)

    def renew(self, conn: Connection, chunk: JobChunk, now: datetime, until: datetime) -> JobChunk:
        return self._fenced(conn, chunk, now, {"leased_until": until})

    def finish(
        self, conn: Connection, chunk: JobChunk, now: datetime, transcript: dict[str, Any]
    ) -> JobChunk:
        return self._fenced(
            conn,
            chunk,
            now,
            {"status": ChunkStatus.DONE.value, "transcript": transcript, "leased_until": None},
        )

    def release(self, conn: Connection, chunk: JobChunk, now: datetime) -> JobChunk:
        return self._fenced(
            conn,
            chunk,
            now,
            {
                "status": ChunkStatus.PENDING.value,
                "worker_id": None,
                "lease_id": None,
                "leased_until": None,
            },
        )
