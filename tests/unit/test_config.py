"""Settings precedence: env > .env > Config_Files/.env > config.txt > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import ConfigError, load_settings


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "Config_Files").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STT_CONFIG_FILE", str(tmp_path / "Config_Files" / "config.txt"))
    for name in ("STT_MAX_FILE_SIZE_MB", "STT_DEFAULT_MODEL", "STT_PORT", "STT_FORCE_CPU"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def _write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")


def test_defaults(workdir: Path) -> None:
    s = load_settings()
    assert (s.max_file_size_mb, s.default_model, s.default_provider) == (
        25,
        "tiny.en",
        "faster-whisper",
    )


def test_precedence_chain(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(
        workdir / "Config_Files/config.txt",
        "[STT-Settings]\nSTT_MAX_FILE_SIZE_MB = 5\nSTT_DEFAULT_MODEL = base\n"
        "STT_PORT = 9001\nstt_force_cpu = true\n",
    )
    assert load_settings().max_file_size_mb == 5
    assert load_settings().force_cpu is True  # keys are case-insensitive
    _write(workdir / "Config_Files/.env", "STT_MAX_FILE_SIZE_MB=6\nSTT_DEFAULT_MODEL=mock\n")
    assert load_settings().max_file_size_mb == 6
    _write(workdir / ".env", "STT_MAX_FILE_SIZE_MB=7\n")
    s = load_settings()
    assert (s.max_file_size_mb, s.default_model, s.port) == (7, "mock", 9001)
    monkeypatch.setenv("STT_MAX_FILE_SIZE_MB", "8")
    assert load_settings().max_file_size_mb == 8
    assert load_settings(max_file_size_mb=9).max_file_size_mb == 9


def test_bad_value_in_config_txt_names_the_key(workdir: Path) -> None:
    _write(workdir / "Config_Files/config.txt", "[STT-Settings]\nSTT_MAX_BEAM_SIZE = lots\n")
    with pytest.raises(ConfigError, match="STT_MAX_BEAM_SIZE"):
        load_settings()


def test_unknown_key_in_config_txt_is_refused(workdir: Path) -> None:
    _write(workdir / "Config_Files/config.txt", "[STT-Settings]\nSTT_MAX_FILE_SIZ_MB = 5\n")
    with pytest.raises(ConfigError, match="unknown key 'stt_max_file_siz_mb'"):
        load_settings()


def test_incoherent_beam_sizes(workdir: Path) -> None:
    with pytest.raises(ConfigError, match="STT_DEFAULT_BEAM_SIZE"):
        load_settings(STT_DEFAULT_BEAM_SIZE=8, STT_MAX_BEAM_SIZE=4)


def test_cli_reports_bad_config(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from app.cli import cli

    monkeypatch.setenv("STT_PORT", "99999")
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 2
    assert "STT_PORT" in result.output


def test_env_example_documents_every_setting() -> None:
    """.env.example is the documented template: it must name exactly the real settings."""
    import re
    from pathlib import Path

    from app.core.config import Settings

    root = Path(__file__).resolve().parents[2]
    template = (root / ".env.example").read_text(encoding="utf-8")
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", template, flags=re.MULTILINE))
    names = {str(f.validation_alias) for f in Settings.model_fields.values()}
    assert documented == names
