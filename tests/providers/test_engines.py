"""Output mapping of the transformers and NeMo providers, and their unavailable reports."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from providers.base import AudioInput
from providers.hf_transformers import (
    TransformersConfig,
    TransformersProvider,
    group_words,
    segments_from_chunks,
    words_from_chunks,
)
from providers.nemo_asr import NemoConfig, NemoProvider, segments_from_hypothesis
from schemas.errors import CapabilityNotSupported, ModelNotFound
from schemas.options import Task, TranscriptionOptions


def test_pipeline_chunks_become_segments_and_open_ends_run_to_the_end() -> None:
    chunks = [
        {"timestamp": (0.0, 2.0), "text": "<|en|> Hello there."},
        {"timestamp": (2.0, None), "text": " General Kenobi."},
    ]
    segments = segments_from_chunks(chunks, duration=5.0)
    assert [(s.start, s.end, s.text) for s in segments] == [
        (0.0, 2.0, " Hello there."),
        (2.0, 5.0, " General Kenobi."),
    ]


def test_word_chunks_are_grouped_at_sentence_ends_and_pauses() -> None:
    chunks = [
        {"timestamp": (0.0, 0.4), "text": " Hello"},
        {"timestamp": (0.5, 0.9), "text": " there."},
        {"timestamp": (1.0, 1.4), "text": " How"},
        {"timestamp": (3.0, 3.4), "text": " are"},
        {"timestamp": (3.5, 3.9), "text": " you?"},
    ]
    segments = group_words(words_from_chunks(chunks, 4.0), TransformersConfig())
    assert [s.text for s in segments] == [" Hello there.", " How", " are you?"]
    assert segments[2].words and segments[2].words[0].start == 3.0


def test_nemo_hypothesis_timestamps_map_to_segments_and_words() -> None:
    hypothesis = SimpleNamespace(
        text="hello world again",
        timestamp={
            "segment": [
                {"segment": "hello world", "start": 0.1, "end": 1.0},
                {"segment": "again", "start": 1.5, "end": 2.0},
            ],
            "word": [
                {"word": "hello", "start": 0.1, "end": 0.5},
                {"word": "world", "start": 0.6, "end": 1.0},
                {"word": "again", "start": 1.5, "end": 2.0},
            ],
        },
    )
    segments = segments_from_hypothesis(hypothesis, duration=3.0)
    assert [(s.text, s.start, s.end) for s in segments] == [
        ("hello world", 0.1, 1.0),
        ("again", 1.5, 2.0),
    ]
    assert [w.word for w in segments[0].words or []] == ["hello", "world"]
    plain = segments_from_hypothesis("just text", duration=3.0)
    assert [(s.text, s.start, s.end) for s in plain] == [("just text", 0.0, 3.0)]


def test_unconfigured_engines_report_why(tmp_path: Path) -> None:
    for provider in (TransformersProvider(TransformersConfig()), NemoProvider(NemoConfig())):
        health = provider.healthcheck()
        assert not health.available and health.detail
        assert provider.available_models() == []
        with pytest.raises(ModelNotFound):
            provider.load("anything")
    missing = TransformersProvider(TransformersConfig(models={"x": str(tmp_path / "nope")}))
    assert missing.available_models() == []


def test_transformers_language_detection_and_english_only_rules(
    tiny_whisper_dir: Path, english_audio: AudioInput
) -> None:
    provider = TransformersProvider(TransformersConfig(models={"tiny": str(tiny_whisper_dir)}))
    detection = provider.detect_language(english_audio, "tiny")
    assert len(detection.all_probs) == 100
    assert sum(p for _, p in detection.all_probs) == pytest.approx(1.0, abs=1e-3)
    assert detection.probability == detection.all_probs[0][1]
    options = TranscriptionOptions(task=Task.TRANSLATE, beam_size=1, best_of=1)
    assert provider.transcribe_batch(english_audio, options, "tiny").language == "en"


def test_nemo_non_multitask_models_are_english_only(
    tiny_nemo_path: Path, english_audio: AudioInput
) -> None:
    provider = NemoProvider(NemoConfig(models={"tiny": str(tiny_nemo_path)}))
    with pytest.raises(CapabilityNotSupported):
        provider.transcribe_batch(english_audio, TranscriptionOptions(language="de"), "tiny")
    with pytest.raises(CapabilityNotSupported):
        provider.detect_language(english_audio, "tiny")
    assert provider.capabilities().auto_language is False
