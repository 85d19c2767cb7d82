"""Which rows use a stored audio file: ``jobs.audio_ref`` plus indexes on both references.

The audio store is content-addressed, so one file can serve several jobs and media rows (of any
owner). Deleting media and the retention setting remove a file only when no active job and no
other media row references it; these indexes make that one cheap query.

Revision ID: 0002
Revises: 0001
Create Date: 2025-01-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("audio_ref", sa.String(200)))
    jobs = sa.table("jobs", sa.column("audio_ref", sa.String), sa.column("payload", sa.JSON))
    op.execute(  # backfill from the payload (JSON path: json_extract / #>> on PostgreSQL)
        jobs.update().values(audio_ref=jobs.c.payload[("source", "audio_ref")].as_string())
    )
    op.create_index("ix_jobs_audio_ref", "jobs", ["audio_ref"])
    op.create_index("ix_media_audio_ref", "media", ["audio_ref"])


def downgrade() -> None:
    op.drop_index("ix_media_audio_ref", table_name="media")
    op.drop_index("ix_jobs_audio_ref", table_name="jobs")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("audio_ref")
