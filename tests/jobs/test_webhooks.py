"""Webhooks end to end: signed events reach a local receiver, failed attempts are retried,
private callbacks are refused, a killed gateway delivers after its restart, and two gateways on
one PostgreSQL database deliver each event exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client import REGISTRY

from app.core.config import Settings
from tests.conftest import SettingsFactory
from tests.jobs.conftest import TABLES
from tests.jobs.support import REPO, spawn_gateway, wait_for, wait_http, write_wav
from tests.support.jobs import post_upload, wait_job
from tests.support.server import free_port, running_server
from tests.support.webhooks import Receiver, webhook_receiver

SECRET = "whsec-test-secret"
FAST = {  # the retry schedule shortened: 0.1 s, 0.3 s, 0.5 s, ...
    "webhook_secret": SECRET,
    "webhook_backoff_base_s": 0.1,
    "webhook_backoff_max_s": 0.5,
    "webhook_poll_s": 0.1,
    "webhook_timeout_s": 2.0,
}
MOCK = {"default_provider": "mock", "default_model": "mock", "translation_model": "mock"}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver(SECRET) as r:
        yield r


@pytest.fixture
def hook_settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(
        **MOCK, **FAST, url_allowlist="127.0.0.1", worker_poll_s=0.05, log_level="WARNING"
    )


def wait_recorded(client: httpx.Client, job_id: str) -> None:
    """Until the job shows its webhook as delivered (recorded after the receiver's 2xx)."""
    wait_for(
        lambda: client.get(f"/v1/audio/jobs/{job_id}").json()["webhook"]["status"] == "delivered",
        10,
        "the delivery to be recorded",
    )


def _deliveries(outcome: str) -> float:
    sample = REGISTRY.get_sample_value("audio_stt_webhook_deliveries_total", {"outcome": outcome})
    return sample or 0.0


def test_signed_event_with_transcript_reaches_the_receiver(
    hook_settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    with running_server(hook_settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        created = post_upload(
            client,
            write_wav(tmp_path / "a.wav", 1.0),
            callback_url=receiver.url,
            callback_include_transcript="true",
        )
        job = wait_job(client, created["id"])
        wait_for(lambda: len(receiver.delivered()) == 1, 20, "the webhook")
        wait_recorded(client, job["id"])
        seen = client.get(f"/v1/audio/jobs/{job['id']}").json()
    (got,) = receiver.received
    assert got.verified and got.answered == 200
    event = got.event
    assert event["id"] == got.event_id and event["id"].startswith("evt_")
    assert event["type"] == "job.succeeded"
    data = event["data"]
    assert data["job_id"] == job["id"] and data["status"] == "succeeded"
    assert data["media_id"] == job["media_id"] and data["error"] is None
    assert data["transcript"] == job["result"]["text"]
    assert data["links"] == {
        "job": f"/v1/audio/jobs/{job['id']}",
        "result": f"/v1/audio/jobs/{job['id']}/result",
        "media": f"/v1/media/{job['media_id']}",
    }
    webhook = seen["webhook"]
    assert webhook["event_id"] == event["id"] and webhook["attempts"] == 1
    assert webhook["last_status_code"] == 200 and webhook["next_attempt_at"] is None
    assert webhook["url"] == receiver.url.split("?")[0]  # the query string (a token) redacted


def test_a_failing_receiver_gets_the_event_once_it_recovers(
    hook_settings: Settings, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.answers = [500, 500]
    before = {o: _deliveries(o) for o in ("retry", "delivered")}
    with running_server(hook_settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        job = post_upload(client, write_wav(tmp_path / "a.wav"), callback_url=receiver.url)
        wait_for(lambda: len(receiver.delivered()) == 1, 20, "the webhook after two failures")
        wait_recorded(client, job["id"])
        webhook = client.get(f"/v1/audio/jobs/{job['id']}").json()["webhook"]
    assert [r.answered for r in receiver.received] == [500, 500, 200]
    assert len({r.event_id for r in receiver.received}) == 1  # one event, retried
    assert len({r.body for r in receiver.received}) == 1  # the same bytes every time
    assert all(r.verified for r in receiver.received)
    assert webhook["attempts"] == 3 and webhook["last_status_code"] == 200
    assert _deliveries("retry") - before["retry"] == 2  # the in-process server's metrics
    assert _deliveries("delivered") - before["delivered"] == 1


def test_private_callback_is_refused_unless_allow_listed(
    make_settings: SettingsFactory, receiver: Receiver, tmp_path: Path
) -> None:
    settings = make_settings(**MOCK, **FAST, log_level="WARNING")  # no STT_URL_ALLOWLIST
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        with open(write_wav(tmp_path / "a.wav"), "rb") as handle:
            reply = client.post(
                "/v1/audio/jobs",
                files={"file": ("a.wav", handle, "audio/wav")},
                data={"model": "mock", "callback_url": receiver.url},
            )
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["code"] == "url_not_allowed" and error["param"] == "callback_url"
        assert client.get("/v1/audio/jobs").json()["data"] == []  # nothing was enqueued


def _webhook(base: str, job_id: str) -> dict[str, Any]:
    return httpx.get(f"{base}/v1/audio/jobs/{job_id}", timeout=10).json()["webhook"] or {}


@pytest.mark.slow
def test_killed_gateway_delivers_the_event_after_restart(
    make_settings: SettingsFactory,
    receiver: Receiver,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    """SIGKILL after the job ended but before its event was delivered (the receiver was
    down): the restarted gateway delivers the same event from the outbox. The 5 s backoff
    makes the kill land between attempts, not during one (that case waits for the claim
    lease; see test_webhook_outbox)."""
    settings = make_settings(**MOCK, worker_poll_s=0.05)
    env = {
        "STT_WEBHOOK_SECRET": SECRET,
        "STT_URL_ALLOWLIST": "127.0.0.1",
        "STT_WEBHOOK_BACKOFF_BASE_S": "5",
        "STT_WEBHOOK_BACKOFF_MAX_S": "5",
        "STT_WEBHOOK_POLL_S": "0.1",
    }
    receiver.default = 503
    port = free_port()
    first = spawn_gateway(settings, REPO, port, **env)
    processes.append(first)
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/health")
    with httpx.Client(base_url=base, timeout=30) as client:
        job = post_upload(client, write_wav(tmp_path / "a.wav"), callback_url=receiver.url)
        assert wait_job(client, job["id"])["status"] == "succeeded"
    wait_for(lambda: _webhook(base, job["id"]).get("status") == "pending", 20, "a failed try")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    assert receiver.delivered() == []
    refused = {r.event_id for r in receiver.received}

    receiver.default = 200
    port = free_port()
    processes.append(spawn_gateway(settings, REPO, port, **env))
    base = f"http://127.0.0.1:{port}"
    wait_http(f"{base}/health")
    wait_for(lambda: len(receiver.delivered()) == 1, 30, "delivery after the restart")
    (delivered,) = receiver.delivered()
    assert refused == {delivered.event_id} and delivered.verified
    wait_for(lambda: _webhook(base, job["id"]).get("status") == "delivered", 10, "the record")


@pytest.mark.slow
def test_two_gateways_on_one_postgresql_deliver_each_event_once(
    make_settings: SettingsFactory,
    pg_url: str,
    receiver: Receiver,
    processes: list[subprocess.Popen[bytes]],
    tmp_path: Path,
) -> None:
    jobs_count = 20
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    settings = make_settings(**MOCK, database_url=pg_url, worker_poll_s=0.05)
    env = {
        "STT_WEBHOOK_SECRET": SECRET,
        "STT_URL_ALLOWLIST": "127.0.0.1",
        "STT_WEBHOOK_POLL_S": "0.05",
        "STT_WEBHOOK_CONCURRENCY": "4",
        "STT_EMBEDDED_WORKER_CONCURRENCY": "2",
    }
    bases = []
    for _ in range(2):
        port = free_port()
        processes.append(spawn_gateway(settings, REPO, port, **env))
        bases.append(f"http://127.0.0.1:{port}")
    for base in bases:
        wait_http(f"{base}/health")
    clients = [httpx.Client(base_url=base, timeout=30) for base in bases]
    try:
        ids = [
            post_upload(
                clients[i % 2],
                write_wav(tmp_path / f"{i}.wav", 0.3, seed=i),
                callback_url=receiver.url,
            )["id"]
            for i in range(jobs_count)
        ]
        wait_for(lambda: len(receiver.delivered_ids()) == jobs_count, 60, f"{jobs_count} events")
        time.sleep(1.0)  # room for a duplicate to show up
        events = [r.event for r in receiver.received]
    finally:
        for client in clients:
            client.close()
    assert sorted(e["data"]["job_id"] for e in events) == sorted(ids)
    assert len(receiver.received) == jobs_count  # no duplicates, no failed attempts
    assert all(r.verified for r in receiver.received)
    with psycopg.connect(pg_url) as conn:
        by_gateway = dict(
            conn.execute(
                "SELECT claimed_by, count(*) FROM webhook_deliveries WHERE status = 'delivered'"
                " GROUP BY claimed_by"
            ).fetchall()
        )
    print(f"events delivered per gateway: {sorted(by_gateway.values())}")
    assert sum(by_gateway.values()) == jobs_count and len(by_gateway) == 2  # both took part
