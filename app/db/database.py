"""Engine set-up for SQLite (embedded) and PostgreSQL (scale-out), and transaction scopes.

Callers own transactions: ``with db.write() as conn`` opens one write transaction (on SQLite a
``BEGIN IMMEDIATE``, so writers queue on the database lock instead of failing to upgrade a read
lock), ``with db.read() as conn`` a read-only one. Repositories only execute statements.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, Connection, Engine, make_url

from app.db.notify import Wakeup

SQLITE_BUSY_TIMEOUT_MS = 30_000
NOTIFY_CHANNEL = "stt_jobs"


@dataclass(frozen=True)
class Dialect:
    """Everything that differs between PostgreSQL and SQLite, decided in :func:`dialect_for`."""

    name: str
    skip_locked: bool  # SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL)
    notify: bool  # NOTIFY/LISTEN wake-ups across processes (PostgreSQL)

    def lockable(self, select: sa.Select[Any]) -> sa.Select[Any]:
        """Make a candidate query safe for concurrent leasing.

        PostgreSQL: lock the row, skipping rows other workers hold. SQLite: the enclosing
        ``BEGIN IMMEDIATE`` already makes the leasing transaction the only writer.
        """
        return select.with_for_update(skip_locked=True) if self.skip_locked else select


def dialect_for(url: URL) -> Dialect:
    backend = url.get_backend_name()
    if backend == "postgresql":
        return Dialect(name=backend, skip_locked=True, notify=True)
    if backend == "sqlite":
        return Dialect(name=backend, skip_locked=False, notify=False)
    raise ValueError(f"unsupported database backend '{backend}' (use sqlite or postgresql)")


def normalise_url(raw: str) -> URL:
    """``postgresql://`` and ``postgres://`` mean psycopg 3 here; SQLite parents are created."""
    url = make_url(raw.replace("postgres://", "postgresql://", 1))
    if url.drivername in ("postgresql", "postgresql+psycopg2"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    return url


def _sqlite_engine(url: URL) -> Engine:
    engine = sa.create_engine(
        url, connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # SQLAlchemy emits BEGIN itself (below)
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


class Database:
    """One engine plus the in-process wake-up signal for workers sharing it."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        self.dialect = dialect_for(self.url)
        if self.dialect.name == "sqlite":
            self.engine = _sqlite_engine(self.url)
        else:
            # No pre-ping (it doubles round trips per transaction): a dropped connection fails
            # one transaction, SQLAlchemy invalidates the pool, and callers retry.
            self.engine = sa.create_engine(
                self.url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800
            )
        self.wakeup = Wakeup()

    @property
    def display_url(self) -> str:
        return self.url.render_as_string(hide_password=True)

    @property
    def libpq_url(self) -> str:
        """The PostgreSQL URL in the form psycopg's ``connect`` takes (for LISTEN)."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def notify_channel(self, conn: Connection, payload: str) -> None:
        """Queue a cross-process wake-up, delivered when ``conn``'s transaction commits."""
        if self.dialect.notify:
            conn.execute(
                sa.text("SELECT pg_notify(:channel, :payload)"),
                {"channel": NOTIFY_CHANNEL, "payload": payload},
            )

    def dispose(self) -> None:
        self.engine.dispose()
