"""Liveness and readiness probes.

``/ready`` answers 503 ``not_ready`` when this replica cannot serve: the default model does not
resolve, storage is not writable, or Redis is down under ``STT_REDIS_FAILURE_POLICY=closed``.
Redis down under the default ``open`` policy is 200 ``degraded``: the replica still serves (limits
off, stream caps per replica), and Redis is shared by every replica, so a 503 would make a load
balancer drop all of them at once and turn a degraded limit store into a full outage.
"""

from __future__ import annotations

import tempfile

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from app.api.deps import GatewayDep
from app.bootstrap import Gateway
from app.core.redis_store import RedisStore
from schemas.errors import GatewayError

router = APIRouter(tags=["health"])


@router.get("/health", summary="Liveness: the process answers")
async def health() -> dict[str, str]:
    return {"status": "ok"}


def _readiness(gateway: Gateway) -> dict[str, object]:
    checks: dict[str, object] = {}
    try:
        target = gateway.registry.resolve(gateway.settings.default_model)
        checks["default_model"] = {
            "ok": True,
            "model": target.label,
            "health": target.provider.healthcheck().model_dump(),
        }
    except GatewayError as exc:
        checks["default_model"] = {"ok": False, "error": exc.message}
    try:
        with tempfile.NamedTemporaryFile(dir=gateway.settings.tmp_dir):
            pass
        checks["storage"] = {"ok": True}
    except OSError as exc:
        checks["storage"] = {"ok": False, "error": str(exc)}
    return checks


def _redis_check(store: RedisStore) -> dict[str, object]:
    # While Redis is known to be down, probe it no more often than requests do, so a flood of
    # probes cannot tie up worker threads on timeouts (STT_REDIS_TIMEOUT_S each).
    up = store.should_try() and store.ping()
    check: dict[str, object] = {
        "ok": up,
        "state": "up" if up else "unavailable",
        "policy": store.policy,
    }
    if not up:
        check["error"] = store.last_error  # an exception type, never the URL
    return check


@router.get(
    "/ready",
    summary="Readiness: the default model resolves, storage is writable, Redis (if set) answers",
)
async def ready(request: Request, gateway: GatewayDep) -> JSONResponse:
    checks = await anyio.to_thread.run_sync(_readiness, gateway)
    ok = all(bool(c["ok"]) for c in checks.values())  # type: ignore[index]
    degraded = False
    store: RedisStore | None = request.app.state.redis
    if store is not None:
        checks["redis"] = redis = await anyio.to_thread.run_sync(_redis_check, store)
        if not redis["ok"]:
            ok, degraded = ok and store.policy == "open", True
    status = "not_ready" if not ok else "degraded" if degraded else "ready"
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if ok else 503)
