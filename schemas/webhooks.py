"""Webhook records: a job's callback request, outbox deliveries, and what the API shows.

Delivery states (``webhook_deliveries.status``), each change one guarded write in
``app.db.webhooks_repo``::

    pending --claim--> delivering --2xx--> delivered
       ^                   |
       +--- non-2xx, ------+--- attempts spent, 410 Gone or a refused address --> failed
            attempts left
    delivering --claim lease expired (its gateway died)--> claimed again by any gateway
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field


class DeliveryStatus(str, Enum):
    PENDING = "pending"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"


EventType = Literal["job.succeeded", "job.failed", "job.dead", "job.cancelled"]


class WebhookSpec(BaseModel):
    """A job's ``callback_url`` and whether its event carries the transcript text."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(max_length=2048)
    include_transcript: bool = False


class Delivery(BaseModel):
    """One outbox row: an event frozen at enqueue time (``body`` is the exact bytes sent)."""

    model_config = ConfigDict(frozen=True)

    id: str  # the event id, ``evt_...``: stable across retries, receivers deduplicate on it
    job_id: str
    owner: str
    url: str
    event_type: str
    body: str
    status: DeliveryStatus
    attempts: int
    max_attempts: int
    next_attempt_at: datetime
    claim_id: str | None = None
    claimed_by: str | None = None
    leased_until: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None = None


def redact_url(url: str) -> str:
    """``url`` without credentials, query string or fragment (safe to show and log)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


class WebhookPublic(BaseModel):
    """The latest webhook delivery of a job, as ``GET /v1/audio/jobs/{id}`` shows it."""

    event_id: str
    type: str
    url: str  # redacted: no credentials, query string or fragment
    status: DeliveryStatus
    attempts: int
    max_attempts: int
    last_status_code: int | None = None
    last_error: str | None = None
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None

    @classmethod
    def of(cls, delivery: Delivery) -> WebhookPublic:
        waiting = delivery.status in (DeliveryStatus.PENDING, DeliveryStatus.DELIVERING)
        return cls(
            event_id=delivery.id,
            type=delivery.event_type,
            url=redact_url(delivery.url),
            status=delivery.status,
            attempts=delivery.attempts,
            max_attempts=delivery.max_attempts,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            next_attempt_at=delivery.next_attempt_at if waiting else None,
            delivered_at=delivery.delivered_at,
        )
