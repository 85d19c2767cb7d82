"""Helper_Scripts/eval_providers.py: WER arithmetic and one run over a tiny manifest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.audio import speech
from tests.support.scripts import load_script


@pytest.fixture(scope="module")
def script():
    return load_script("eval_providers")


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


def test_words_are_normalised_per_language(script) -> None:
    assert script.words("Идёт сильный дождь!", "ru") == ["идет", "сильный", "дождь"]
    assert script.words("Идёт", "de") == ["идёт"]  # ё is only folded for Russian
    # Arabic yeh and kaf, a zero-width non-joiner, a kasra and Persian punctuation
    written = "مي\u200cكند، کِتاب؟"
    assert script.words(written, "fa") == ["میکند", "کتاب"]
    assert script.words("میکند کتاب", "fa") == script.words(written, "fa")


def test_scores_each_language_and_condition_with_and_without_enhancement(
    script, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [
        {"audio": str(speech("alpha bravo charlie")), "text": "alpha bravo charlie"},
        {"audio": str(speech("alpha bravo")), "text": "alpha bravo delta echo"},
    ]
    manifest = tmp_path / "m.jsonl"
    conditions = [
        {"language": "en", "condition": "clean"},
        {"language": "de", "condition": "quiet", "voice": "festival"},
    ]
    manifest.write_text(
        "".join(json.dumps({**r, **c}) + "\n" for r, c in zip(rows, conditions, strict=True))
    )
    fixture = tmp_path / "words.txt"
    fixture.write_text("alpha bravo delta")
    monkeypatch.setenv("STT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("STT_MOCK_FIXTURE", str(fixture))
    out = tmp_path / "eval.json"
    argv = [str(manifest), "--models", "mock", "--enhance", "off", "on", "--json", str(out)]
    assert script.main(argv) == 0
    printed = capsys.readouterr().out
    assert "mock +enhance" in printed
    assert "quiet" in printed and "clean" in printed
    results = json.loads(out.read_text())
    assert [r["model"] for r in results] == ["mock", "mock +enhance"]
    for result in results:
        groups = {(g["language"], g["condition"]): g for g in result["groups"]}
        assert groups[("en", "clean")]["wer"] == pytest.approx(1 / 3)
        # a second voice of a language is a row of its own
        assert groups[("de:festival", "quiet")]["wer"] == pytest.approx(1 / 4)  # "echo" missing
        assert groups[("de:festival", "quiet")]["words"] == 4
