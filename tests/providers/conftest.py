"""Fixtures for the provider tests: tiny local models, synthetic speech, dialogue audio."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from app.services.transcription.audio import decode_file
from providers.base import AudioInput
from tests.support.audio import speech

SPEECH_TEXT = "Good morning everyone. Thank you for coming to the meeting today."


def load_audio(path: Path) -> AudioInput:
    return decode_file(path, max_duration_s=600)


@pytest.fixture(scope="session")
def english_audio() -> AudioInput:
    return load_audio(speech(SPEECH_TEXT, gap_ms=600))


@pytest.fixture(scope="session")
def tiny_whisper_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("transformers")
    from tests.providers.tiny_models import build_tiny_whisper

    return build_tiny_whisper(tmp_path_factory.mktemp("hf") / "tiny-whisper")


@pytest.fixture(scope="session")
def tiny_nemo_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    pytest.importorskip("nemo.collections.asr")
    from tests.providers.tiny_models import build_tiny_nemo

    return build_tiny_nemo(tmp_path_factory.mktemp("nemo") / "tiny-ctc.nemo")


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * 16_000), dtype=np.float32)
