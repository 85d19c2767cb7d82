"""The auth matrix: every API route (from the gateway's own OpenAPI schema, under both prefixes)
with no credentials, bad credentials, a token lacking the scope, and the right scope."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.security.conftest import API_KEY, JWT_SECRET, ClientFactory, bearer, token

PUBLIC = {"/health", "/ready", "/metrics"}
# Routes any authenticated caller may use; every other API route needs a scope.
AUTH_ONLY = {"/models", "/models/{model_id}"}
REQUIRED_SCOPE = {
    "/audio/transcriptions": "transcribe",
    "/audio/translations": "transcribe",
    "/jobs": "jobs",
    "/media": "jobs",
}
ALL_SCOPES = ("transcribe", "stream", "jobs", "admin")


def api_routes(client: TestClient) -> list[tuple[str, str]]:
    routes = []
    for path, operations in client.app.openapi()["paths"].items():  # type: ignore[attr-defined]
        if path in PUBLIC:
            continue
        assert path.startswith("/v1/"), f"unexpected public route {path}: add it to PUBLIC"
        for method in operations:
            for prefix in ("/v1", "/api/v1"):
                routes.append((method.upper(), prefix + path.removeprefix("/v1")))
    assert routes
    return routes


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "nonexistent", path)


def suffix(path: str) -> str:
    return path.removeprefix("/api").removeprefix("/v1")


def required_scope(path: str) -> str | None:
    tail = suffix(path)
    for prefix, scope in REQUIRED_SCOPE.items():
        if tail == prefix or tail.startswith(prefix + "/"):
            return scope
    return None


def assert_envelope(response, status: int, type_: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, (response.request.url, response.text)
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == type_
    assert body["error"]["message"]


def call(client: TestClient, method: str, path: str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return client.request(method, concrete(path), headers=headers or {})


def test_api_key_matrix(make_client: ClientFactory) -> None:
    with make_client(auth_mode="api_key", api_key=API_KEY) as client:
        for method, path in api_routes(client):
            assert_envelope(call(client, method, path), 401, "authentication_error")
            for bad in (
                bearer("wrong-key"),
                {"X-API-Key": "wrong-key"},
                {"Authorization": f"Basic {API_KEY}"},
            ):
                assert_envelope(call(client, method, path, bad), 401, "authentication_error")
            for good in (bearer(API_KEY), {"X-API-Key": API_KEY}):
                assert call(client, method, path, good).status_code not in (401, 403)


def test_jwt_matrix(make_client: ClientFactory) -> None:
    with make_client(auth_mode="jwt", jwt_secret=JWT_SECRET) as client:
        for method, path in api_routes(client):
            assert_envelope(call(client, method, path), 401, "authentication_error")
            forged = token(secret="not-the-secret-" + "x" * 64)
            for bad in (bearer(forged), bearer(token(exp_in=-300)), {"X-API-Key": "eyJ.x.y"}):
                assert_envelope(call(client, method, path, bad), 401, "authentication_error")
            scopeless = call(client, method, path, bearer(token(scopes=None)))
            if suffix(path) in AUTH_ONLY:
                assert scopeless.status_code not in (401, 403)
                continue
            assert_envelope(scopeless, 403, "permission_error")
            assert scopeless.json()["error"]["code"] == "insufficient_scope"
            needed = required_scope(path)
            if needed is not None:
                others = " ".join(s for s in ALL_SCOPES if s not in (needed, "admin"))
                wrong = call(client, method, path, bearer(token(scopes=others)))
                assert_envelope(wrong, 403, "permission_error")
                right = call(client, method, path, bearer(token(scopes=needed)))
                assert right.status_code not in (401, 403), right.text
            admin = call(client, method, path, bearer(token(scopes="admin")))
            assert admin.status_code not in (401, 403), admin.text


def test_public_probes_need_no_credentials(make_client: ClientFactory) -> None:
    with make_client(auth_mode="api_key", api_key=API_KEY, metrics_token="scrape-" + "t" * 20) as c:
        assert c.get("/health").status_code == 200
        assert c.get("/ready").status_code == 200
        assert_envelope(c.get("/metrics"), 401, "authentication_error")
        assert c.get("/metrics", headers=bearer("scrape-" + "t" * 20)).status_code == 200


@pytest.mark.parametrize("mode", ["api_key", "jwt"])
def test_openapi_declares_the_security_schemes(make_client: ClientFactory, mode: str) -> None:
    with make_client(auth_mode=mode, api_key=API_KEY, jwt_secret=JWT_SECRET) as client:
        schemes = client.app.openapi()["components"]["securitySchemes"]  # type: ignore[attr-defined]
        assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
