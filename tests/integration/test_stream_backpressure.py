"""Backpressure must not cost a live session its connection: a client that sends faster than
the server decodes is slowed down (the session stops reading the socket), its keepalive pongs
wait in TCP behind its audio, and yet the session ends with every sample processed.

A real uvicorn server and a real ``websockets`` client; the mock provider is made slow (a
fixed sleep per decode, about five times real time) so the decoder falls behind, and the
server pings every 0.3 s, so the backpressure lasts many keepalive windows in a few seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from providers.mock import MockProvider
from tests.conftest import SettingsFactory
from tests.support.server import running_server
from tests.support.stream import stream

PING_INTERVAL_S = 0.3
DECODE_S = 0.1  # per 0.5 s step: the decoder runs at about 5x real time
AUDIO_S = 24
SPEED = 10  # the client's pace, as in the reported attack


@pytest.fixture
def slow_decoder(monkeypatch: pytest.MonkeyPatch) -> None:
    original = MockProvider.transcribe_stream

    def slow(self: MockProvider, *args: Any, **kwargs: Any) -> Any:
        time.sleep(DECODE_S)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(MockProvider, "transcribe_stream", slow)


@pytest.fixture
def server(make_settings: SettingsFactory, slow_decoder: None) -> Iterator[str]:
    settings = make_settings(
        ws_ping_interval_s=PING_INTERVAL_S,
        stream_max_buffered_ms=500,
        stream_min_step_ms=500,
        stream_max_step_ms=500,
    )
    with running_server(settings) as url:
        yield url


async def test_fast_client_outlives_the_keepalive_and_every_sample_is_processed(
    server: str,
) -> None:
    tone = 8000 * np.sin(np.arange(16_000 * AUDIO_S) * 2 * np.pi * 300 / 16_000)
    started = time.monotonic()
    result = await stream(
        server,
        tone.astype("<i2").tobytes(),
        16_000,
        speed=SPEED,
        start={"model": "mock", "vad": {"enabled": False}},
    )
    elapsed = time.monotonic() - started
    # the decoder really was the bottleneck, for many ping intervals
    assert elapsed > AUDIO_S / SPEED + 5 * PING_INTERVAL_S
    assert result.close_code == 1000, result.events[-3:]
    end = result.of("end")[0]
    assert end["reason"] == "stop"
    assert end["usage"]["duration_ms"] == AUDIO_S * 1000
    assert result.of("ack")[-1]["processed_ms"] == AUDIO_S * 1000
    words = [w for e in result.of("final") for w in e["segment"]["words"]]
    assert len(words) == AUDIO_S * 2  # one mock word per half second, none lost
