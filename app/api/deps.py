"""Typed dependencies routes ask for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from app.bootstrap import Gateway
from app.core.auth import credentials_from_headers
from app.core.log_context import bind
from schemas.auth import Principal, Scope
from schemas.errors import PermissionDenied


def get_gateway(request: Request) -> Gateway:
    return request.app.state.gateway  # type: ignore[no-any-return]


_bearer = HTTPBearer(auto_error=False, description="API key or JWT")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key or JWT")


async def get_principal(
    request: Request,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The authenticated caller, admitted by the global and per-user rate limits.

    ``Authorization: Bearer <token>`` or ``X-API-Key: <token>``; see ``app.core.auth``. The
    ``bearer``/``api_key`` parameters only declare the schemes in OpenAPI; the headers are read
    (and a non-Bearer ``Authorization`` refused) by ``credentials_from_headers``.
    """
    state = request.app.state
    token = credentials_from_headers(request.headers)
    principal: Principal = state.authenticator.authenticate(token)
    bind(user=principal.user_id)
    await state.rate_limits.admit(principal)
    return principal


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
JobsUser = Annotated[Principal, Depends(require_scope(Scope.JOBS))]
