"""Pure checks behind the settings' validators: rate-limit syntax, the storage encryption key and
the coherence of the authentication settings.

This module imports nothing from the rest of the gateway, so :mod:`app.core.config` can validate
with it while :mod:`app.core.limits`, :mod:`app.core.auth` and :mod:`app.core.crypto` (which
import the settings) use the same helpers at run time. Every check raises ``ValueError``.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress

from limits import RateLimitItem, parse_many

HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
ASYMMETRIC_ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
MIN_API_KEY_CHARS = 16


def parse_rate(value: str) -> list[RateLimitItem]:
    """``"120/minute;2000/hour"`` -> limits; empty means no limit. Raises ``ValueError``."""
    if not value.strip():
        return []
    try:
        return list(parse_many(value))
    except ValueError:
        raise ValueError(f"not a rate limit: {value!r} (expected e.g. '120/minute')") from None


def parse_provider_limits(value: str) -> dict[str, list[RateLimitItem]]:
    """``"external=30/minute, mock=5/second;100/minute"`` -> per-provider limits."""
    result: dict[str, list[RateLimitItem]] = {}
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        name, sep, rate = entry.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"not a provider rate limit: {entry!r} (expected 'name=RATE')")
        result[name.strip()] = parse_rate(rate)
    return result


def decode_key(value: str) -> bytes:
    """The 32-byte master key from ``STT_STORAGE_ENCRYPTION_KEY`` (URL-safe base64)."""
    try:
        key = base64.urlsafe_b64decode(value.strip().encode())
    except (binascii.Error, ValueError):
        raise ValueError("STT_STORAGE_ENCRYPTION_KEY is not URL-safe base64") from None
    if len(key) != 32:
        raise ValueError("STT_STORAGE_ENCRYPTION_KEY must encode exactly 32 bytes")
    return key


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_auth(
    *,
    auth_mode: str,
    host: str,
    allow_remote_no_auth: bool,
    api_key: str,
    jwt_algorithm: str,
    jwt_secret: str,
    jwt_public_key: str | None,
) -> None:
    """Refuse incoherent or unsafe authentication settings (raises ``ValueError``).

    Secrets arrive as plain strings, empty when unset."""
    if auth_mode == "none":
        if not _is_loopback(host) and not allow_remote_no_auth:
            raise ValueError(
                f"STT_AUTH_MODE=none would serve {host} without authentication; "
                "set STT_AUTH_MODE=api_key or jwt, or STT_ALLOW_REMOTE_NO_AUTH=true to insist"
            )
    elif auth_mode == "api_key":
        if len(api_key) < MIN_API_KEY_CHARS:
            raise ValueError(
                "STT_AUTH_MODE=api_key needs STT_API_KEY of at least "
                f"{MIN_API_KEY_CHARS} characters"
            )
    else:
        alg = jwt_algorithm
        if alg in HMAC_ALGORITHMS:
            needed = int(alg[2:]) // 8  # RFC 7518 3.2: at least the hash size
            if len(jwt_secret.encode()) < needed:
                raise ValueError(
                    f"STT_JWT_ALGORITHM={alg} needs STT_JWT_SECRET of at least {needed} bytes"
                )
        elif alg in ASYMMETRIC_ALGORITHMS:
            if not jwt_public_key:
                raise ValueError(f"STT_JWT_ALGORITHM={alg} needs STT_JWT_PUBLIC_KEY")
        else:
            raise ValueError(f"STT_JWT_ALGORITHM={alg!r} is not supported")
