"""Rate limits (global, per user, per provider) hit and recovered, in memory and shared through
the real Redis server by two app instances; per-user session slots in Redis."""

from __future__ import annotations

import asyncio
import io
import math
import time
import wave
from collections.abc import Callable
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from app.core.limits import UserSlots, enforce_job_cap, parse_provider_limits
from app.core.redis_store import RedisStore
from schemas.errors import RateLimited
from tests.security.conftest import JWT_SECRET, REDIS_URL, ClientFactory, bearer, token

ALICE, BOB, CAROL = (bearer(token(u)) for u in ("alice", "bob", "carol"))


def jwt_limits(**overrides: Any) -> dict[str, Any]:
    return {
        "auth_mode": "jwt",
        "jwt_secret": JWT_SECRET,
        "rate_limit_enabled": True,
        "rate_limit_global": "",
        "rate_limit_per_user": "",
        **overrides,
    }


def assert_limited(response, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 429, response.text
    assert response.json()["error"]["type"] == "rate_limit_error"
    assert response.json()["error"]["code"] == code
    retry_after = int(response.headers["Retry-After"])
    assert 1 <= retry_after <= 60


def ok(client: TestClient, headers: dict[str, str]) -> bool:
    status = client.get("/v1/models", headers=headers).status_code
    assert status in (200, 429)
    return status == 200


def recovery_time(allowed: Callable[[], bool], timeout: float = 5.0) -> float:
    """When ``allowed()`` first succeeds (refused calls do not count against the window)."""
    deadline = time.monotonic() + timeout
    while not allowed():
        assert time.monotonic() < deadline, "the limit never recovered"
        time.sleep(0.1)
    return time.monotonic()


def wav_bytes(seconds: float = 0.5, rate: int = 16000) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        samples = (
            int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate))
        )
        out.writeframes(b"".join(s.to_bytes(2, "little", signed=True) for s in samples))
    return buffer.getvalue()


def test_per_user_limit_hit_and_recovered(make_client: ClientFactory) -> None:
    with make_client(**jwt_limits(rate_limit_per_user="3 per 2 seconds")) as client:
        started = time.monotonic()
        assert all(ok(client, ALICE) for _ in range(3))
        assert_limited(client.get("/api/v1/models", headers=ALICE), "user_rate_limit_exceeded")
        assert ok(client, BOB)  # other users have their own budget
        assert client.get("/health").status_code == 200  # probes are never limited
        recovered = recovery_time(lambda: ok(client, ALICE))
        assert 1.5 <= recovered - started <= 4.0


def test_global_limit(make_client: ClientFactory) -> None:
    with make_client(**jwt_limits(rate_limit_global="4 per 10 seconds")) as client:
        assert ok(client, ALICE) and ok(client, ALICE) and ok(client, BOB) and ok(client, BOB)
        assert_limited(client.get("/v1/models", headers=CAROL), "global_rate_limit_exceeded")


def test_provider_limit(make_client: ClientFactory) -> None:
    overrides = jwt_limits(rate_limit_providers="mock=2/minute, faster-whisper=100/minute")
    with make_client(**overrides) as client:

        def transcribe(headers: dict[str, str]):  # type: ignore[no-untyped-def]
            return client.post(
                "/v1/audio/transcriptions",
                headers=headers,
                files={"file": ("a.wav", wav_bytes(), "audio/wav")},
                data={"model": "mock"},
            )

        assert transcribe(ALICE).status_code == 200
        assert transcribe(BOB).status_code == 200
        assert_limited(transcribe(CAROL), "provider_rate_limit_exceeded")
        assert ok(client, CAROL)  # the provider's budget is not the user's


def test_disabled_limits_never_refuse(make_client: ClientFactory) -> None:
    overrides = jwt_limits(rate_limit_per_user="1/minute", rate_limit_enabled=False)
    with make_client(**overrides) as client:
        assert all(ok(client, ALICE) for _ in range(5))


def test_two_replicas_share_limits_through_redis(
    make_client: ClientFactory, redis_prefix: str
) -> None:
    shared = jwt_limits(
        redis_url=REDIS_URL,
        rate_limit_key_prefix=redis_prefix,
        rate_limit_per_user="3 per 2 seconds",
    )
    with make_client(**shared) as one, make_client(**shared) as two:
        started = time.monotonic()
        assert ok(one, ALICE) and ok(two, ALICE) and ok(one, ALICE)
        assert_limited(two.get("/v1/models", headers=ALICE), "user_rate_limit_exceeded")
        assert_limited(one.get("/v1/models", headers=ALICE), "user_rate_limit_exceeded")
        assert ok(two, BOB)
        keys = redis.Redis.from_url(REDIS_URL).keys(f"{redis_prefix}*")
        assert keys, "the limits live in Redis under the configured prefix"
        recovered = recovery_time(lambda: ok(two, ALICE))
        assert 1.5 <= recovered - started <= 4.0


def test_redis_down_fails_open(make_client: ClientFactory) -> None:
    overrides = jwt_limits(redis_url="redis://127.0.0.1:1/0", rate_limit_per_user="1/minute")
    with make_client(**overrides) as client:
        assert ok(client, ALICE) and ok(client, ALICE)


async def test_session_slots_shared_through_redis(redis_prefix: str) -> None:
    stores = RedisStore(REDIS_URL, timeout_s=1), RedisStore(REDIS_URL, timeout_s=1)
    one = UserSlots("stream", 1, store=stores[0], prefix=redis_prefix, ttl_s=30)
    two = UserSlots("stream", 1, store=stores[1], prefix=redis_prefix, ttl_s=30)
    try:
        async with one.hold("alice"):
            assert two.active("alice") == 1
            with pytest.raises(RateLimited) as info:
                async with two.hold("alice"):
                    pass
            assert info.value.code == "too_many_stream_sessions"
            async with two.hold("bob"):
                assert one.active("bob") == 1
        assert two.active("alice") == 0
        async with two.hold("alice"):
            pass
    finally:
        for store in stores:
            store.close()


async def test_crashed_holders_lapse(redis_prefix: str) -> None:
    store = RedisStore(REDIS_URL, timeout_s=1)
    slots = UserSlots("stream", 1, store=store, prefix=redis_prefix, ttl_s=0.3)
    try:
        assert slots._acquire("alice", "crashed-replica-slot")  # never released
        with pytest.raises(RateLimited):
            async with slots.hold("alice"):
                pass
        await asyncio.sleep(0.4)
        async with slots.hold("alice"):
            assert slots.active("alice") == 1
    finally:
        store.close()


async def test_memory_session_slots() -> None:
    slots = UserSlots("stream", 2, store=None, prefix="x")
    async with slots.hold("alice"), slots.hold("alice"):
        with pytest.raises(RateLimited):
            async with slots.hold("alice"):
                pass
    assert slots.active("alice") == 0


def test_job_cap(make_settings: Any) -> None:
    settings = make_settings(max_active_jobs_per_user=2)
    enforce_job_cap(1, settings)
    with pytest.raises(RateLimited) as info:
        enforce_job_cap(2, settings)
    assert info.value.code == "too_many_active_jobs" and info.value.retry_after


def test_job_cap_over_http(make_client: ClientFactory) -> None:
    overrides = jwt_limits(max_active_jobs_per_user=1, embedded_worker=False)
    with make_client(**overrides) as client:

        def submit(headers: dict[str, str]):  # type: ignore[no-untyped-def]
            return client.post(
                "/v1/audio/jobs",
                headers=headers,
                files={"file": ("a.wav", wav_bytes(), "audio/wav")},
                data={"model": "mock"},
            )

        first = submit(ALICE)
        assert first.status_code == 202, first.text
        assert_limited(submit(ALICE), "too_many_active_jobs")
        assert submit(BOB).status_code == 202  # the cap is per user
        cancelled = client.post(f"/api/v1/audio/jobs/{first.json()['id']}/cancel", headers=ALICE)
        assert cancelled.json()["status"] == "cancelled"
        assert submit(ALICE).status_code == 202


def test_provider_limit_at_stream_start(make_client: ClientFactory) -> None:
    with make_client(**jwt_limits(rate_limit_providers="mock=1/minute")) as client:
        with client.websocket_connect("/v1/audio/stream/transcribe", headers=ALICE) as ws:
            ws.send_json({"type": "start", "model": "mock"})
            assert ws.receive_json()["type"] == "start"
            ws.send_json({"type": "stop"})
            while ws.receive_json()["type"] != "end":
                pass
        with client.websocket_connect("/v1/audio/stream/transcribe", headers=BOB) as ws:
            ws.send_json({"type": "start", "model": "mock"})
            refused = ws.receive_json()
            assert refused["type"] == "error" and not refused["fatal"]
            assert refused["code"] == "provider_rate_limit_exceeded"
            ws.send_json({"type": "stop"})  # not started: stopping is a protocol error too
            assert ws.receive_json()["code"] == "invalid_state"
            ws.close()


def test_provider_limit_syntax() -> None:
    limits = parse_provider_limits("external=30/minute, mock=5/second;100/minute")
    assert [str(i) for i in limits["mock"]] == ["5 per 1 second", "100 per 1 minute"]
    for bad in ("mock", "=5/minute", "mock=lots"):
        with pytest.raises(ValueError):
            parse_provider_limits(bad)
