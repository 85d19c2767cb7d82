"""WebSocket authentication on the live streaming endpoint: headers, first ``auth`` message,
query token (only when enabled), scopes, and the per-user cap on live sessions."""

from __future__ import annotations

import time
from typing import Any

import pytest
from starlette.testclient import WebSocketTestSession
from starlette.websockets import WebSocketDisconnect

from tests.security.conftest import API_KEY, JWT_SECRET, ClientFactory, bearer, token

PATHS = ("/v1/audio/stream/transcribe", "/api/v1/audio/stream/transcribe")
START = {"type": "start", "model": "mock", "sample_rate": 16000, "encoding": "pcm16"}
POLICY_VIOLATION, TRY_AGAIN_LATER = 1008, 1013


def refusal(ws: WebSocketTestSession) -> tuple[dict[str, Any], int]:
    """The error event the server sent and the close code that followed it."""
    event = ws.receive_json()
    with pytest.raises(WebSocketDisconnect) as info:
        ws.receive_json()
    return event, info.value.code


def assert_refused(ws: WebSocketTestSession, code: str, close: int = POLICY_VIOLATION) -> None:
    event, close_code = refusal(ws)
    assert event["type"] == "error" and event["code"] == code and event["fatal"] is True
    assert close_code == close


def assert_serves(ws: WebSocketTestSession) -> None:
    ws.send_json(START)
    event = ws.receive_json()
    assert event["type"] == "start", event
    ws.send_json({"type": "stop"})
    while (event := ws.receive_json())["type"] != "end":
        pass


def api_key_client(make_client: ClientFactory, **overrides: Any) -> Any:
    return make_client(auth_mode="api_key", api_key=API_KEY, **overrides)


def test_api_key_headers(make_client: ClientFactory) -> None:
    with api_key_client(make_client) as client:
        for path in PATHS:
            with client.websocket_connect(path, headers={"X-API-Key": "wrong"}) as ws:
                assert_refused(ws, "invalid_api_key")
            with client.websocket_connect(path, headers={"Authorization": "Basic x"}) as ws:
                assert_refused(ws, "invalid_authorization")
            with client.websocket_connect(path, headers=bearer(API_KEY)) as ws:
                assert_serves(ws)
            with client.websocket_connect(path, headers={"X-API-Key": API_KEY}) as ws:
                assert_serves(ws)


def test_first_message_auth(make_client: ClientFactory) -> None:
    with api_key_client(make_client) as client:
        path = PATHS[0]
        with client.websocket_connect(path) as ws:
            ws.send_json(START)  # no credentials at all
            assert_refused(ws, "missing_credentials")
        with client.websocket_connect(path) as ws:
            ws.send_bytes(b"\x00\x01" * 100)
            assert_refused(ws, "missing_credentials")
        with client.websocket_connect(path) as ws:
            ws.send_json({"type": "auth", "token": "wrong"})
            assert_refused(ws, "invalid_api_key")
        with client.websocket_connect(path) as ws:
            ws.send_json({"type": "auth", "token": API_KEY})
            assert_serves(ws)


def test_first_message_timeout(make_client: ClientFactory) -> None:
    with (
        api_key_client(make_client, ws_auth_timeout_s=0.2) as client,
        client.websocket_connect(PATHS[0]) as ws,
    ):
        assert_refused(ws, "auth_timeout")


def test_query_token_only_when_enabled(make_client: ClientFactory) -> None:
    with (
        api_key_client(make_client) as client,
        client.websocket_connect(f"{PATHS[0]}?token={API_KEY}") as ws,
    ):
        ws.send_json(START)
        assert_refused(ws, "missing_credentials")
    with api_key_client(make_client, ws_allow_query_token=True) as client:
        with client.websocket_connect(f"{PATHS[0]}?token={API_KEY}") as ws:
            assert_serves(ws)
        with client.websocket_connect(f"{PATHS[0]}?token=wrong") as ws:
            assert_refused(ws, "invalid_api_key")


def test_jwt_scopes(make_client: ClientFactory) -> None:
    with make_client(auth_mode="jwt", jwt_secret=JWT_SECRET) as client:
        for path in PATHS:
            with client.websocket_connect(path, headers=bearer(token(exp_in=-300))) as ws:
                assert_refused(ws, "token_expired")
            with client.websocket_connect(
                path, headers=bearer(token(scopes="transcribe jobs"))
            ) as ws:
                assert_refused(ws, "insufficient_scope")
            with client.websocket_connect(path) as ws:
                ws.send_json({"type": "auth", "token": token(scopes="stream")})
                assert_serves(ws)
            with client.websocket_connect(path, headers=bearer(token(scopes="admin"))) as ws:
                assert_serves(ws)


def test_per_user_session_cap(make_client: ClientFactory) -> None:
    with make_client(auth_mode="jwt", jwt_secret=JWT_SECRET, max_streams_per_user=1) as client:
        alice, bob = bearer(token("alice")), bearer(token("bob"))
        path = PATHS[0]
        with client.websocket_connect(path, headers=alice) as first:
            first.send_json(START)
            assert first.receive_json()["type"] == "start"
            with client.websocket_connect(path, headers=alice) as second:
                assert_refused(second, "too_many_stream_sessions", TRY_AGAIN_LATER)
            with client.websocket_connect(path, headers=bob) as other:
                assert_serves(other)
            first.send_json({"type": "stop"})
            while first.receive_json()["type"] != "end":
                pass
        for _ in range(100):  # the slot is released right after the session's socket closes
            with client.websocket_connect(path, headers=alice) as again:
                again.send_json(START)
                if again.receive_json()["type"] == "start":
                    again.send_json({"type": "stop"})  # end it as a client does before closing
                    while again.receive_json()["type"] != "end":
                        pass
                    break
            time.sleep(0.02)
        else:
            raise AssertionError("the first session's slot was never released")


def test_ws_rate_limit(make_client: ClientFactory) -> None:
    with api_key_client(make_client, rate_limit_enabled=True, rate_limit_per_user="1/minute") as c:
        with c.websocket_connect(PATHS[0], headers=bearer(API_KEY)) as ws:
            assert_serves(ws)
        with c.websocket_connect(PATHS[0], headers=bearer(API_KEY)) as ws:
            assert_refused(ws, "user_rate_limit_exceeded", TRY_AGAIN_LATER)


def test_client_gone_before_auth_is_quiet(make_client: ClientFactory) -> None:
    with api_key_client(make_client) as client:
        with client.websocket_connect(PATHS[0]) as ws:
            ws.close()
        assert client.get("/health").status_code == 200
