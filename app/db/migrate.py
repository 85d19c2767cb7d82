"""Apply Alembic migrations programmatically (on start, and by ``stt-gateway db upgrade``).

Concurrent starters (an API replica and a fleet of workers) serialise on a lock: a PostgreSQL
advisory transaction lock, or SQLite's write lock (``BEGIN IMMEDIATE``), so exactly one of them
migrates and the others find the schema current.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from loguru import logger

from app.db.database import Database

MIGRATIONS = Path(__file__).with_name("migrations")
_ADVISORY_LOCK = 0x5717_0B5  # arbitrary, constant per application


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(db: Database) -> str | None:
    with db.read() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(db: Database, revision: str = "head") -> None:
    if revision == "head" and current_revision(db) == head_revision():
        return
    cfg = alembic_config()
    with db.write() as conn:
        if db.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _ADVISORY_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    logger.info("database {} migrated to {}", db.display_url, current_revision(db))
