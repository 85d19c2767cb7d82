"""``GET /v1/audio/providers``: every provider with capabilities, health and breaker state."""

from __future__ import annotations

import anyio
from fastapi import APIRouter

from app.api.deps import GatewayDep, TranscribeUser
from schemas.providers import ProviderList

router = APIRouter(tags=["audio"])


@router.get(
    "/audio/providers",
    response_model=ProviderList,
    summary="List providers: capabilities, health, circuit breaker, fallback chains",
)
async def list_providers(gateway: GatewayDep, _: TranscribeUser) -> ProviderList:
    registry = gateway.registry
    statuses = await anyio.to_thread.run_sync(registry.statuses)
    return ProviderList(data=statuses, fallback_chains=registry.fallbacks)
