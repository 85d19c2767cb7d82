"""Helper_Scripts/eval_providers.py: WER arithmetic and one run over a tiny manifest."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from tests.support.audio import speech

SCRIPT = Path(__file__).resolve().parents[2] / "Helper_Scripts" / "eval_providers.py"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("eval_providers", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_providers"] = module
    spec.loader.exec_module(module)
    return module


def test_edit_distance_and_normalisation(script) -> None:
    assert script.words("Hello, World!") == ["hello", "world"]
    assert script.edit_distance(["a", "b", "c"], ["a", "x", "c", "d"]) == 2


def test_prints_a_table_and_writes_a_plot(
    script, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    audio = speech("alpha bravo charlie")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio": str(audio), "text": "alpha bravo charlie"}) + "\n")
    fixture = tmp_path / "words.txt"
    fixture.write_text("alpha bravo delta")
    monkeypatch.setenv("STT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STT_MOCK_FIXTURE", str(fixture))
    plot = tmp_path / "eval.svg"
    out = tmp_path / "eval.json"
    assert (
        script.main([str(manifest), "--models", "mock", "--plot", str(plot), "--json", str(out)])
        == 0
    )
    table = capsys.readouterr().out
    assert "mock" in table and "0.333" in table  # one substitution in three words
    assert plot.read_text().startswith("<svg")
    assert json.loads(out.read_text())[0]["wer"] == pytest.approx(1 / 3)
