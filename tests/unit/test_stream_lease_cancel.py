"""A session whose handler task is cancelled (server shutdown, ASGI cancel scope) still
returns its capacity lease."""

from __future__ import annotations

from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import SettingsFactory


def test_lease_released_when_the_handler_is_cancelled(make_settings: SettingsFactory) -> None:
    app = create_app(make_settings(embedded_worker=False, stream_max_sessions=1))
    with TestClient(app) as client:
        leases = app.state.gateway.streaming.leases
        for _ in range(3):  # with a leak the second session would be refused
            with client.websocket_connect("/v1/audio/stream/transcribe") as ws:
                ws.send_json({"type": "start", "model": "mock", "sample_rate": 16000})
                assert ws.receive_json()["type"] == "start"
                assert leases.active == 1
            # leaving the block disconnects abruptly; TestClient cancels the handler task
        client.get("/health")
        assert leases.active == 0
