"""Jobs queue, job chunks, Media DB (media, UnvectorizedMediaChunks, audit events).

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from app.db.tables import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _ts(name: str, nullable: bool = False) -> sa.Column:  # type: ignore[type-arg]
    return sa.Column(name, UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(40), nullable=False),
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
        sa.Column("error", sa.JSON),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("progress", sa.Float, nullable=False, server_default="0"),
        sa.Column("chunks_done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("chunks_total", sa.Integer, nullable=False, server_default="0"),
        _ts("created_at"),
        _ts("updated_at"),
        _ts("started_at", nullable=True),
        _ts("finished_at", nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
        sa.UniqueConstraint("owner", "idempotency_key", name="uq_jobs_owner_idempotency_key"),
    )
    op.create_index(
        "ix_jobs_status_pool_priority_available_at",
        "jobs",
        ["status", "pool", "priority", "available_at"],
    )
    op.create_index("ix_jobs_status_leased_until", "jobs", ["status", "leased_until"])
    op.create_index("ix_jobs_owner_created_at", "jobs", ["owner", "created_at"])

    op.create_table(
        "job_chunks",
        sa.Column("job_id", sa.String(40), nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("transcript", sa.JSON),
        sa.Column("worker_id", sa.String(200)),
        sa.Column("lease_id", sa.String(64)),
        _ts("leased_until", nullable=True),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("job_id", "idx", name="pk_job_chunks"),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name="fk_job_chunks_job_id_jobs", ondelete="CASCADE"
        ),
    )
    op.create_index("ix_job_chunks_status_leased_until", "job_chunks", ["status", "leased_until"])

    op.create_table(
        "media",
        sa.Column("id", sa.String(40), nullable=False),
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
        sa.Column("job_id", sa.String(40)),
        _ts("created_at"),
        _ts("updated_at"),
        sa.PrimaryKeyConstraint("id", name="pk_media"),
        sa.UniqueConstraint(
            "owner",
            "content_hash",
            "options_hash",
            name="uq_media_owner_content_hash_options_hash",
        ),
    )
    op.create_index("ix_media_owner_created_at", "media", ["owner", "created_at"])

    op.create_table(
        "UnvectorizedMediaChunks",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("media_id", sa.String(40), nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("chunk_index", sa.Integer, nullable=False),
        sa.Column("start_s", sa.Float, nullable=False),
        sa.Column("end_s", sa.Float, nullable=False),
        sa.Column("chunk_text", sa.Text, nullable=False),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_UnvectorizedMediaChunks"),
        sa.ForeignKeyConstraint(
            ["media_id"],
            ["media.id"],
            name="fk_UnvectorizedMediaChunks_media_id_media",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "media_id", "chunk_index", name="uq_UnvectorizedMediaChunks_media_id_chunk_index"
        ),
    )

    op.create_table(
        "audit_events",
        sa.Column("id", sa.Integer, autoincrement=True, nullable=False),
        sa.Column("owner", sa.String(200), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("media_id", sa.String(40)),
        sa.Column("job_id", sa.String(40)),
        sa.Column("actor", sa.String(200)),
        sa.Column("details", sa.JSON),
        _ts("created_at"),
        sa.PrimaryKeyConstraint("id", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_owner_created_at", "audit_events", ["owner", "created_at"])
    op.create_index("ix_audit_events_media_id", "audit_events", ["media_id"])


def downgrade() -> None:
    op.drop_table("audit_events")
    op.drop_table("UnvectorizedMediaChunks")
    op.drop_table("media")
    op.drop_table("job_chunks")
    op.drop_table("jobs")
