"""Authentication: turn request credentials into a :class:`Principal`.

Modes (``STT_AUTH_MODE``):

* ``none``: local development. Everyone is the single local user with every scope; a loud
  warning is logged at start-up and the settings refuse a non-loopback bind unless
  ``STT_ALLOW_REMOTE_NO_AUTH`` is set.
* ``api_key``: one user. The key (``STT_API_KEY``) arrives as ``Authorization: Bearer <key>`` or
  ``X-API-Key: <key>`` and grants every scope to ``STT_API_KEY_USER``.
* ``jwt``: many users. ``sub`` is the user id; the scope claim (``STT_JWT_SCOPE_CLAIM``, an
  OAuth2 space-separated string or a list) grants ``transcribe``, ``stream``, ``jobs``, ``admin``.
  Verified with ``STT_JWT_SECRET`` (HS*) or ``STT_JWT_PUBLIC_KEY`` (RS*/PS*/ES*/EdDSA, PEM text or
  a path to a PEM file); ``exp`` and ``sub`` are required; ``aud``/``iss`` are checked when set.

Every failure is an :class:`AuthenticationError` (401); missing scopes are the dependencies'
:class:`PermissionDenied` (403). Tokens never appear in messages or logs.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import jwt
from loguru import logger
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from app.core.json_input import loads
from app.core.log_context import bind
from app.core.settings_checks import HMAC_ALGORITHMS
from schemas.auth import Principal, Scope
from schemas.errors import AuthenticationError, PermissionDenied

if TYPE_CHECKING:
    from app.core.config import Settings

LOCAL_USER = Principal(user_id="local", scopes=frozenset(Scope))
MAX_TOKEN_CHARS = 8192
MAX_SUBJECT_CHARS = 256


def _load_public_key(value: str) -> str:
    if "-----BEGIN" in value:
        return value
    path = Path(value)
    if not path.is_file():
        raise ValueError("STT_JWT_PUBLIC_KEY is neither PEM text nor a readable file")
    return path.read_text("utf-8")


def credentials_from_headers(headers: Mapping[str, str]) -> str | None:
    """The bearer token or API key a request carries, or ``None``."""
    authorization = headers.get("authorization")
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError(
                "the Authorization header must be 'Bearer <token>'", code="invalid_authorization"
            )
        return token.strip()
    api_key = headers.get("x-api-key")
    return api_key.strip() if api_key and api_key.strip() else None


def _scopes(raw: Any) -> frozenset[Scope]:
    if isinstance(raw, str):
        names = raw.split()
    elif isinstance(raw, list | tuple):
        names = [n for n in raw if isinstance(n, str)]
    else:
        names = []
    known = {s.value: s for s in Scope}
    return frozenset(known[n] for n in names if n in known)


class Authenticator:
    """Verifies credentials for the configured mode; built once per app."""

    def __init__(self, settings: Settings) -> None:
        self.mode = settings.auth_mode
        self._api_key = settings.api_key.get_secret_value().encode() if settings.api_key else b""
        self._api_user = Principal(user_id=settings.api_key_user, scopes=frozenset(Scope))
        self._algorithm = settings.jwt_algorithm
        self._audience = settings.jwt_audience
        self._issuer = settings.jwt_issuer
        self._scope_claim = settings.jwt_scope_claim
        self._leeway = settings.jwt_leeway_s
        self._key: str = ""
        if self.mode == "jwt":
            if self._algorithm in HMAC_ALGORITHMS:
                assert settings.jwt_secret is not None  # checked by the settings
                self._key = settings.jwt_secret.get_secret_value()
            else:
                self._key = _load_public_key(settings.jwt_public_key or "")

    @property
    def required(self) -> bool:
        return self.mode != "none"

    def authenticate(self, token: str | None) -> Principal:
        if self.mode == "none":
            return LOCAL_USER
        try:
            return self._authenticate(token)
        except AuthenticationError as exc:
            logger.info("authentication failed: {}", exc.code)
            raise

    def _authenticate(self, token: str | None) -> Principal:
        if not token:
            raise AuthenticationError(
                "missing credentials: send 'Authorization: Bearer <token>' or 'X-API-Key: <key>'",
                code="missing_credentials",
            )
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthenticationError("the credentials are too long", code="invalid_token")
        if self.mode == "api_key":
            if not hmac.compare_digest(token.encode(), self._api_key):
                raise AuthenticationError("incorrect API key provided", code="invalid_api_key")
            return self._api_user
        return self._verify_jwt(token)

    def _verify_jwt(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[self._algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired", code="token_expired") from None
        except jwt.InvalidTokenError as exc:
            reason = type(exc).__name__.removesuffix("Error")
            raise AuthenticationError(
                f"the token is not valid ({reason})", code="invalid_token"
            ) from None
        subject = claims.get("sub")
        if (
            not isinstance(subject, str)
            or not subject.strip()
            or len(subject) > MAX_SUBJECT_CHARS
            or not subject.isprintable()
        ):
            raise AuthenticationError("the token's 'sub' claim is not a usable user id")
        return Principal(user_id=subject, scopes=_scopes(claims.get(self._scope_claim)))


# --- WebSocket --------------------------------------------------------------------------------


async def _first_message_token(websocket: WebSocket, timeout_s: float) -> str:
    """Read ``{"type": "auth", "token": "..."}`` as the socket's first message."""
    try:
        with anyio.fail_after(timeout_s):  # not asyncio.wait_for (see streaming/session.py)
            message = await websocket.receive()
    except TimeoutError:
        raise AuthenticationError(
            f"no credentials within {timeout_s:.0f} s: send an 'auth' message first",
            code="auth_timeout",
        ) from None
    if message["type"] == "websocket.disconnect":
        raise WebSocketDisconnect(message.get("code", 1000))
    try:
        payload = loads(message.get("text") or "")
    except ValueError:  # not JSON, or nested too deeply
        payload = None
    if (
        not isinstance(payload, dict)
        or payload.get("type") != "auth"
        or not isinstance(payload.get("token"), str)
    ):
        raise AuthenticationError(
            'authentication required: send {"type": "auth", "token": "..."} first, or an '
            "Authorization / X-API-Key header",
            code="missing_credentials",
        )
    return str(payload["token"])


async def authenticate_websocket(websocket: WebSocket) -> Principal:
    """Authenticate a WebSocket at the start of its handler (accepted or not yet).

    Credentials, in order: ``Authorization: Bearer`` / ``X-API-Key`` headers; ``?token=`` when
    ``STT_WS_ALLOW_QUERY_TOKEN`` is on; otherwise (auth on, nothing sent) the socket is accepted
    if it was not yet and the first message must be ``{"type": "auth", "token": "..."}`` within
    ``STT_WS_AUTH_TIMEOUT_S``. The caller must hold the ``stream`` scope, and the session counts
    as one call against the global and per-user rate limits.

    Raises :class:`AuthenticationError`, :class:`PermissionDenied` or ``RateLimited``; the handler
    refuses the socket with its ``error`` event and close code (``app.core.errors``). Raises
    ``WebSocketDisconnect`` if the client leaves before authenticating.
    """
    state = websocket.app.state
    authenticator: Authenticator = state.authenticator
    token = credentials_from_headers(websocket.headers)
    if token is None and state.settings.ws_allow_query_token:
        token = websocket.query_params.get("token") or None
    if token is None and authenticator.required:
        if websocket.client_state is WebSocketState.CONNECTING:
            await websocket.accept()
        token = await _first_message_token(websocket, state.settings.ws_auth_timeout_s)
    principal = authenticator.authenticate(token)
    bind(user=principal.user_id)
    if not principal.has(Scope.STREAM):
        raise PermissionDenied(f"this operation needs the '{Scope.STREAM.value}' scope")
    await state.rate_limits.admit(principal)
    return principal
