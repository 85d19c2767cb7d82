"""Custom vocabulary post-correction: whole-word, case-aware, on text, segments and words."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from app.services.vocabulary import Vocabulary, load_vocabulary, parse_vocabulary
from schemas.errors import InvalidRequest
from schemas.transcript import Segment, TranscriptMetadata, Word, build_transcript
from tests.conftest import SettingsFactory
from tests.support.audio import speech
from tests.support.server import running_server


def test_whole_word_and_case_aware_text_replacement() -> None:
    vocab = Vocabulary({"cube control": "kubectl", "colour": "color", "Acme": "ACME Corp."})
    assert vocab.correct_text("Run cube control now") == "Run kubectl now"
    assert vocab.correct_text("Cube   Control, please") == "Kubectl, please"
    assert vocab.correct_text("cubes control") == "cubes control"  # whole words only
    assert vocab.correct_text("Colour COLOUR colourful") == "Color COLOR colourful"
    assert vocab.correct_text("Acme and acme") == "ACME Corp. and acme"  # capitals: exact match


def test_words_are_corrected_and_merged_keeping_punctuation_and_times() -> None:
    vocab = Vocabulary({"cube control": "kubectl"})
    words = [
        Word(word=" Use", start=0.0, end=0.3, probability=0.9),
        Word(word=" cube", start=0.3, end=0.6, probability=0.8),
        Word(word=" control.", start=0.6, end=1.0, probability=0.7),
    ]
    fixed = vocab.correct_words(words)
    assert [w.word for w in fixed] == [" Use", " kubectl."]
    assert (fixed[1].start, fixed[1].end, fixed[1].probability) == (0.3, 1.0, 0.7)


def test_transcript_text_segments_and_words_agree() -> None:
    words = [
        Word(word=" my", start=0.0, end=0.5, probability=0.9),
        Word(word=" jason", start=0.5, end=1.0, probability=0.9),
    ]
    transcript = build_transcript(
        segments=[Segment(id=0, start=0, end=1, text=" my jason", words=words)],
        language="en",
        duration=1.0,
        metadata=TranscriptMetadata(provider="mock", model="mock"),
    )
    fixed = Vocabulary({"jason": "JSON"}).apply(transcript)
    assert fixed.text == "my JSON" == fixed.segments[0].text
    assert [w.word for w in fixed.segments[0].words or []] == ["my", "JSON"]
    assert Vocabulary().apply(transcript) is transcript


def test_request_entries_override_deployment_entries(tmp_path: Path) -> None:
    file = tmp_path / "vocab.json"
    file.write_text(json.dumps({"foo": "bar", "baz": "qux"}))
    deployment = load_vocabulary({"baz": "BAZ"}, file)
    assert deployment.entries == {"foo": "bar", "baz": "BAZ"}
    merged = deployment.merged({"foo": "FOO"})
    assert merged.correct_text("foo baz") == "FOO BAZ"
    with pytest.raises(InvalidRequest):
        parse_vocabulary("[1, 2]")
    with pytest.raises(InvalidRequest):
        parse_vocabulary("{not json")


def test_vocabulary_through_the_api(make_settings: SettingsFactory, tmp_path: Path) -> None:
    fixture = tmp_path / "words.txt"
    fixture.write_text("please restart the cube control daemon on acme servers")
    settings = make_settings(
        mock_fixture=fixture,
        vocabulary={"acme": "ACME"},
        default_provider="mock",
        default_model="mock",
    )
    path = speech("Anything at all.")
    with running_server(settings) as url, open(path, "rb") as f:
        response = httpx.post(
            f"{url}/v1/audio/transcriptions",
            files={"file": ("a.wav", f, "audio/wav")},
            data={"model": "mock", "vocabulary": json.dumps({"cube control": "kubectl"})},
            timeout=60,
        )
        assert response.status_code == 200, response.text
        assert response.json()["text"] == "please restart the kubectl daemon on ACME servers"
        with open(path, "rb") as f2:
            bad = httpx.post(
                f"{url}/v1/audio/transcriptions",
                files={"file": ("a.wav", f2, "audio/wav")},
                data={"model": "mock", "vocabulary": "nope"},
                timeout=60,
            )
        assert bad.status_code == 400 and bad.json()["error"]["param"] == "vocabulary"
