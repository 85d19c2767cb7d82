"""``GET /v1/models`` and ``GET /v1/models/{id}``."""

from __future__ import annotations

import anyio
from fastapi import APIRouter

from app.api.deps import CurrentUser, GatewayDep
from schemas.providers import ModelCard, ModelList

router = APIRouter(tags=["models"])


@router.get("/models", response_model=ModelList, summary="List the models that can be used")
async def list_models(gateway: GatewayDep, _: CurrentUser) -> ModelList:
    cards = await anyio.to_thread.run_sync(gateway.registry.model_cards)
    return ModelList(data=cards)


@router.get("/models/{model_id}", response_model=ModelCard, summary="Describe one model")
async def get_model(model_id: str, gateway: GatewayDep, _: CurrentUser) -> ModelCard:
    return await anyio.to_thread.run_sync(gateway.registry.model_card, model_id)
