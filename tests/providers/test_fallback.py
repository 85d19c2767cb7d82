"""Fallback chains and circuit breakers: units with fakes, then a live gateway whose preferred
provider (external, pointed at a closed loopback port) fails and later recovers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from app.core.config import Settings
from app.main import create_app
from providers.base import AudioInput
from providers.breaker import BreakerBoard, BreakerPolicy, CircuitBreaker
from providers.fallback import run_chain
from providers.mock import MockProvider
from providers.registry import ProviderRegistry, Resolved
from schemas.errors import (
    CapabilityNotSupported,
    FatalProviderError,
    RetriableProviderError,
    ServiceUnavailable,
)
from schemas.options import TranscriptionOptions
from schemas.providers import BreakerState
from schemas.transcript import Transcript
from tests.conftest import SettingsFactory
from tests.support.audio import speech
from tests.support.server import free_port


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Flaky(MockProvider):
    """A mock whose transcriptions raise ``error`` while it is set."""

    def __init__(self, name: str, error: Exception | None = None) -> None:
        super().__init__()
        self.name = name
        self.error = error
        self.calls = 0

    def transcribe_batch(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> Transcript:
        self.calls += 1
        if self.error is not None:
            raise self.error
        return super().transcribe_batch(audio, options, model)


def test_breaker_opens_after_threshold_then_probes_once_and_closes() -> None:
    clock = Clock()
    breaker = CircuitBreaker(BreakerPolicy(failure_threshold=2, reset_after_s=10), clock)
    assert breaker.allow()
    breaker.record_failure("upstream_unreachable")
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure("upstream_unreachable")
    assert breaker.state is BreakerState.OPEN and not breaker.allow()
    assert breaker.snapshot().retry_in_s == pytest.approx(10)
    clock.now += 10
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow() and not breaker.allow()  # a single probe at a time
    breaker.record_failure("again")  # failed probe: open again, the wait restarts
    assert breaker.state is BreakerState.OPEN
    clock.now += 10
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot().consecutive_failures == 0
    assert breaker.snapshot().total_failures == 3


def _registry(*providers: MockProvider, **kw: object) -> ProviderRegistry:
    return ProviderRegistry(
        {p.name: p for p in providers},
        default_provider=providers[0].name,
        default_model="mock",
        translation_model="mock",
        **kw,  # type: ignore[arg-type]
    )


def test_chain_order_cpu_twin_then_request_or_configured_fallbacks() -> None:
    gpu, cpu, alt = Flaky("fw"), Flaky("fw-cpu"), Flaky("alt")
    registry = _registry(
        gpu, cpu, alt, cpu_twins={"fw": "fw-cpu"}, fallbacks={"whisper-1": ["alt:mock"]}
    )
    assert [t.label for t in registry.chain("whisper-1")] == [
        "fw:mock",
        "fw-cpu:mock",
        "alt:mock",
    ]
    assert [t.label for t in registry.chain("alt")] == ["alt:mock"]
    assert [t.label for t in registry.chain("fw:mock", fallback=["alt"])] == [
        "fw:mock",
        "fw-cpu:mock",
        "alt:mock",
    ]
    registry.fallbacks["*"] = ["fw:mock", "nope:missing"]  # unknown configured ids are skipped
    assert [t.label for t in registry.chain("alt")] == ["alt:mock", "fw:mock"]
    with pytest.raises(Exception, match="fallback model 'nope'"):
        registry.chain("alt", fallback=["nope"])


def test_run_chain_falls_back_on_provider_errors_only(english_audio: AudioInput) -> None:
    first = Flaky("first", RetriableProviderError("GPU out of memory"))
    second = Flaky("second", FatalProviderError("model file corrupt"))
    third = Flaky("third")
    board = BreakerBoard(BreakerPolicy(failure_threshold=1, reset_after_s=60))
    moves: list[tuple[str, str, str]] = []
    chain = [Resolved(p, "mock", "x") for p in (first, second, third)]
    options = TranscriptionOptions()
    transcript, result = run_chain(
        chain,
        lambda t: t.provider.transcribe_batch(english_audio, options, t.model),
        board,
        on_fallback=lambda a, b, reason: moves.append((a.label, b.label, reason)),
    )
    assert transcript.metadata.provider == "third"
    assert result.fallback_from == "first:mock"
    assert [a.reason for a in result.attempts] == ["provider_unavailable", "provider_error"]
    assert moves == [
        ("first:mock", "second:mock", "provider_unavailable"),
        ("second:mock", "third:mock", "provider_error"),
    ]
    assert board.get("first").state is BreakerState.OPEN
    # open breakers are skipped without calling the provider
    calls = first.calls
    _, again = run_chain(
        chain, lambda t: t.provider.transcribe_batch(english_audio, options, t.model), board
    )
    assert first.calls == calls and again.attempts[0].reason == "circuit_open"
    # a client error is the caller's: no fallback, no breaker verdict
    bad = Flaky("bad", CapabilityNotSupported("English-only model"))
    with pytest.raises(CapabilityNotSupported):
        run_chain(
            [Resolved(bad, "mock", "x"), Resolved(third, "mock", "x")],
            lambda t: t.provider.transcribe_batch(english_audio, options, t.model),
            board,
        )
    assert board.get("bad").state is BreakerState.CLOSED
    # every target skipped: 503 with Retry-After
    with pytest.raises(ServiceUnavailable) as info:
        run_chain(
            chain[:2], lambda t: t.provider.transcribe_batch(english_audio, options, t.model), board
        )
    assert info.value.code == "circuit_open" and info.value.retry_after


@contextmanager
def serve_on(settings: Settings, port: int) -> Iterator[str]:
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "upstream did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _transcribe(client: httpx.Client, audio: Path) -> dict:
    with open(audio, "rb") as f:
        response = client.post(
            "/v1/audio/transcriptions",
            files={"file": ("a.wav", f, "audio/wav")},
            data={"model": "external:whisper-1"},
        )
    assert response.status_code == 200, response.text
    return response.json()["metadata"]


def _breaker(client: httpx.Client, name: str) -> dict:
    response = client.get("/v1/audio/providers")
    assert response.status_code == 200, response.text
    return next(p for p in response.json()["data"] if p["name"] == name)


def test_request_survives_a_dead_provider_and_the_breaker_recovers(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    from tests.support.server import running_server

    port = free_port()  # nothing listens here yet
    settings = make_settings(
        external_base_url=f"http://127.0.0.1:{port}/v1",
        external_api_key="sk-fallback-test",
        external_max_retries=0,
        fallbacks={"external:whisper-1": ["mock"]},
        breaker_failure_threshold=2,
        breaker_reset_s=2.0,
    )
    audio = speech("Testing the fallback chain.")
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(2):
            meta = _transcribe(client, audio)
            assert meta["provider"] == "mock"
            assert meta["fallback_from"] == "external:whisper-1"
            assert meta["fallback_attempts"][0].endswith("upstream_unreachable")
        entry = _breaker(client, "external")
        assert entry["breaker"]["state"] == "open"
        assert entry["health"]["available"] is False
        meta = _transcribe(client, audio)  # skipped at once while open
        assert meta["provider"] == "mock"
        assert meta["fallback_attempts"] == ["external:whisper-1: circuit_open"]
        metrics = client.get("/metrics").text
        assert 'audio_stt_fallbacks_total{from_provider="external"' in metrics

        upstream = make_settings(
            data_dir=tmp_path / "upstream", default_provider="mock", default_model="mock"
        )
        with serve_on(upstream, port):
            deadline = time.monotonic() + 10  # past the reset time the next request probes
            while _breaker(client, "external")["breaker"]["state"] == "open":
                assert time.monotonic() < deadline
                time.sleep(0.1)
            meta = _transcribe(client, audio)
            assert meta["provider"] == "external" and meta["fallback_from"] is None
            assert _breaker(client, "external")["breaker"]["state"] == "closed"
