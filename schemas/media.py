"""Media DB records: transcribed media, chunks awaiting embedding, audit events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

from schemas.summary import Summary


class Media(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    owner: str
    source: str
    filename: str | None = None
    content_hash: str
    options_hash: str
    audio_ref: str | None = None
    duration: float
    language: str | None = None
    provider: str | None = None
    model: str | None = None
    transcript: str
    analysis_details: dict[str, Any]
    summary: Summary | None = None
    job_id: str | None = None
    created_at: datetime
    updated_at: datetime


class MediaChunk(BaseModel):
    """A transcript slice waiting for an embedding pipeline (``UnvectorizedMediaChunks``)."""

    model_config = ConfigDict(frozen=True)

    media_id: str
    owner: str
    chunk_index: int
    start: float
    end: float
    text: str


class AuditEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: int
    owner: str
    event: str
    media_id: str | None = None
    job_id: str | None = None
    actor: str | None = None
    details: dict[str, Any] | None = None
    created_at: datetime
