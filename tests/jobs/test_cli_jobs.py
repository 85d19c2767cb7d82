"""``stt-gateway db upgrade``, ``transcribe --job`` (local and --server) and ``worker`` flags."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.core.config import Settings
from tests.jobs.support import write_wav
from tests.support.server import running_server


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, job_settings: Settings) -> Settings:
    monkeypatch.setenv("STT_DATA_DIR", str(job_settings.data_dir))
    monkeypatch.setenv("STT_DATABASE_URL", job_settings.resolved_database_url)
    monkeypatch.setenv("DEFAULT_STT_PROVIDER", "mock")
    monkeypatch.setenv("STT_DEFAULT_MODEL", "mock")
    monkeypatch.setenv("STT_WORKER_POLL_S", "0.05")
    return job_settings


def test_db_upgrade_and_local_job(env: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    upgraded = runner.invoke(cli, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert "database at head" in upgraded.output
    audio = write_wav(tmp_path / "a.wav", 2.0)
    done = runner.invoke(
        cli, ["transcribe", str(audio), "--job", "--model", "mock", "--format", "srt"]
    )
    assert done.exit_code == 0, done.output
    assert "00:00:00,000 -->" in done.output


def test_remote_job_and_bad_pool(env: Settings, tmp_path: Path) -> None:
    runner = CliRunner()
    audio = write_wav(tmp_path / "a.wav", 2.0, seed=3)
    with running_server(env.model_copy(update={"embedded_worker": True})) as url:
        done = runner.invoke(
            cli,
            [
                "transcribe",
                str(audio),
                "--job",
                "--server",
                url,
                "--model",
                "mock",
                "--format",
                "vtt",
            ],
        )
    assert done.exit_code == 0, done.output
    assert done.output.lstrip().startswith("WEBVTT")
    bad = runner.invoke(cli, ["worker", "--pool", "tpu"])
    assert bad.exit_code == 2
