"""Liveness and readiness probes."""

from __future__ import annotations

import tempfile

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import GatewayDep
from app.services.gateway import Gateway
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


@router.get("/ready", summary="Readiness: the default model resolves and storage is writable")
async def ready(gateway: GatewayDep) -> JSONResponse:
    checks = await anyio.to_thread.run_sync(_readiness, gateway)
    ok = all(bool(c["ok"]) for c in checks.values())  # type: ignore[index]
    return JSONResponse(
        {"status": "ready" if ok else "not_ready", "checks": checks}, status_code=200 if ok else 503
    )
