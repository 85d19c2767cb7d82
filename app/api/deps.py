"""Typed dependencies routes ask for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request

from app.core.auth import authenticate_none
from app.services.gateway import Gateway
from schemas.auth import Principal, Scope
from schemas.errors import PermissionDenied


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


def get_principal() -> Principal:
    return authenticate_none()


GatewayDep = Annotated[Gateway, Depends(get_gateway)]
CurrentUser = Annotated[Principal, Depends(get_principal)]


def require_scope(scope: Scope) -> Callable[[Principal], Principal]:
    """Dependency factory: the caller must hold ``scope`` (admin holds every scope)."""

    def check(principal: CurrentUser) -> Principal:
        if not principal.has(scope):
            raise PermissionDenied(f"this operation needs the '{scope.value}' scope")
        return principal

    return check


TranscribeUser = Annotated[Principal, Depends(require_scope(Scope.TRANSCRIBE))]
StreamUser = Annotated[Principal, Depends(require_scope(Scope.STREAM))]
JobsUser = Annotated[Principal, Depends(require_scope(Scope.JOBS))]
AdminUser = Annotated[Principal, Depends(require_scope(Scope.ADMIN))]
