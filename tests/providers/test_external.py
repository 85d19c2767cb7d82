"""The external (OpenAI-compatible) provider against a mock transport: retries, Retry-After,
fail-fast 4xx, key hygiene and response mapping. (Its live test against a second gateway on
loopback is in test_contract.py and test_fallback.py.)"""

from __future__ import annotations

import email.utils
import time

import httpx
import numpy as np
import pytest
from loguru import logger

from providers.base import AudioInput
from providers.external import ExternalConfig, ExternalProvider
from providers.http_retry import parse_retry_after
from schemas.errors import FatalProviderError, ModelNotFound, RetriableProviderError
from schemas.options import Task, TranscriptionOptions

KEY = "sk-very-secret-key-123"
AUDIO = AudioInput(np.zeros(16_000 * 3, dtype=np.float32))
VERBOSE = {
    "task": "transcribe",
    "language": "german",
    "duration": 3.0,
    "text": "Hallo Welt. Wie geht es?",
    "segments": [
        {"id": 0, "seek": 0, "start": 0.0, "end": 1.4, "text": " Hallo Welt.", "avg_logprob": -0.2},
        {"id": 1, "seek": 0, "start": 1.5, "end": 2.9, "text": " Wie geht es?"},
    ],
    "words": [
        {"word": "Hallo", "start": 0.0, "end": 0.6},
        {"word": "Welt.", "start": 0.7, "end": 1.4},
        {"word": "Wie", "start": 1.5, "end": 1.9},
        {"word": "geht", "start": 2.0, "end": 2.4},
        {"word": "es?", "start": 2.5, "end": 2.9},
    ],
}


class Upstream:
    """Answers each request with the next scripted response; records what it received."""

    def __init__(self, *responses: httpx.Response | Exception) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses.pop(0)
        if isinstance(item, Exception):
            raise item
        return item


def provider(upstream: Upstream, sleeps: list[float], **kw: object) -> ExternalProvider:
    config = ExternalConfig(
        base_url="http://upstream.test/v1",
        api_key=KEY,
        models={"whisper-1": "whisper-large-v3"},
        **kw,  # type: ignore[arg-type]
    )
    return ExternalProvider(
        config, transport=httpx.MockTransport(upstream), sleep=sleeps.append, jitter=lambda: 1.0
    )


def test_maps_verbose_json_and_sends_the_mapped_model_and_key() -> None:
    upstream = Upstream(httpx.Response(200, json=VERBOSE))
    ext = provider(upstream, [])
    transcript = ext.transcribe_batch(
        AUDIO, TranscriptionOptions(word_timestamps=True), "whisper-1"
    )
    assert transcript.language == "de"
    assert [s.text for s in transcript.segments] == ["Hallo Welt.", "Wie geht es?"]
    assert [w.word for w in transcript.segments[1].words or []] == ["Wie", "geht", "es?"]
    assert transcript.metadata.provider == "external"
    request = upstream.requests[0]
    assert request.url.path == "/v1/audio/transcriptions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    body = request.read()
    assert b'name="model"\r\n\r\nwhisper-large-v3' in body
    assert b"verbose_json" in body and b"RIFF" in body  # WAV upload


def test_translation_goes_to_the_translations_endpoint() -> None:
    upstream = Upstream(httpx.Response(200, json={**VERBOSE, "language": "english"}))
    options = TranscriptionOptions(task=Task.TRANSLATE)
    assert provider(upstream, []).transcribe_batch(AUDIO, options, "whisper-1").language == "en"
    assert upstream.requests[0].url.path == "/v1/audio/translations"


def test_retries_429_and_5xx_honouring_retry_after_with_backoff() -> None:
    sleeps: list[float] = []
    upstream = Upstream(
        httpx.Response(429, headers={"Retry-After": "2"}, json={"error": {"message": "slow"}}),
        httpx.Response(503, json={"error": {"message": "overloaded"}}),
        httpx.ConnectError("refused"),
        httpx.Response(200, json=VERBOSE),
    )
    ext = provider(upstream, sleeps, max_retries=3, backoff_s=0.5)
    assert ext.transcribe_batch(AUDIO, TranscriptionOptions(), "whisper-1").text
    # Retry-After as given; then exponential backoff (jitter pinned to its maximum)
    assert sleeps == [2.0, 1.0, 2.0]
    assert len(upstream.requests) == 4


def test_gives_up_after_max_retries_with_a_retriable_error() -> None:
    sleeps: list[float] = []
    upstream = Upstream(*(httpx.Response(502, text="bad gateway") for _ in range(3)))
    with pytest.raises(RetriableProviderError, match="upstream answered 502"):
        provider(upstream, sleeps, max_retries=2).transcribe_batch(
            AUDIO, TranscriptionOptions(), "whisper-1"
        )
    assert len(upstream.requests) == 3 and len(sleeps) == 2


def test_a_retry_after_beyond_the_cap_is_passed_on_not_waited() -> None:
    sleeps: list[float] = []
    later = email.utils.formatdate(time.time() + 120, usegmt=True)
    upstream = Upstream(httpx.Response(429, headers={"Retry-After": later}))
    with pytest.raises(RetriableProviderError) as info:
        provider(upstream, sleeps, max_backoff_s=10).transcribe_batch(
            AUDIO, TranscriptionOptions(), "whisper-1"
        )
    assert sleeps == [] and info.value.retry_after == pytest.approx(120, abs=2)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_other_4xx_fail_fast(status: int) -> None:
    sleeps: list[float] = []
    upstream = Upstream(httpx.Response(status, json={"error": {"message": "nope"}}))
    with pytest.raises(FatalProviderError, match=f"upstream answered {status}: nope"):
        provider(upstream, sleeps).transcribe_batch(AUDIO, TranscriptionOptions(), "whisper-1")
    assert len(upstream.requests) == 1 and sleeps == []


def test_the_key_is_never_logged_nor_in_errors_nor_repr() -> None:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m)), level="TRACE")
    try:
        upstream = Upstream(
            httpx.ConnectError("refused"),
            httpx.Response(401, json={"error": {"message": "bad"}}),
            httpx.Response(401),  # the health check
        )
        ext = provider(upstream, [], max_retries=1)
        with pytest.raises(FatalProviderError) as info:
            ext.transcribe_batch(AUDIO, TranscriptionOptions(), "whisper-1")
        health = ext.healthcheck()
    finally:
        logger.remove(sink)
    assert lines, "the retry was logged"
    text = " ".join(lines) + str(info.value) + repr(ext._config) + health.model_dump_json()
    assert KEY not in text


def test_unmapped_models_and_unreachable_health() -> None:
    ext = provider(Upstream(httpx.ConnectError("refused")), [])
    with pytest.raises(ModelNotFound):
        ext.transcribe_batch(AUDIO, TranscriptionOptions(), "gpt-4o-transcribe")
    assert ext.available_models() == ["whisper-1"]
    health = ext.healthcheck()
    assert not health.available and "unreachable" in (health.last_error or "")


def test_parse_retry_after() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    date = email.utils.formatdate(1000.0 + 30, usegmt=True)
    assert parse_retry_after(date, now=1000.0) == pytest.approx(30)
