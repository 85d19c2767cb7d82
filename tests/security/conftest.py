"""Fixtures for the security, limits and observability tests."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

import jwt
import pytest
import redis
from fastapi.testclient import TestClient

from app.core.config import Settings
from app.main import create_app

API_KEY = "test-api-key-" + "0123456789abcdef"
JWT_SECRET = "test-jwt-secret-" + "0123456789abcdef" * 3
REDIS_URL = os.environ.get("STT_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

# Fast, model-free defaults: the mock provider and no rate limits unless a test sets them.
FAST = {
    "default_provider": "mock",
    "default_model": "mock",
    "translation_model": "mock",
    "rate_limit_enabled": False,
}

ClientFactory = Callable[..., AbstractContextManager[TestClient]]


def token(
    sub: str = "alice",
    scopes: str | list[str] | None = "transcribe stream jobs",
    *,
    secret: str = JWT_SECRET,
    algorithm: str = "HS256",
    exp_in: float = 3600,
    **claims: Any,
) -> str:
    """A signed test JWT. Valid for an hour by default: modules mint their tokens at
    collection, and the whole suite can run for many minutes before they are used."""
    payload: dict[str, Any] = {"sub": sub, "exp": int(time.time() + exp_in), **claims}
    if scopes is not None:
        payload["scope"] = scopes
    return jwt.encode(payload, secret, algorithm=algorithm)


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> ClientFactory:
    """``with make_client(**settings) as client`` runs an app (with its lifespan) in-process."""

    @contextmanager
    def factory(**overrides: Any) -> Iterator[TestClient]:
        settings = make_settings(**{**FAST, **overrides})
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            yield client

    return factory


@pytest.fixture
def redis_prefix() -> Iterator[str]:
    """A key prefix private to one test; its keys are deleted afterwards (never FLUSHALL)."""
    prefix = f"stt-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    client = redis.Redis.from_url(REDIS_URL)
    try:
        keys = list(client.scan_iter(match=f"{prefix}*", count=500))
        if keys:
            client.delete(*keys)
    finally:
        client.close()
