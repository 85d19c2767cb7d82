"""One contract, every provider: transcripts satisfy the canonical schema invariants.

faster-whisper (real tiny.en), mock, transformers (a tiny random Whisper saved locally), NeMo
(a tiny random Conformer-CTC saved as .nemo; skipped only where nemo_toolkit cannot be
installed) and external (an OpenAI-compatible client of a second gateway on loopback).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.core.config import load_settings
from providers.base import AudioInput, Provider
from providers.external import ExternalConfig, ExternalProvider
from providers.faster_whisper import FasterWhisperProvider
from providers.faster_whisper.provider import FasterWhisperConfig
from providers.hf_transformers import TransformersConfig, TransformersProvider
from providers.mock import MockProvider
from providers.nemo_asr import NemoConfig, NemoProvider
from schemas.options import TranscriptionOptions
from schemas.transcript import Transcript, join_text
from tests.support.audio import wer
from tests.support.server import running_server

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


@pytest.fixture(scope="module")
def upstream_url(shared_data_dir: Path) -> Iterator[str]:
    """A second gateway (real faster-whisper tiny.en) the external provider talks to."""
    settings = load_settings(_env_file=None, data_dir=shared_data_dir / "upstream")
    with running_server(settings) as url:
        yield url


Factory = Callable[[], tuple[Provider, str]]


@pytest.fixture(scope="module")
def factories(request: pytest.FixtureRequest, shared_data_dir: Path) -> dict[str, Factory]:
    def fw() -> tuple[Provider, str]:
        config = FasterWhisperConfig(model_dir=None, cache_dir=shared_data_dir / "models")
        return FasterWhisperProvider(config), "tiny.en"

    def hf() -> tuple[Provider, str]:
        path = request.getfixturevalue("tiny_whisper_dir")
        return TransformersProvider(TransformersConfig(models={"tiny": str(path)})), "tiny"

    def nemo() -> tuple[Provider, str]:
        path = request.getfixturevalue("tiny_nemo_path")
        return NemoProvider(NemoConfig(models={"tiny-ctc": str(path)})), "tiny-ctc"

    def external() -> tuple[Provider, str]:
        url = request.getfixturevalue("upstream_url")
        config = ExternalConfig(base_url=f"{url}/v1", api_key="sk-contract-test", max_retries=0)
        return ExternalProvider(config), "whisper-1"

    return {
        "faster-whisper": fw,
        "mock": lambda: (MockProvider(), "mock"),
        "transformers": hf,
        "nemo": nemo,
        "external": external,
    }


def assert_canonical(transcript: Transcript, audio: AudioInput, provider: Provider) -> None:
    assert transcript.duration == pytest.approx(audio.duration)
    assert transcript.language and transcript.language == transcript.language.strip().lower()
    assert transcript.text == join_text(transcript.segments)
    assert not _CONTROL.search(transcript.text)
    assert transcript.metadata.provider == provider.name
    cursor = 0.0
    for index, seg in enumerate(transcript.segments):
        assert seg.id == index
        assert seg.text and seg.text == seg.text.strip() and not _CONTROL.search(seg.text)
        assert cursor <= seg.start <= seg.end <= transcript.duration + 1e-6
        cursor = seg.start
        assert seg.words is None or len(seg.words) > 0  # null, never an empty list
        word_cursor = seg.start
        for word in seg.words or ():
            assert word.word and not _CONTROL.search(word.word)
            assert seg.start - 1e-6 <= word_cursor <= word.start <= word.end <= seg.end + 1e-6
            assert 0.0 <= word.probability <= 1.0
            word_cursor = word.start
    assert transcript.usage.duration_ms == round(audio.duration * 1000)
    assert transcript.diarization.enabled is False


PROVIDERS = ["faster-whisper", "mock", "transformers", "nemo", "external"]


@pytest.mark.parametrize("words", [False, True], ids=["segments", "words"])
@pytest.mark.parametrize("name", PROVIDERS)
def test_every_provider_yields_a_canonical_transcript(
    name: str, words: bool, factories: dict[str, Factory], english_audio: AudioInput
) -> None:
    provider, model = factories[name]()
    assert model in provider.available_models()
    assert provider.healthcheck().available
    options = TranscriptionOptions(beam_size=1, best_of=1, word_timestamps=words)
    transcript = provider.transcribe_batch(english_audio, options, model)
    assert_canonical(transcript, english_audio, provider)
    assert transcript.segments, "a provider returns some text for 5 s of speech"
    if words:
        assert any(s.words for s in transcript.segments)
    if name in ("faster-whisper", "external"):  # real recognition: the same tiny.en model
        from tests.providers.conftest import SPEECH_TEXT

        assert wer(SPEECH_TEXT, transcript.text) < 0.5
