"""Webhook signatures: HMAC-SHA256 over ``"{timestamp}.{body}"`` with ``STT_WEBHOOK_SECRET``.

Every request carries::

    Webhook-Id: evt_...              the event id, the same on every retry (deduplicate on it)
    Webhook-Timestamp: 1765123456    Unix seconds when this attempt was signed
    Webhook-Signature: v1=<hex>      hex HMAC-SHA256(secret, f"{timestamp}.".encode() + body)

The body bytes are frozen when the event is enqueued; the timestamp, and so the signature, is
fresh on each attempt. Receivers check the signature over the raw body and refuse timestamps
outside a tolerance window (replays). ``Docs/Webhooks.md`` has a standalone verification snippet.
"""

from __future__ import annotations

import hashlib
import hmac

SCHEME = "v1"
ID_HEADER = "Webhook-Id"
TIMESTAMP_HEADER = "Webhook-Timestamp"
SIGNATURE_HEADER = "Webhook-Signature"
DEFAULT_TOLERANCE_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``Webhook-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def verify(
    secret: str,
    body: bytes,
    timestamp: str,
    signature: str,
    *,
    now: float,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
) -> bool:
    """True when ``signature`` (one or more space-separated ``v1=...``) signs ``body`` at
    ``timestamp`` and ``timestamp`` lies within ``tolerance_s`` of ``now``."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance_s:
        return False
    expected = sign(secret, sent, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signature.split())


def headers(secret: str | None, event_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The request headers of one attempt (no signature header when no secret is set)."""
    result = {
        "Content-Type": "application/json",
        "User-Agent": "stt-gateway-webhooks/1",
        ID_HEADER: event_id,
        TIMESTAMP_HEADER: str(timestamp),
    }
    if secret:
        result[SIGNATURE_HEADER] = sign(secret, timestamp, body)
    return result
