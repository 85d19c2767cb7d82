"""Meeting summaries: ``media.summary``, the stored summary of the transcript (JSON, nullable).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("media") as batch:
        batch.add_column(sa.Column("summary", sa.JSON))


def downgrade() -> None:
    with op.batch_alter_table("media") as batch:
        batch.drop_column("summary")
