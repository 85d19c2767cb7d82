"""Redis unreachable at start or stopped mid-run, against a live server and a real WebSocket
client: every path follows STT_REDIS_FAILURE_POLICY (open: serve, stream caps per replica;
closed: 503 / ``error`` + close 1013), ``/ready`` and the metrics report it, and the gateway
uses Redis again once it is back, without a restart."""

from __future__ import annotations

import asyncio
import json
import math
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import redis
import websockets
from fastapi.testclient import TestClient
from loguru import logger

from app.core.limits import UserSlots
from app.core.redis_store import RedisStore
from app.main import create_app
from schemas.errors import RateLimited
from tests.conftest import SettingsFactory
from tests.security.conftest import API_KEY
from tests.support.server import free_port, running_server

AUTH = {"Authorization": f"Bearer {API_KEY}"}
USER = "default"  # STT_API_KEY_USER
START = {"type": "start", "model": "mock", "sample_rate": 16000, "encoding": "pcm16"}
AUDIO = b"".join(
    struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / 16000))) for i in range(8000)
)  # 0.5 s
TRY_AGAIN_LATER = 1013


def live_settings(make_settings: SettingsFactory, redis_port: int, **overrides: Any) -> Any:
    return make_settings(
        auth_mode="api_key",
        api_key=API_KEY,
        default_provider="mock",
        default_model="mock",
        translation_model="mock",
        embedded_worker=False,
        redis_url=f"redis://127.0.0.1:{redis_port}/0",
        rate_limit_key_prefix=f"stt-outage-{redis_port}",
        **overrides,
    )


@dataclass
class Session:
    """A WebSocket client session: every event it received and the close code (1006 when the
    server dropped the connection without a close frame)."""

    ws: websockets.ClientConnection
    events: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    async def open(cls, base: str) -> Session:
        url = base.replace("http://", "ws://", 1) + "/v1/audio/stream/transcribe"
        return cls(await websockets.connect(url, additional_headers=AUTH))

    async def start(self) -> dict[str, Any]:
        """Send ``start``; the first event that answers it."""
        try:
            await self.ws.send(json.dumps(START))
            self.events.append(json.loads(await asyncio.wait_for(self.ws.recv(), 10)))
        except websockets.ConnectionClosed:
            return {"type": "connection_closed"}
        return self.events[-1]

    async def finish(self) -> int | None:
        """Send a little audio and ``stop``, read until the server closes; the close code."""
        try:
            await self.ws.send(AUDIO)
            await self.ws.send(json.dumps({"type": "stop"}))
        except websockets.ConnectionClosed:
            pass
        try:
            while True:
                self.events.append(json.loads(await asyncio.wait_for(self.ws.recv(), 10)))
        except websockets.ConnectionClosed:
            pass
        return self.ws.close_code

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


async def served(base: str) -> Session:
    """A whole session that must be served normally: start, audio, stop, end, close 1000."""
    session = await Session.open(base)
    assert (await session.start())["type"] == "start", session.events
    assert await session.finish() == 1000, session.events
    assert session.of("end"), session.events
    return session


async def served_once_released(base: str) -> None:
    """:func:`served`, once the server has released the slot of a session that just closed (the
    release follows the close frame)."""
    deadline = time.monotonic() + 10
    while True:
        session = await Session.open(base)
        first = await session.start()
        await session.finish()
        if first.get("code") != "too_many_stream_sessions":
            break
        assert time.monotonic() < deadline, "the slot was never released"
        await asyncio.sleep(0.05)
    assert first["type"] == "start" and session.ws.close_code == 1000, session.events


async def refused(base: str, code: str) -> None:
    """A session the server must refuse: a fatal ``error`` event, then close 1013."""
    session = await Session.open(base)
    await session.start()
    assert await session.finish() == TRY_AGAIN_LATER, session.events
    error = session.events[0]
    assert error["type"] == "error" and error["code"] == code and error["fatal"], session.events


def readiness(base: str) -> tuple[int, dict[str, Any]]:
    response = httpx.get(base + "/ready", timeout=10)
    return response.status_code, response.json()


def dependency_up(base: str) -> str | None:
    """The ``audio_stt_dependency_up{dependency="redis"}`` sample, as text."""
    for line in httpx.get(base + "/metrics", timeout=10).text.splitlines():
        if line.startswith('audio_stt_dependency_up{dependency="redis"}'):
            return line.split()[-1]
    return None


@contextmanager
def redis_server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A throw-away redis-server on ``port`` (no persistence), stopped afterwards."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    options = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"]
    process = subprocess.Popen(
        [binary, "--port", str(port), *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


def slots_in_redis(port: int, prefix: str) -> int:
    client = redis.Redis(port=port)
    try:
        return int(client.zcard(f"{prefix}:slots:stream:{USER}"))
    finally:
        client.close()


async def test_redis_down_at_start_fails_open(make_settings: SettingsFactory) -> None:
    """Default policy: sessions are served and each replica still caps its own sessions."""
    settings = live_settings(make_settings, free_port(), max_streams_per_user=1)
    with running_server(settings) as base:
        await served(base)
        held = await Session.open(base)  # the only slot this replica may give the user
        assert (await held.start())["type"] == "start"
        await refused(base, "too_many_stream_sessions")
        assert await held.finish() == 1000
        await served_once_released(base)  # the slot came back

        assert httpx.get(base + "/v1/models", headers=AUTH).status_code == 200
        status, body = readiness(base)
        assert status == 200 and body["status"] == "degraded", body
        assert body["checks"]["redis"]["ok"] is False
        assert body["checks"]["redis"]["state"] == "unavailable"
        assert dependency_up(base) == "0.0"


async def test_redis_down_at_start_fails_closed(make_settings: SettingsFactory) -> None:
    """STT_REDIS_FAILURE_POLICY=closed: what needs Redis is refused, with a reason and a close."""
    port = free_port()
    only_slots = live_settings(
        make_settings, port, redis_failure_policy="closed", rate_limit_enabled=False
    )
    with running_server(only_slots) as base:
        await refused(base, "redis_unavailable")  # the per-user stream slot
        assert httpx.get(base + "/v1/models", headers=AUTH).status_code == 200  # no Redis needed
        status, body = readiness(base)
        assert status == 503 and body["status"] == "not_ready", body
        assert body["checks"]["redis"]["state"] == "unavailable"

    with running_server(live_settings(make_settings, port, redis_failure_policy="closed")) as base:
        await refused(base, "redis_unavailable")  # the rate limit at authentication
        response = httpx.get(base + "/v1/models", headers=AUTH)
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "redis_unavailable"
        assert int(response.headers["Retry-After"]) >= 1


async def test_redis_stopped_mid_run_and_restarted(make_settings: SettingsFactory) -> None:
    port = free_port()
    settings = live_settings(make_settings, port, max_streams_per_user=2)
    prefix = settings.rate_limit_key_prefix
    with redis_server(port) as first, running_server(settings) as base:
        assert readiness(base)[1]["status"] == "ready"
        running = await Session.open(base)
        assert (await running.start())["type"] == "start"
        assert slots_in_redis(port, prefix) == 1

        first.terminate()
        first.wait(timeout=10)
        assert await running.finish() == 1000, running.events  # the running session ends well
        assert running.of("end")
        await served(base)  # and new ones are served (policy open)
        status, body = readiness(base)
        assert status == 200 and body["status"] == "degraded", body
        assert dependency_up(base) == "0.0"
        assert httpx.get(base + "/v1/models", headers=AUTH).status_code == 200

        with redis_server(port):  # back on the same port, empty: no restart of the gateway
            deadline = time.monotonic() + 15
            while readiness(base)[1]["status"] != "ready":
                assert time.monotonic() < deadline, "/ready never saw Redis come back"
                await asyncio.sleep(0.2)
            assert dependency_up(base) == "1.0"
            session = await Session.open(base)
            assert (await session.start())["type"] == "start"
            assert slots_in_redis(port, prefix) == 1  # counted in Redis again
            assert await session.finish() == 1000
            deadline = time.monotonic() + 10
            while slots_in_redis(port, prefix):  # released in Redis right after the close
                assert time.monotonic() < deadline, "the slot was never released in Redis"
                await asyncio.sleep(0.05)


def test_one_log_line_per_outage(make_settings: SettingsFactory) -> None:
    """An outage is logged when it starts, not once per request."""
    app = create_app(live_settings(make_settings, free_port()))  # replaces every sink
    records: list[Any] = []
    sink = logger.add(lambda message: records.append(message.record), level="WARNING")
    try:
        with TestClient(app) as client:
            for _ in range(5):
                assert client.get("/v1/models", headers=AUTH).status_code == 200
            ready = client.get("/ready").json()  # probes Redis again: still down, no new line
    finally:
        logger.remove(sink)
    lines = [r["message"] for r in records if r["name"].startswith("app.")]
    assert len(lines) == 1, lines
    assert ready["checks"]["redis"]["ok"] is False


def test_hung_redis_costs_one_short_timeout(make_settings: SettingsFactory) -> None:
    """A Redis that accepts connections but never answers: requests wait for one short timeout
    (STT_REDIS_TIMEOUT_S), then skip Redis until it is probed again, instead of hanging."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)  # the kernel completes connections; nothing ever replies
        port = hung.getsockname()[1]
        app = create_app(live_settings(make_settings, port, redis_timeout_s=0.3))
        with TestClient(app) as client:
            started = time.monotonic()
            for _ in range(3):
                assert client.get("/v1/models", headers=AUTH).status_code == 200
            assert time.monotonic() - started < 2.5


async def test_slots_outlive_their_key_expiry_and_return_to_redis() -> None:
    """The keep-alive extends the key's expiry (a session longer than twice the slot TTL stays
    counted), and writes a slot taken during an outage to Redis once it is back."""
    port = free_port()
    store = RedisStore(f"redis://127.0.0.1:{port}/0", timeout_s=0.5)
    slots = UserSlots("stream", 1, store=store, prefix=f"stt-outage-{port}", ttl_s=0.3)
    try:
        async with slots.hold("alice"):  # Redis is not there yet: counted by this process
            with pytest.raises(RateLimited):
                async with slots.hold("alice"):
                    pass
            with redis_server(port):
                await asyncio.sleep(0.5)  # a few refreshes
                assert slots.active("alice") == 1
                await asyncio.sleep(0.5)  # more than the key's own expiry (2 x TTL)
                assert slots.active("alice") == 1
                with pytest.raises(RateLimited):
                    async with slots.hold("alice"):
                        pass
        assert store.up is False  # the release could not reach it, and did not raise
    finally:
        store.close()
