"""The queue's SQL: every job state change is one guarded UPDATE ... RETURNING.

Lease-fenced writes (renew, progress, complete, fail, release, acknowledge cancel) match on
``id``, ``status = 'leased'``, ``worker_id``, ``lease_id`` and an unexpired ``leased_until``; when
no row matches they raise :class:`LeaseLost`. Owner-driven changes (cancel) raise
:class:`InvalidTransition` when the job's state does not allow them. Callers own transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from app.db.database import Dialect
from app.db.ids import new_id
from app.db.tables import jobs
from schemas.errors import InvalidTransition, LeaseLost, NotFound
from schemas.jobs import (
    ACTIVE,
    STAGES_KEY,
    Job,
    JobError,
    JobStatus,
    Lease,
    NewJob,
    Pool,
    entered_stages,
    sources_of,
)

_S = JobStatus


def to_job(row: Row[Any]) -> Job:
    data = dict(row._mapping)
    return Job.model_validate(data)


def _in(*states: JobStatus) -> sa.ColumnElement[bool]:
    return jobs.c.status.in_([s.value for s in states])


class JobRepository:
    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect

    # -- producers and readers ------------------------------------------------------------
    @staticmethod
    def _row(new: NewJob, now: datetime) -> dict[str, Any]:
        return {
            "id": new_id("job"),
            "owner": new.owner,
            "kind": new.kind,
            "status": _S.QUEUED.value,
            "pool": new.pool.value,
            "priority": new.priority,
            "payload": new.payload,
            "attempts": 0,
            "max_attempts": new.max_attempts,
            "available_at": now + timedelta(seconds=new.delay_s),
            "idempotency_key": new.idempotency_key,
            "audio_ref": new.audio_ref,
            "cancel_requested": False,
            "progress": 0.0,
            "chunks_done": 0,
            "chunks_total": 0,
            "created_at": now,
            "updated_at": now,
        }

    def insert(self, conn: Connection, new: NewJob, now: datetime) -> Job:
        row = conn.execute(jobs.insert().values(self._row(new, now)).returning(*jobs.c)).one()
        return to_job(row)

    def insert_many(self, conn: Connection, news: Sequence[NewJob], now: datetime) -> list[Job]:
        """One multi-row INSERT (SQLAlchemy's insertmanyvalues) for bulk producers."""
        if not news:
            return []
        rows = conn.execute(
            jobs.insert().returning(*jobs.c, sort_by_parameter_order=True),
            [self._row(n, now) for n in news],
        ).all()
        return [to_job(r) for r in rows]

    def get(self, conn: Connection, job_id: str, owner: str | None = None) -> Job | None:
        query = sa.select(jobs).where(jobs.c.id == job_id)
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        row = conn.execute(query).first()
        return to_job(row) if row else None

    def by_idempotency_key(self, conn: Connection, owner: str, key: str) -> Job | None:
        row = conn.execute(
            sa.select(jobs).where(jobs.c.owner == owner, jobs.c.idempotency_key == key)
        ).first()
        return to_job(row) if row else None

    def list_owned(
        self,
        conn: Connection,
        owner: str,
        *,
        statuses: Sequence[JobStatus] = (),
        limit: int = 20,
        before: str | None = None,
    ) -> list[Job]:
        """The owner's jobs, newest first; ``before`` is the last id of the previous page."""
        query = sa.select(jobs).where(jobs.c.owner == owner)
        if statuses:
            query = query.where(_in(*statuses))
        if before is not None:
            query = query.where(jobs.c.id < before)
        rows = conn.execute(query.order_by(jobs.c.id.desc()).limit(limit)).all()
        return [to_job(r) for r in rows]

    def count_active(self, conn: Connection, owner: str) -> int:
        """The owner's queued and leased jobs (``STT_MAX_ACTIVE_JOBS_PER_USER``)."""
        query = (
            sa.select(sa.func.count())
            .select_from(jobs)
            .where(jobs.c.owner == owner, _in(*ACTIVE))
        )
        return int(conn.execute(query).scalar_one())

    # -- leasing --------------------------------------------------------------------------
    def lease(
        self,
        conn: Connection,
        *,
        pools: Sequence[Pool],
        kinds: Sequence[str] | None,
        worker_id: str,
        lease_id: str,
        now: datetime,
        until: datetime,
    ) -> Job | None:
        """Claim the most urgent ready job: priority first, then the longest waiting."""
        candidate = sa.select(jobs.c.id).where(
            jobs.c.status == _S.QUEUED.value,
            jobs.c.pool.in_([p.value for p in pools]),
            jobs.c.available_at <= now,
        )
        if kinds:
            candidate = candidate.where(jobs.c.kind.in_(list(kinds)))
        candidate = candidate.order_by(
            jobs.c.priority.desc(), jobs.c.available_at, jobs.c.id
        ).limit(1)
        row = conn.execute(
            jobs.update()
            .where(
                jobs.c.id == self._dialect.lockable(candidate).scalar_subquery(),
                jobs.c.status == _S.QUEUED.value,
            )
            .values(
                status=_S.LEASED.value,
                worker_id=worker_id,
                lease_id=lease_id,
                leased_until=until,
                attempts=jobs.c.attempts + 1,
                started_at=sa.func.coalesce(jobs.c.started_at, now),
                updated_at=now,
            )
            .returning(*jobs.c)
        ).first()
        return to_job(row) if row else None

    def reclaim_expired(self, conn: Connection, now: datetime) -> list[Job]:
        """End or requeue jobs whose lease ran out (their worker died or stalled); returns them.

        Flagged for cancellation: ``cancelled``; last attempt spent: ``dead``; else ``queued``.
        """
        expired = sa.and_(jobs.c.status == _S.LEASED.value, jobs.c.leased_until < now)
        lost = JobError(
            message="the worker's lease expired before it finished",
            code="lease_expired",
            retriable=True,
        ).model_dump()
        released = {"worker_id": None, "lease_id": None, "leased_until": None, "updated_at": now}
        steps: list[tuple[sa.ColumnElement[bool], dict[str, Any]]] = [
            (
                jobs.c.cancel_requested,
                {"status": _S.CANCELLED.value, "finished_at": now},
            ),
            (
                jobs.c.attempts >= jobs.c.max_attempts,
                {"status": _S.DEAD.value, "finished_at": now, "error": lost},
            ),
            (sa.true(), {"status": _S.QUEUED.value, "available_at": now, "error": lost}),
        ]
        reclaimed: list[Job] = []
        for condition, values in steps:
            rows = conn.execute(
                jobs.update()
                .where(expired, condition)
                .values(**released, **values)
                .returning(*jobs.c)
            ).all()
            reclaimed.extend(to_job(r) for r in rows)
        return reclaimed

    # -- lease-fenced writes --------------------------------------------------------------
    def _fenced(self, conn: Connection, lease: Lease, now: datetime, values: dict[str, Any]) -> Job:
        row = conn.execute(
            jobs.update()
            .where(
                jobs.c.id == lease.job_id,
                jobs.c.status == _S.LEASED.value,
                jobs.c.worker_id == lease.worker_id,
                jobs.c.lease_id == lease.lease_id,
                jobs.c.leased_until >= now,
            )
            .values(updated_at=now, **values)
            .returning(*jobs.c)
        ).first()
        if row is None:
            raise self._lease_lost(conn, lease)
        return to_job(row)

    def _lease_lost(self, conn: Connection, lease: Lease) -> LeaseLost:
        current = self.get(conn, lease.job_id)
        state = "gone" if current is None else current.status.value
        return LeaseLost(
            f"worker {lease.worker_id} no longer holds job {lease.job_id} "
            f"(lease {lease.lease_id[:8]}…; job is {state})"
        )

    def renew(self, conn: Connection, lease: Lease, now: datetime, until: datetime) -> Job:
        return self._fenced(conn, lease, now, {"leased_until": until})

    def progress(
        self, conn: Connection, lease: Lease, now: datetime, *, done: int, total: int
    ) -> Job:
        fraction = (done / total) if total else 0.0
        return self._fenced(
            conn,
            lease,
            now,
            {"chunks_done": done, "chunks_total": total, "progress": round(fraction, 4)},
        )

    def update_payload(
        self,
        conn: Connection,
        lease: Lease,
        now: datetime,
        payload: dict[str, Any],
        *,
        audio_ref: str | None = None,
    ) -> Job:
        """Replace the payload (and record the stored audio it now reads, if given)."""
        values: dict[str, Any] = {"payload": payload}
        if audio_ref is not None:
            values["audio_ref"] = audio_ref
        return self._fenced(conn, lease, now, values)

    def enter_stage(self, conn: Connection, lease: Lease, now: datetime, stage: str) -> Job:
        """Add ``stage`` to the stages the job has entered (``result["stages"]``); the list only
        grows, across attempts too, so the event stream derived from it never takes one back."""
        stages = self._stages(conn, lease)
        if stage not in stages:
            stages.append(stage)
        return self._fenced(conn, lease, now, {"result": {STAGES_KEY: stages}})

    def _stages(self, conn: Connection, lease: Lease) -> list[str]:
        current = self.get(conn, lease.job_id)
        return entered_stages(current) if current is not None else []

    def complete(
        self,
        conn: Connection,
        lease: Lease,
        now: datetime,
        *,
        result: dict[str, Any] | None,
        media_id: str | None,
    ) -> Job:
        """Succeed; the recorded stages stay in the result next to the handler's own keys."""
        stages = self._stages(conn, lease)
        if stages:
            result = {**(result or {}), STAGES_KEY: stages}
        return self._fenced(
            conn,
            lease,
            now,
            {
                "status": _S.SUCCEEDED.value,
                "result": result,
                "media_id": media_id,
                "error": None,
                "progress": 1.0,
                "chunks_done": jobs.c.chunks_total,
                "leased_until": None,
                "finished_at": now,
            },
        )

    def fail(
        self,
        conn: Connection,
        lease: Lease,
        now: datetime,
        *,
        error: JobError,
        retry_at: datetime | None,
    ) -> Job:
        """Retry at ``retry_at`` (back to ``queued``), or end as ``dead``/``failed`` when None."""
        if retry_at is not None:
            values: dict[str, Any] = {
                "status": _S.QUEUED.value,
                "available_at": retry_at,
                "worker_id": None,
                "lease_id": None,
                "leased_until": None,
            }
        else:
            status = _S.DEAD if error.retriable else _S.FAILED
            values = {"status": status.value, "leased_until": None, "finished_at": now}
        values["error"] = error.model_dump()
        return self._fenced(conn, lease, now, values)

    def release(self, conn: Connection, lease: Lease, now: datetime) -> Job:
        """Give the job back untouched (graceful shutdown): the attempt does not count."""
        return self._fenced(
            conn,
            lease,
            now,
            {
                "status": _S.QUEUED.value,
                "attempts": jobs.c.attempts - 1,
                "available_at": now,
                "worker_id": None,
                "lease_id": None,
                "leased_until": None,
            },
        )

    def acknowledge_cancel(self, conn: Connection, lease: Lease, now: datetime) -> Job:
        return self._fenced(
            conn,
            lease,
            now,
            {"status": _S.CANCELLED.value, "leased_until": None, "finished_at": now},
        )

    # -- owner-driven transitions ---------------------------------------------------------
    def cancel(self, conn: Connection, job_id: str, owner: str, now: datetime) -> Job:
        """Queued jobs end at once; leased jobs are flagged and stop at the next checkpoint."""
        owned = sa.and_(jobs.c.id == job_id, jobs.c.owner == owner)
        row = conn.execute(
            jobs.update()
            .where(owned, _in(*sources_of(_S.CANCELLED)), jobs.c.status == _S.QUEUED.value)
            .values(status=_S.CANCELLED.value, updated_at=now, finished_at=now)
            .returning(*jobs.c)
        ).first()
        if row is None:
            row = conn.execute(
                jobs.update()
                .where(owned, jobs.c.status == _S.LEASED.value)
                .values(cancel_requested=True, updated_at=now)
                .returning(*jobs.c)
            ).first()
        if row is not None:
            return to_job(row)
        current = self.get(conn, job_id, owner)
        if current is None:
            raise NotFound(f"no job with id '{job_id}'", param="id")
        raise InvalidTransition(
            f"job {job_id} is {current.status.value} and can no longer be cancelled"
        )
