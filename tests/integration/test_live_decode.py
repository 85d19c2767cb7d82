"""Live windows on the real tiny.en model: one encoder pass, their own CPU instance, and the
optional shorter encoder context."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import providers.faster_whisper.provider as provider_module
from app.services.transcription.audio import decode_file
from providers.base import AudioInput
from providers.faster_whisper import FasterWhisperProvider
from providers.faster_whisper.provider import FasterWhisperConfig
from providers.registry import Resolved
from schemas.options import TranscriptionOptions
from tests.support.audio import speech, wer
from tests.support.stream import stream_offline

pytestmark = pytest.mark.model

TEXT = "My sister likes to read books in the garden. Please close the window before you go."
SPOKEN = (
    "We will walk to the park after lunch. My sister likes to read books in the garden. "
    "Please close the window before you go to sleep."
)
OPTIONS = TranscriptionOptions(beam_size=5, best_of=1, word_timestamps=True)


class EncoderSpy:
    """Stands in for a loaded model's CTranslate2 object and records encoder input frames."""

    def __init__(self, model: Any) -> None:
        self._model = model
        self.frames: list[int] = []

    def encode(self, features: Any, **kwargs: Any) -> Any:
        self.frames.append(int(features.shape[-1]))
        return self._model.encode(features, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)


def spy_on(whisper: Any) -> EncoderSpy:
    spy = EncoderSpy(whisper.model)
    whisper.model = spy
    return spy


@pytest.fixture(scope="module")
def window() -> AudioInput:
    """Two sentences, then the 0.3 s of silence the engine leaves after the VAD's speech end."""
    samples = decode_file(speech(TEXT, gap_ms=300), max_duration_s=60).samples
    return AudioInput(np.concatenate([samples, np.zeros(4800, dtype=np.float32)]))


def provider(tmp_path: Path, **live: Any) -> FasterWhisperProvider:
    return FasterWhisperProvider(
        FasterWhisperConfig(model_dir=None, cache_dir=tmp_path, force_cpu=True, **live)
    )


def stream_session(fw: FasterWhisperProvider, samples: np.ndarray) -> tuple[str, int]:
    """(joined finals, decodes) of ``samples`` fed through the live engine."""
    text, engine = stream_offline(Resolved(fw, "tiny.en", "tiny.en"), OPTIONS, samples)
    return text, engine.decodes


def test_live_windows_are_decoded_in_one_pass_on_their_own_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fw = provider(tmp_path, live_workers=2)
    live, batch = fw.load("tiny.en", live=True), fw.load("tiny.en")
    assert live is not batch  # CPU: live windows get the parallel layout, batch all cores
    assert fw.healthcheck().loaded_models == ["tiny.en"]
    spy = spy_on(live)
    samples = decode_file(speech(SPOKEN, gap_ms=700), max_duration_s=60).samples

    text, decodes = stream_session(fw, samples)
    assert spy.frames == [3000] * decodes  # one pass each, Whisper's full 30 s context
    assert wer(SPOKEN, text) <= 0.1, text

    # without the guard, faster-whisper re-decodes the remainders after the last words
    monkeypatch.setattr(provider_module, "live_window", lambda _s: contextlib.nullcontext())
    spy.frames.clear()
    _, decodes = stream_session(fw, samples)
    assert len(spy.frames) > decodes


def test_a_shorter_encoder_context_is_opt_in(tmp_path: Path, window: AudioInput) -> None:
    fw = provider(tmp_path, live_context_s=15.0)
    spy = spy_on(fw.load("tiny.en", live=True))
    stream = fw.transcribe_stream(window, OPTIONS, "tiny.en")
    text = " ".join(segment.text.strip() for segment in stream.segments)
    assert spy.frames == [1500]
    assert wer(TEXT, text) <= 0.2, text
    batch_spy = spy_on(fw.load("tiny.en"))
    fw.transcribe_batch(window, TranscriptionOptions(), "tiny.en")
    assert set(batch_spy.frames) == {3000}  # batch decodes keep Whisper's full context
