"""``emotion=true`` over REST on a live server (mock provider, tiny random emotion model): the
response shapes, the refusals, and the stage running in the inference pool, off the event loop."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from app.core.config import load_settings
from providers.emotion import EmotionClassifier
from schemas.emotion import Emotion
from tests.conftest import SettingsFactory
from tests.providers.tiny_models import EMOTION_LABELS
from tests.support.audio import SAMPLE_TEXT, speech
from tests.support.server import running_server


@pytest.fixture(scope="module")
def audio() -> bytes:
    return speech(SAMPLE_TEXT).read_bytes()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, tiny_emotion_dir: Path) -> Iterator[str]:
    settings = load_settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("emotion-data"),
        default_provider="mock",
        default_model="mock",
        emotion_model=str(tiny_emotion_dir),
        embedded_worker=False,
        log_level="WARNING",
    )
    with running_server(settings) as url:
        yield url


def transcribe(url: str, audio: bytes, **fields: str) -> httpx.Response:
    return httpx.post(
        f"{url}/v1/audio/transcriptions",
        data={"model": "mock", **fields},
        files={"file": ("a.wav", audio, "audio/wav")},
        timeout=60,
    )


def test_verbose_json_carries_an_emotion_per_segment_and_other_formats_are_unchanged(
    server: str, audio: bytes
) -> None:
    body = transcribe(server, audio, emotion="true", response_format="verbose_json").json()
    segments = body["segments"]
    assert segments
    for segment in segments:
        assert set(segment["emotion"]) == {"label", "score"}
        assert segment["emotion"]["label"] in EMOTION_LABELS
        assert 0.0 <= segment["emotion"]["score"] <= 1.0
    summary = body["metadata"]["emotion"]
    assert summary["model"] == "tiny-emotion" and summary["segments"] == len(segments)
    assert (
        "emotion"
        not in transcribe(server, audio, response_format="verbose_json").json()["segments"][0]
    )

    plain = transcribe(server, audio, emotion="true").json()  # json: text and metadata only
    assert "segments" not in plain and plain["text"] == body["text"]
    for fmt in ("text", "srt", "vtt"):
        with_emotion = transcribe(server, audio, emotion="true", response_format=fmt).text
        assert with_emotion == transcribe(server, audio, response_format=fmt).text


def test_emotion_is_refused_with_stream_and_must_be_a_boolean(server: str, audio: bytes) -> None:
    streamed = transcribe(server, audio, emotion="true", stream="true")
    assert streamed.status_code == 400
    assert streamed.json()["error"]["code"] == "capability_not_supported"
    assert streamed.json()["error"]["param"] == "stream"
    bad = transcribe(server, audio, emotion="sometimes")
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "emotion"


def test_without_an_emotion_model_requests_and_jobs_get_a_400(
    make_settings: SettingsFactory, audio: bytes
) -> None:
    settings = make_settings(default_provider="mock", default_model="mock", embedded_worker=False)
    with running_server(settings) as url:
        replies = [
            transcribe(url, audio, emotion="true"),
            httpx.post(
                f"{url}/v1/audio/jobs",
                data={"model": "mock", "emotion": "true"},
                files={"file": ("a.wav", audio, "audio/wav")},
                timeout=60,
            ),
        ]
        assert transcribe(url, audio).status_code == 200  # without emotion: served
    for reply in replies:
        assert reply.status_code == 400, reply.text
        error = reply.json()["error"]
        assert error["code"] == "capability_not_supported" and error["param"] == "emotion"
        assert "STT_EMOTION_MODEL" in error["message"]


def test_the_stage_runs_off_the_event_loop(
    server: str, audio: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The classifier is held inside the stage until the server has answered ``/health``: were
    the stage on the event loop, the health check could not be answered (and would time out)."""
    entered, release = threading.Event(), threading.Event()
    classify = EmotionClassifier.classify

    def held(self: EmotionClassifier, clips: Sequence[np.ndarray]) -> list[Emotion]:
        entered.set()
        release.wait(30)
        return classify(self, clips)

    monkeypatch.setattr(EmotionClassifier, "classify", held)
    with ThreadPoolExecutor(1) as pool:
        pending = pool.submit(
            transcribe, server, audio, emotion="true", response_format="verbose_json"
        )
        try:
            assert entered.wait(30), "the emotion stage did not start"
            health = httpx.get(f"{server}/health", timeout=5)  # while the stage is held
        finally:
            release.set()
        reply = pending.result()
    assert health.status_code == 200
    assert reply.status_code == 200
    segments: list[dict[str, Any]] = reply.json()["segments"]
    assert segments and all(s["emotion"]["label"] in EMOTION_LABELS for s in segments)
