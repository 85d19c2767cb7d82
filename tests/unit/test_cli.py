"""The stt-gateway command line (in-process, no server)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from app.cli import cli
from tests.support.audio import SAMPLE_TEXT, speech, wer
from tests.support.multichannel import multichannel_wav


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


@pytest.mark.parametrize("as_job", [False, True])
def test_transcribe_a_stereo_call_with_roles(tmp_path, as_job: bool) -> None:  # type: ignore[no-untyped-def]
    """--multichannel and --speaker-roles reach the transcription, in process and as a job."""
    call = tmp_path / "call.wav"
    first, second = speech("Hello, how can I help?"), speech("My card was stolen.")
    multichannel_wav(call, [[(0.0, first)], [(3.0, second)]])
    args = ["transcribe", str(call), "--model", "mock", "--format", "srt", "--multichannel"]
    result = CliRunner().invoke(
        cli, [*args, "--speaker-roles", "agent,customer", *(["--job"] if as_job else [])]
    )
    assert result.exit_code == 0, result.output
    assert "[agent]" in result.output and "[customer]" in result.output
    mono = CliRunner().invoke(cli, [*args[:-1], "--speaker-roles", "agent,customer"])
    assert mono.exit_code == 1 and "speaker_roles needs speakers" in mono.output
