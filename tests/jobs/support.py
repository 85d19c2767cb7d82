"""Helpers for the jobs suite: distinct little WAV files, payloads, worker processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import wave
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import sqlalchemy as sa

from app.bootstrap import build_pipeline, build_worker
from app.core.config import Settings
from app.db.database import Database
from app.services.jobs.handler import Infer, call_directly
from app.services.jobs.service import JobRequest, JobService
from schemas.jobs import AudioSource, Job, Pool, TranscriptionPayload
from schemas.options import TranscriptionOptions
from workers.runner import WorkerRunner

REPO = Path(__file__).resolve().parents[2]


def write_wav(path: Path, seconds: float = 0.5, seed: int = 0) -> Path:
    """A short noise WAV; different seeds give different bytes (and content hashes)."""
    rng = np.random.default_rng(seed)
    samples = (rng.normal(0, 0.1, int(16_000 * seconds)) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(samples.tobytes())
    return path


def submit_file(
    service: JobService,
    path: Path,
    *,
    owner: str = "alice",
    model: str = "mock",
    priority: int = 0,
    max_attempts: int | None = None,
    idempotency_key: str | None = None,
    **payload: object,
) -> Job:
    request = JobRequest(
        TranscriptionPayload(
            source=AudioSource(kind="upload", filename=path.name),
            model=model,
            options=TranscriptionOptions(),
            **payload,  # type: ignore[arg-type]
        ),
        priority=priority,
        max_attempts=max_attempts,
    )
    job, _ = service.submit_upload(owner, request, path, idempotency_key)
    return job


def worker_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        STT_CONFIG_FILE="/nonexistent/config.txt",
        STT_DATABASE_URL=settings.resolved_database_url,
        STT_DATA_DIR=str(settings.data_dir),
        DEFAULT_STT_PROVIDER=settings.default_provider,
        STT_DEFAULT_MODEL=settings.default_model,
        STT_WORKER_POLL_S=str(settings.worker_poll_s),
        STT_JOB_LEASE_SECONDS=str(settings.job_lease_seconds),
        STT_JOB_RETRY_BASE_S=str(settings.job_retry_base_s),
        STT_LOG_LEVEL="WARNING",
        PYTHONPATH=str(REPO),
    )
    return env


def spawn_worker(
    settings: Settings, cwd: Path, *args: str, script: Path | None = None
) -> subprocess.Popen[bytes]:
    """``stt-gateway worker`` in its own process (or a test script using the same runner)."""
    command = (
        [sys.executable, str(script)] if script else [sys.executable, "-m", "app.cli", "worker"]
    )
    return subprocess.Popen([*command, *args], env=worker_env(settings), cwd=cwd)


def spawn_gateway(settings: Settings, cwd: Path, port: int, **env: str) -> subprocess.Popen[bytes]:
    """``stt-gateway serve`` (embedded worker, webhook delivery) in its own process on ``port``;
    ``env`` adds settings (``STT_...``). Wait for it with :func:`wait_http`."""
    environ = {**worker_env(settings), "STT_EMBEDDED_WORKER": "true", **env}
    command = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    return subprocess.Popen(command, env=environ, cwd=cwd)


def wait_http(url: str, timeout: float = 60) -> None:
    """Wait until ``GET url`` answers (a gateway subprocess is up)."""

    def up() -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(up, timeout, f"{url} to answer")


def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def count(db: Database, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    """Rows of ``table`` matching every ``where`` clause."""
    with db.read() as conn:
        query = sa.select(sa.func.count()).select_from(table).where(*where)
        return int(conn.execute(query).scalar_one())


def in_process_runner(
    settings: Settings, db: Database, infer: Infer = call_directly, concurrency: int = 1
) -> WorkerRunner:
    """An in-process worker (not started) with the gateway's registry for ``settings``."""
    return build_worker(
        settings,
        db,
        build_pipeline(settings),
        pool=Pool.ANY,
        concurrency=concurrency,
        infer=infer,
    )


@contextmanager
def worker(
    settings: Settings, db: Database, infer: Infer = call_directly, concurrency: int = 1
) -> Iterator[str]:
    """A started :func:`in_process_runner` for the ``with`` block; yields its worker id."""
    runner = in_process_runner(settings, db, infer, concurrency)
    runner.start()
    try:
        yield runner.worker_id
    finally:
        runner.stop(5)
