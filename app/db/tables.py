"""SQLAlchemy Core tables for the jobs queue and the Media DB (migrations in ``migrations/``)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both backends (SQLite stores naive UTC text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware values")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)  # type: ignore[no-any-return]
        return value.astimezone(timezone.utc)  # type: ignore[no-any-return]


def _ts(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, UTCDateTime(), nullable=nullable)


jobs = sa.Table(
    "jobs",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("pool", sa.String(8), nullable=False),
    sa.Column("priority", sa.Integer, nullable=False, server_default="0"),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    _ts("available_at"),
    sa.Column("lease_id", sa.String(64)),
    sa.Column("worker_id", sa.String(200)),
    _ts("leased_until", nullable=True),
    sa.Column("idempotency_key", sa.String(200)),
    sa.Column("result", sa.JSON),
    sa.Column("media_id", sa.String(40)),
    sa.Column("audio_ref", sa.String(200)),  # the stored audio it reads (see audio_in_use)
    sa.Column("error", sa.JSON),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("progress", sa.Float, nullable=False, server_default="0"),
    sa.Column("chunks_done", sa.Integer, nullable=False, server_default="0"),
    sa.Column("chunks_total", sa.Integer, nullable=False, server_default="0"),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("started_at", nullable=True),
    _ts("finished_at", nullable=True),
    sa.Index(None, "status", "pool", "priority", "available_at"),
    sa.Index(None, "status", "leased_until"),
    sa.Index(None, "owner", "created_at"),
    sa.Index(None, "audio_ref"),
    sa.UniqueConstraint("owner", "idempotency_key"),
)

job_chunks = sa.Table(
    "job_chunks",
    metadata,
    sa.Column(
        "job_id", sa.String(40), sa.ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("start_s", sa.Float, nullable=False),
    sa.Column("end_s", sa.Float, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("transcript", sa.JSON),
    sa.Column("worker_id", sa.String(200)),
    sa.Column("lease_id", sa.String(64)),
    _ts("leased_until", nullable=True),
    _ts("updated_at"),
    sa.Index(None, "status", "leased_until"),
)

media = sa.Table(
    "media",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("source", sa.String(2048), nullable=False),
    sa.Column("filename", sa.String(255)),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("options_hash", sa.String(64), nullable=False),
    sa.Column("audio_ref", sa.String(200)),
    sa.Column("duration", sa.Float, nullable=False),
    sa.Column("language", sa.String(16)),
    sa.Column("provider", sa.String(100)),
    sa.Column("model", sa.String(200)),
    sa.Column("transcript", sa.Text, nullable=False),
    sa.Column("analysis_details", sa.JSON, nullable=False),
    sa.Column("summary", sa.JSON),  # schemas.summary.Summary, when one was made
    sa.Column("job_id", sa.String(40)),
    _ts("created_at"),
    _ts("updated_at"),
    sa.UniqueConstraint("owner", "content_hash", "options_hash"),
    sa.Index(None, "owner", "created_at"),
    sa.Index(None, "audio_ref"),
)

# The embedding pipelines' contract name (tldw-style); quote it in raw PostgreSQL SQL.
unvectorized_media_chunks = sa.Table(
    "UnvectorizedMediaChunks",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "media_id", sa.String(40), sa.ForeignKey("media.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("chunk_index", sa.Integer, nullable=False),
    sa.Column("start_s", sa.Float, nullable=False),
    sa.Column("end_s", sa.Float, nullable=False),
    sa.Column("chunk_text", sa.Text, nullable=False),
    _ts("created_at"),
    sa.UniqueConstraint("media_id", "chunk_index"),
)

audit_events = sa.Table(
    "audit_events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("media_id", sa.String(40)),
    sa.Column("job_id", sa.String(40)),
    sa.Column("actor", sa.String(200)),
    sa.Column("details", sa.JSON),
    _ts("created_at"),
    sa.Index(None, "owner", "created_at"),
    sa.Index(None, "media_id"),
)

# The webhook outbox (app.db.webhooks_repo): one row per event, written in the transaction that
# ends its job; ``body`` is the exact JSON sent on every attempt.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("job_id", sa.String(40), nullable=False),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("url", sa.String(2048), nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("max_attempts", sa.Integer, nullable=False),
    _ts("next_attempt_at"),
    sa.Column("claim_id", sa.String(64)),
    sa.Column("claimed_by", sa.String(200)),
    _ts("leased_until", nullable=True),
    sa.Column("last_status_code", sa.Integer),
    sa.Column("last_error", sa.String(500)),
    _ts("created_at"),
    _ts("updated_at"),
    _ts("delivered_at", nullable=True),
    sa.Index(None, "status", "next_attempt_at"),
    sa.Index(None, "job_id"),
)
