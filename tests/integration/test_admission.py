"""Memory is bounded by admission: uploads decode only while they hold an inference turn, a full
queue is refused before anything is decoded, and a transcription whose client disconnected
stops at its next segment instead of decoding for nobody."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

import app.services.transcription.service as transcription_module
from providers.base import AudioInput, SegmentStream
from providers.mock import MockProvider
from schemas.options import TranscriptionOptions
from schemas.transcript import Segment
from tests.security.test_rate_limits import wav_bytes
from tests.support.server import running_server

URL = "/v1/audio/transcriptions"


def _post(url: str, audio: bytes, timeout: float = 60, **fields: str) -> httpx.Response:
    return httpx.post(
        f"{url}{URL}",
        data={"model": "mock", **fields},
        files={"file": ("a.wav", audio, "audio/wav")},
        timeout=timeout,
    )


class DecodeProbe:
    """Wraps the real decoder: counts decodes running at once and can hold them."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self._lock = threading.Lock()
        self.running = 0
        self.most_at_once = 0
        self.calls = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, path: Path, **kwargs: Any) -> AudioInput:
        with self._lock:
            self.calls += 1
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.gate.wait(30)
            time.sleep(0.2)  # long enough for concurrent decodes to overlap
            return self._real(path, **kwargs)  # type: ignore[no-any-return]
        finally:
            with self._lock:
                self.running -= 1


@pytest.fixture
def probe(monkeypatch: pytest.MonkeyPatch) -> DecodeProbe:
    wrapper = DecodeProbe(transcription_module.decode_file)
    monkeypatch.setattr(transcription_module, "decode_file", wrapper)
    return wrapper


def test_uploads_decode_one_turn_at_a_time(make_settings: Any, probe: DecodeProbe) -> None:
    settings = make_settings(max_concurrent_transcriptions=1, max_queued_transcriptions=8)
    with running_server(settings) as url, ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: _post(url, wav_bytes(2.0)), range(4)))
    assert [r.status_code for r in responses] == [200] * 4
    assert probe.calls == 4
    assert probe.most_at_once == 1  # queued uploads wait on disk, not decoded in memory


def test_full_queue_is_refused_before_decoding(make_settings: Any, probe: DecodeProbe) -> None:
    settings = make_settings(max_concurrent_transcriptions=1, max_queued_transcriptions=0)
    probe.gate.clear()
    with running_server(settings) as url, ThreadPoolExecutor(1) as pool:
        first = pool.submit(_post, url, wav_bytes(2.0))
        deadline = time.monotonic() + 20
        while probe.calls == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        refused = _post(url, wav_bytes(2.0))
        probe.gate.set()
        assert first.result().status_code == 200
    assert refused.status_code == 503, refused.text
    assert refused.json()["error"]["code"] == "capacity_exhausted"
    assert int(refused.headers["Retry-After"]) >= 1
    assert probe.calls == 1  # the refused upload was never decoded


def test_disconnected_client_stops_its_transcription(
    make_settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A slow engine (0.1 s per segment, 300 segments) stops soon after the client leaves, and
    the only inference turn is free again for the next request."""
    real = MockProvider.iter_segments
    pulled: list[int] = []

    def slow_segments(
        self: MockProvider, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        if audio.duration < 5:
            return real(self, audio, options, model)

        def segments() -> Iterator[Segment]:
            for n in range(300):
                time.sleep(0.1)
                pulled.append(n)
                yield Segment(id=n, start=n * 0.02, end=n * 0.02 + 0.02, text=f"word{n}")

        return SegmentStream("en", 1.0, audio.duration, segments())

    monkeypatch.setattr(MockProvider, "iter_segments", slow_segments)
    settings = make_settings(max_concurrent_transcriptions=1, max_queued_transcriptions=4)
    with running_server(settings) as url:
        with pytest.raises(httpx.ReadTimeout):
            _post(url, wav_bytes(6.0), timeout=1.5)
        time.sleep(1.5)
        after_leaving = len(pulled)
        time.sleep(1.0)
        assert len(pulled) == after_leaving  # stopped
        assert after_leaving < 60  # ~30 s of work was left when the client went away
        started = time.monotonic()
        assert _post(url, wav_bytes(1.0)).status_code == 200
        assert time.monotonic() - started < 10  # the turn was given back
