"""``stt-gateway serve`` start-up failures: one clear line and a non-zero status, and nothing
started before the listening socket is bound."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.db.database import Database
from app.db.migrate import upgrade
from schemas.jobs import NewJob
from workers.sdk import JobQueue

ROOT = Path(__file__).resolve().parents[2]


def serve(data_dir: Path, port: int, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {
        **os.environ,
        "STT_DATA_DIR": str(data_dir),
        "DEFAULT_STT_PROVIDER": "mock",
        "STT_DEFAULT_MODEL": "mock",
        "STT_TRANSLATION_MODEL": "mock",
        "STT_EMBEDDED_WORKER": "true",
        "STT_WORKER_POLL_S": "0.1",
        **env,
    }
    return subprocess.run(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    output = (result.stdout + result.stderr).strip()
    assert "Traceback" not in output, output
    lines = output.splitlines()
    assert len(lines) == 1, output
    assert len(lines[0]) < 300, output
    return lines[0]


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://user:secret@127.0.0.1:1/stt",  # nothing listens there
        "postgres://user:@@:/",  # not a URL
        "mysql://user@127.0.0.1/stt",  # not a supported backend
    ],
)
def test_bad_database_url_is_one_line(tmp_path: Path, url: str) -> None:
    result = serve(tmp_path / "data", free_port(), STT_DATABASE_URL=url)
    assert result.returncode != 0
    line = one_line(result)
    assert line.startswith("error: cannot open the database"), line
    assert "secret" not in line


def test_busy_port_fails_before_the_worker_touches_the_queue(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    db = Database(f"sqlite:///{data_dir / 'stt.db'}")
    try:
        upgrade(db)
        job = JobQueue(db).enqueue(NewJob(owner="alice", kind="transcription", payload={}))
    finally:
        db.dispose()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        result = serve(data_dir, busy.getsockname()[1])
    assert result.returncode != 0
    assert "cannot listen on" in one_line(result)
    db = Database(f"sqlite:///{data_dir / 'stt.db'}")
    try:
        after = JobQueue(db).get(job.id)
    finally:
        db.dispose()
    assert after is not None
    assert (after.status.value, after.attempts) == ("queued", 0)
