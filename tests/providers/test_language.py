"""Language detection: espeak-ng speech in several languages through POST /v1/audio/language
(Whisper base from the offline packages), auto-detection in transcription, typed refusals."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.services.transcription.pipeline import TranscriptionPipeline
from app.services.vocabulary import Vocabulary
from providers.base import AudioInput
from providers.mock import MockProvider
from providers.registry import ProviderRegistry
from schemas.options import TranscriptionOptions
from schemas.providers import Capabilities, LanguageDetection
from tests.support.audio import speech
from tests.support.server import running_server

SAMPLES = {
    "en": ("en-us", "The weather is very nice today and we are going to the park."),
    "de": ("de", "Das Wetter ist heute sehr schön und wir gehen in den Park."),
    "fr": ("fr", "Bonjour, je m'appelle Marie et j'habite à Paris depuis dix ans."),
    "es": ("es", "Hoy hace muy buen tiempo y vamos a ir al parque con los niños."),
    "it": ("it", "Oggi il tempo è molto bello e andiamo al parco con i bambini."),
    "pl": ("pl", "Dzisiaj jest bardzo ładna pogoda i idziemy do parku z dziećmi."),
}
# espeak-ng's Portuguese, Dutch and Russian are too synthetic for Whisper base to be sure of


@pytest.fixture(scope="module")
def server(shared_data_dir: Path) -> Iterator[str]:
    from app.core.config import load_settings

    with running_server(load_settings(_env_file=None, data_dir=shared_data_dir)) as url:
        yield url


def _post(url: str, path: Path, **data: str) -> httpx.Response:
    with open(path, "rb") as f:
        return httpx.post(url, files={"file": ("a.wav", f, "audio/wav")}, data=data, timeout=120)


@pytest.mark.parametrize("language", list(SAMPLES))
def test_detects_the_spoken_language(server: str, language: str) -> None:
    voice, text = SAMPLES[language]
    response = _post(f"{server}/v1/audio/language", speech(text, voice=voice), top="3")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["language"] == language, body
    assert body["model"] == "faster-whisper:base"
    assert 0 < body["probability"] <= 1
    assert len(body["candidates"]) == 3
    assert body["candidates"][0]["language"] == language
    probs = [c["probability"] for c in body["candidates"]]
    assert probs == sorted(probs, reverse=True)


def test_transcription_without_a_language_detects_it(server: str) -> None:
    voice, text = SAMPLES["de"]
    response = _post(
        f"{server}/v1/audio/transcriptions",
        speech(text, voice=voice),
        model="base",
        response_format="verbose_json",
    )
    assert response.status_code == 200, response.text
    assert response.json()["language"] == "german"


def test_an_english_only_model_refuses_with_a_typed_error(server: str) -> None:
    path = speech("Hello there.")
    response = _post(f"{server}/v1/audio/language", path, model="tiny.en")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "capability_not_supported"
    assert _post(f"{server}/v1/audio/language", path, bogus="1").status_code == 400


class NoAutoLanguage(MockProvider):
    """Like NeMo: needs the language up front."""

    name = "needs-language"

    def capabilities(self) -> Capabilities:
        return super().capabilities().model_copy(update={"auto_language": False})


class Detector(MockProvider):
    name = "detector"

    def detect_language(self, audio: AudioInput, model: str) -> LanguageDetection:
        return LanguageDetection(language="fr", probability=0.9, all_probs=[("fr", 0.9)])


def test_pipeline_detects_first_for_providers_that_cannot(english_audio: AudioInput) -> None:
    needs, detector = NoAutoLanguage(), Detector()
    registry = ProviderRegistry(
        {needs.name: needs, detector.name: detector},
        default_provider=needs.name,
        default_model="mock",
        translation_model="mock",
    )
    pipeline = TranscriptionPipeline(registry, Vocabulary(), language_model="detector:mock")
    chain = registry.chain("needs-language")
    assert pipeline.run(english_audio, chain, TranscriptionOptions()).language == "fr"
    given = TranscriptionOptions(language="de")
    assert pipeline.run(english_audio, chain, given).language == "de"
    auto = registry.chain("detector")  # providers that detect while transcribing are left alone
    assert pipeline.run(english_audio, auto, TranscriptionOptions()).language == "en"
