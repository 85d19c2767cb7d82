"""The stt-gateway command line (in-process, no server)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.support.audio import SAMPLE_TEXT, speech, wer


@pytest.fixture(autouse=True)
def data_dir(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("STT_DATA_DIR", str(tmp_path))


def test_models_lists_the_bundled_models() -> None:
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert "faster-whisper:tiny.en (default)" in lines
    assert {"faster-whisper:base", "mock:mock"} <= set(lines)


@pytest.mark.model
def test_transcribe_file_with_real_model() -> None:
    result = CliRunner().invoke(cli, ["transcribe", str(speech(SAMPLE_TEXT)), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert wer(SAMPLE_TEXT, json.loads(result.output)["text"]) <= 0.15


def test_transcribe_reports_errors_without_traceback(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bogus = tmp_path / "x.wav"
    bogus.write_bytes(b"not audio")
    result = CliRunner().invoke(cli, ["transcribe", str(bogus), "--model", "mock"])
    assert result.exit_code == 1
    assert "not a supported audio format" in result.output
