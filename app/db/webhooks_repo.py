"""The webhook outbox's SQL: every delivery state change is one guarded UPDATE ... RETURNING.

Claims are fenced like job leases: :meth:`WebhookRepository.claim` hands rows to one gateway
under a fresh ``claim_id`` and a lease (``leased_until``); :meth:`WebhookRepository.finish`
matches on ``id``, ``status = 'delivering'`` and that ``claim_id`` and raises
:class:`LeaseLost` when another gateway has claimed the row since (its lease ran out).
PostgreSQL skips rows other gateways hold (``FOR UPDATE SKIP LOCKED``); SQLite's
``BEGIN IMMEDIATE`` makes the claiming transaction the only writer. Callers own transactions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from app.db.database import Dialect
from app.db.tables import webhook_deliveries as wd
from schemas.errors import LeaseLost
from schemas.webhooks import Delivery, DeliveryStatus

_D = DeliveryStatus
ERROR_MAX_CHARS = 500


def to_delivery(row: Row[Any]) -> Delivery:
    return Delivery.model_validate(dict(row._mapping))


@dataclass(frozen=True)
class Outcome:
    """How one attempt ended: ``retry_at`` None with no ``delivered`` means given up."""

    delivered: bool
    status_code: int | None = None
    error: str | None = None
    retry_at: datetime | None = None


class WebhookRepository:
    def __init__(self, dialect: Dialect) -> None:
        self._dialect = dialect

    def insert(
        self,
        conn: Connection,
        *,
        event_id: str,
        job_id: str,
        owner: str,
        url: str,
        event_type: str,
        body: str,
        max_attempts: int,
        now: datetime,
    ) -> Delivery:
        row = conn.execute(
            wd.insert()
            .values(
                id=event_id,
                job_id=job_id,
                owner=owner,
                url=url,
                event_type=event_type,
                body=body,
                status=_D.PENDING.value,
                attempts=0,
                max_attempts=max_attempts,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
            .returning(*wd.c)
        ).one()
        return to_delivery(row)

    def latest_for_job(self, conn: Connection, job_id: str, owner: str) -> Delivery | None:
        row = conn.execute(
            sa.select(wd)
            .where(wd.c.job_id == job_id, wd.c.owner == owner)
            .order_by(wd.c.id.desc())
            .limit(1)
        ).first()
        return to_delivery(row) if row else None

    def get(self, conn: Connection, event_id: str) -> Delivery | None:
        row = conn.execute(sa.select(wd).where(wd.c.id == event_id)).first()
        return to_delivery(row) if row else None

    def count_waiting(self, conn: Connection) -> int:
        """Events not delivered and not given up (the outbox backlog)."""
        waiting = wd.c.status.in_([_D.PENDING.value, _D.DELIVERING.value])
        return int(
            conn.execute(sa.select(sa.func.count()).select_from(wd).where(waiting)).scalar_one()
        )

    def claim(
        self,
        conn: Connection,
        *,
        limit: int,
        claimed_by: str,
        claim_id: str,
        now: datetime,
        until: datetime,
    ) -> list[Delivery]:
        """Claim up to ``limit`` due events: pending ones whose time has come, and ones whose
        claim lease ran out (the gateway delivering them died). Counts an attempt on each."""
        due = sa.or_(
            sa.and_(wd.c.status == _D.PENDING.value, wd.c.next_attempt_at <= now),
            sa.and_(wd.c.status == _D.DELIVERING.value, wd.c.leased_until < now),
        )
        # Two statements, not UPDATE ... WHERE id IN (locking subquery): PostgreSQL may rescan
        # such a subquery and then claim more than ``limit`` rows. The rows locked here stay
        # locked until the caller's transaction ends.
        candidates = (
            sa.select(wd.c.id).where(due).order_by(wd.c.next_attempt_at, wd.c.id).limit(limit)
        )
        ids = list(conn.execute(self._dialect.lockable(candidates)).scalars())
        if not ids:
            return []
        rows = conn.execute(
            wd.update()
            .where(wd.c.id.in_(ids), due)
            .values(
                status=_D.DELIVERING.value,
                claim_id=claim_id,
                claimed_by=claimed_by,
                leased_until=until,
                attempts=wd.c.attempts + 1,
                updated_at=now,
            )
            .returning(*wd.c)
        ).all()
        return sorted((to_delivery(r) for r in rows), key=lambda d: (d.next_attempt_at, d.id))

    def finish(
        self, conn: Connection, claimed: Delivery, outcome: Outcome, now: datetime
    ) -> Delivery:
        """Record one attempt's outcome, if this claim still holds the event."""
        values: dict[str, Any] = {
            "claim_id": None,
            "leased_until": None,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error[:ERROR_MAX_CHARS] if outcome.error else None,
            "updated_at": now,
        }
        if outcome.delivered:
            values.update(status=_D.DELIVERED.value, delivered_at=now)
        elif outcome.retry_at is not None:
            values.update(status=_D.PENDING.value, next_attempt_at=outcome.retry_at)
        else:
            values.update(status=_D.FAILED.value)
        row = conn.execute(
            wd.update()
            .where(
                wd.c.id == claimed.id,
                wd.c.status == _D.DELIVERING.value,
                wd.c.claim_id == claimed.claim_id,
            )
            .values(**values)
            .returning(*wd.c)
        ).first()
        if row is None:
            raise LeaseLost(
                f"{claimed.claimed_by} no longer holds webhook event {claimed.id} "
                "(its claim lease ran out and another gateway claimed it)"
            )
        return to_delivery(row)
