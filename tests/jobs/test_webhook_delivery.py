"""One delivery round against a mock transport: what each answer does to the outbox row."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from app.core.config import Settings
from app.db.database import Database
from app.db.ids import new_id, utcnow
from app.db.webhooks_repo import WebhookRepository
from app.services.jobs.url_ingest import UrlPolicy
from app.services.jobs.webhook_delivery import DeliveryConfig, WebhookDispatcher
from app.services.jobs.webhook_signing import verify
from schemas.webhooks import Delivery, DeliveryStatus

URL = "http://127.0.0.1:9/hook?token=abc"
SECRET = "k"
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def pool() -> Iterator[ThreadPoolExecutor]:
    with ThreadPoolExecutor(2) as executor:
        yield executor


def _dispatcher(
    settings: Settings, db: Database, handler: Handler, allowlist: tuple[str, ...] = ("127.0.0.1",)
) -> WebhookDispatcher:
    config = DeliveryConfig(
        secret=SECRET, backoff_base_s=10, backoff_max_s=60, timeout_s=2, poll_s=1, concurrency=2
    )
    policy = replace(UrlPolicy.from_settings(settings), allowlist=allowlist)
    return WebhookDispatcher(db, config, policy, transport=httpx.MockTransport(handler))


def _event(db: Database, max_attempts: int = 3) -> Delivery:
    event_id = new_id("evt")
    with db.write() as conn:
        return WebhookRepository(db.dialect).insert(
            conn,
            event_id=event_id,
            job_id="job_1",
            owner="alice",
            url=URL,
            event_type="job.succeeded",
            body=json.dumps({"id": event_id}),
            max_attempts=max_attempts,
            now=utcnow(),
        )


def _row(db: Database, event_id: str) -> Delivery:
    with db.read() as conn:
        row = WebhookRepository(db.dialect).get(conn, event_id)
    assert row is not None
    return row


def test_a_2xx_marks_the_event_delivered_and_the_request_is_signed(
    job_settings: Settings, db: Database, pool: ThreadPoolExecutor
) -> None:
    seen: list[httpx.Request] = []

    def ok(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    event = _event(db)
    assert _dispatcher(job_settings, db, ok).run_once(pool) == 1
    (request,) = seen
    assert request.content == event.body.encode() and request.headers["Webhook-Id"] == event.id
    assert verify(
        SECRET,
        request.content,
        request.headers["Webhook-Timestamp"],
        request.headers["Webhook-Signature"],
        now=time.time(),
    )
    row = _row(db, event.id)
    assert row.status is DeliveryStatus.DELIVERED and row.attempts == 1
    assert row.last_status_code == 204 and row.delivered_at is not None


@pytest.mark.parametrize("status", [500, 302, 404, 429])
def test_other_answers_are_retried_after_a_backoff(
    job_settings: Settings, db: Database, pool: ThreadPoolExecutor, status: int
) -> None:
    calls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(str(request.url))
        return httpx.Response(status, headers={"Location": "http://10.0.0.1/"})

    event = _event(db)
    before = utcnow()
    _dispatcher(job_settings, db, answer).run_once(pool)
    row = _row(db, event.id)
    assert calls == [URL]  # a redirect is not followed
    assert row.status is DeliveryStatus.PENDING and row.last_status_code == status
    assert row.last_error == f"HTTP {status}" and row.claim_id is None
    assert before + timedelta(seconds=7.9) <= row.next_attempt_at  # 80-100 % of 10 s
    assert row.next_attempt_at <= utcnow() + timedelta(seconds=10)
    assert _dispatcher(job_settings, db, answer).run_once(pool) == 0  # not due yet


def test_gone_or_the_last_attempt_gives_up(
    job_settings: Settings, db: Database, pool: ThreadPoolExecutor
) -> None:
    gone, last = _event(db), _event(db, max_attempts=1)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(410 if request.headers["Webhook-Id"] == gone.id else 503)

    assert _dispatcher(job_settings, db, answer).run_once(pool) == 2
    assert _row(db, gone.id).status is DeliveryStatus.FAILED
    assert _row(db, last.id).status is DeliveryStatus.FAILED
    assert _row(db, last.id).last_status_code == 503


def test_a_host_now_private_is_refused_before_connecting(
    job_settings: Settings, db: Database, pool: ThreadPoolExecutor
) -> None:
    def never(request: httpx.Request) -> httpx.Response:
        raise AssertionError("the refused host was contacted")

    event = _event(db)
    _dispatcher(job_settings, db, never, allowlist=()).run_once(pool)
    row = _row(db, event.id)
    assert row.status is DeliveryStatus.FAILED and "STT_URL_ALLOWLIST" in (row.last_error or "")


def test_network_errors_are_retried_and_recorded_without_the_query_string(
    job_settings: Settings, db: Database, pool: ThreadPoolExecutor
) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(f"cannot reach {request.url}", request=request)

    event = _event(db)
    _dispatcher(job_settings, db, refuse).run_once(pool)
    row = _row(db, event.id)
    assert row.status is DeliveryStatus.PENDING and row.last_status_code is None
    assert row.last_error == "ConnectError: cannot reach http://127.0.0.1:9/hook"
