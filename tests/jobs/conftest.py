"""Fixtures for the jobs suite: every store test runs on SQLite and on PostgreSQL.

PostgreSQL: one uniquely named database per test session on the server at 127.0.0.1:5432
(``STT_TEST_POSTGRES_URL`` overrides the admin URL), emptied between tests, dropped at the end.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from app.bootstrap import queue_config
from app.core.config import Settings
from app.db.database import Database
from app.db.migrate import upgrade
from app.services.jobs.audio_store import AudioStore
from app.services.jobs.service import JobService
from tests.conftest import SettingsFactory
from tests.support.server import running_server
from workers.sdk import JobQueue

ADMIN_URL = os.environ.get("STT_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
TABLES = 'jobs, job_chunks, media, "UnvectorizedMediaChunks", audit_events, webhook_deliveries'


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    name = f"stt_test_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    base = ADMIN_URL.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    db = Database(url)
    upgrade(db)
    db.dispose()
    yield url
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    url: str = request.getfixturevalue("pg_url")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE")
    return url


@pytest.fixture
def job_settings(make_settings: SettingsFactory, database_url: str) -> Settings:
    return make_settings(
        database_url=database_url,
        default_provider="mock",
        default_model="mock",
        translation_model="mock",
        worker_poll_s=0.05,
        job_lease_seconds=3.0,
        job_retry_base_s=0.2,
        job_retry_max_s=5.0,
        embedded_worker=False,
        log_level="WARNING",
    )


@pytest.fixture
def db(job_settings: Settings) -> Iterator[Database]:
    database = Database(job_settings.resolved_database_url)
    upgrade(database)
    yield database
    database.dispose()


@pytest.fixture
def queue(db: Database, job_settings: Settings) -> JobQueue:
    return JobQueue(db, queue_config(job_settings))


@pytest.fixture
def service(queue: JobQueue, job_settings: Settings) -> JobService:
    return JobService(job_settings, queue, AudioStore(job_settings.audio_store_dir))


@pytest.fixture
def api_settings(job_settings: Settings) -> Settings:
    return job_settings.model_copy(update={"embedded_worker": True})


@pytest.fixture
def client(api_settings: Settings) -> Iterator[httpx.Client]:
    """A live server with the embedded worker, and a client for it."""
    with running_server(api_settings) as url, httpx.Client(base_url=url, timeout=30) as c:
        yield c


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Subprocesses a test starts (workers, gateways): killed if still running at the end."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
