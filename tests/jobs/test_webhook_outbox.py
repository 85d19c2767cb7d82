"""The webhook outbox on SQLite and PostgreSQL: every terminal transition writes its event in
the same transaction, and claims are fenced (one holder at a time, expired claims retaken)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from app.bootstrap import build_queue
from app.core.config import Settings
from app.db.database import Database
from app.db.ids import new_token, utcnow
from app.db.tables import jobs as jobs_table
from app.db.tables import webhook_deliveries
from app.db.webhooks_repo import Outcome, WebhookRepository
from app.services.jobs.webhooks import WebhookOutbox
from schemas.errors import InvalidRequest, LeaseLost
from schemas.jobs import JobError, NewJob, Pool
from schemas.webhooks import Delivery, DeliveryStatus, WebhookSpec
from workers.sdk import JobQueue

HOOK = "https://hooks.example.com/stt?token=abc"
FATAL = JobError(message="bad audio", code="invalid_audio", retriable=False)


@pytest.fixture
def hooked(job_settings: Settings, db: Database) -> JobQueue:
    settings = job_settings.model_copy(
        update={"webhook_secret": SecretStr("k"), "public_base_url": "https://stt.example.com/"}
    )
    return build_queue(settings, db)


def _new(max_attempts: int = 3) -> NewJob:
    return NewJob(owner="alice", payload={"webhook": {"url": HOOK}}, max_attempts=max_attempts)


def _events(db: Database) -> list[Delivery]:
    repo = WebhookRepository(db.dialect)
    with db.read() as conn:
        ids = conn.execute(sa.select(webhook_deliveries.c.id).order_by("id")).scalars().all()
        return [d for i in ids if (d := repo.get(conn, i)) is not None]


def _expire_leases(db: Database) -> None:
    with db.write() as conn:
        conn.execute(jobs_table.update().values(leased_until=utcnow() - timedelta(seconds=1)))


def test_each_terminal_transition_writes_one_event(hooked: JobQueue) -> None:
    done = hooked.enqueue(_new())
    lease = hooked.lease("w", [Pool.ANY])
    assert lease is not None and lease.job_id == done.id
    hooked.complete(lease, {"ok": True})
    failed = hooked.enqueue(_new())
    lease = hooked.lease("w", [Pool.ANY])
    assert lease is not None
    hooked.fail(lease, FATAL)
    cancelled = hooked.enqueue(_new())
    hooked.cancel(cancelled.id, "alice")
    dead = hooked.enqueue(_new(max_attempts=1))
    assert hooked.lease("w", [Pool.ANY]) is not None
    _expire_leases(hooked.db)
    assert hooked.reclaim_expired() == 1

    events = {e.job_id: e for e in _events(hooked.db)}
    assert {job_id: e.event_type for job_id, e in events.items()} == {
        done.id: "job.succeeded",
        failed.id: "job.failed",
        cancelled.id: "job.cancelled",
        dead.id: "job.dead",
    }
    body = json.loads(events[done.id].body)
    assert body["id"] == events[done.id].id and body["type"] == "job.succeeded"
    assert body["data"]["links"] == {
        "job": f"https://stt.example.com/v1/audio/jobs/{done.id}",
        "result": f"https://stt.example.com/v1/audio/jobs/{done.id}/result",
    }
    assert json.loads(events[failed.id].body)["data"]["error"]["code"] == "invalid_audio"
    assert all(e.status is DeliveryStatus.PENDING and e.attempts == 0 for e in events.values())


def test_no_event_without_the_terminal_write(hooked: JobQueue) -> None:
    """A refused completion (stale lease) or a retry writes nothing; a plain queue nothing."""
    hooked.enqueue(_new())
    lease = hooked.lease("w", [Pool.ANY])
    assert lease is not None
    with pytest.raises(LeaseLost):
        hooked.complete(lease.model_copy(update={"lease_id": "0" * 32}), None)
    retriable = JobError(message="busy", code="busy", retriable=True)
    assert not hooked.fail(lease, retriable).status.terminal
    assert _events(hooked.db) == []
    plain = JobQueue(hooked.db, hooked.config)
    plain.enqueue(NewJob(owner="bob", payload={}))
    lease = plain.lease("w", [Pool.ANY])
    assert lease is not None
    plain.complete(lease, None)
    assert _events(hooked.db) == []


def test_claims_are_exclusive_and_expired_claims_are_retaken(hooked: JobQueue) -> None:
    db, repo = hooked.db, WebhookRepository(hooked.db.dialect)
    for _ in range(3):
        hooked.cancel(hooked.enqueue(_new()).id, "alice")

    def claim(who: str, at_s: float = 0.0, limit: int = 2) -> list[Delivery]:
        now = utcnow() + timedelta(seconds=at_s)
        with db.write() as conn:
            return repo.claim(
                conn,
                limit=limit,
                claimed_by=who,
                claim_id=new_token(),
                now=now,
                until=now + timedelta(seconds=30),
            )

    first, second = claim("a"), claim("b")
    assert len(first) == 2 and len(second) == 1
    assert not {d.id for d in first} & {d.id for d in second}
    assert claim("c") == []  # all held
    assert all(d.attempts == 1 and d.status is DeliveryStatus.DELIVERING for d in first)
    with db.write() as conn:
        repo.finish(conn, first[0], Outcome(delivered=True, status_code=204), utcnow())
    retaken = claim("d", at_s=31)  # a's and b's leases ran out: their gateways died
    assert {d.id for d in retaken} == {first[1].id, second[0].id}
    assert all(d.attempts == 2 for d in retaken)
    with pytest.raises(LeaseLost), db.write() as conn:
        repo.finish(conn, first[1], Outcome(delivered=True, status_code=200), utcnow())
    retry_at = utcnow() + timedelta(seconds=60)
    with db.write() as conn:
        waiting = repo.finish(conn, retaken[0], Outcome(False, 500, "HTTP 500", retry_at), utcnow())
        gave_up = repo.finish(conn, retaken[1], Outcome(False, 410, "HTTP 410"), utcnow())
        assert repo.count_waiting(conn) == 1
    assert waiting.status is DeliveryStatus.PENDING and waiting.last_status_code == 500
    assert gave_up.status is DeliveryStatus.FAILED
    assert claim("e") == []  # the retry is not due yet
    assert [d.id for d in claim("e", at_s=61)] == [waiting.id]


def test_callbacks_need_a_secret_and_a_public_or_allow_listed_host(
    job_settings: Settings, db: Database
) -> None:
    local = WebhookSpec(url="http://127.0.0.1:9/hook")
    with pytest.raises(InvalidRequest) as refused:
        WebhookOutbox(job_settings, db).check(local)
    assert refused.value.code == "webhooks_not_configured"
    assert refused.value.param == "callback_url"
    signed = job_settings.model_copy(update={"webhook_secret": SecretStr("k")})
    with pytest.raises(InvalidRequest) as refused:
        WebhookOutbox(signed, db).check(local)
    assert refused.value.code == "url_not_allowed"
    allowed = signed.model_copy(update={"url_allowlist": "127.0.0.0/8"})
    WebhookOutbox(allowed, db).check(local)
    WebhookOutbox(job_settings, db).check(None)  # no callback: nothing to check
