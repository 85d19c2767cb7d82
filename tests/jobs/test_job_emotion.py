"""A chunked job with ``emotion=true``: labelled once, on the merged transcript, and stored."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import httpx
import numpy as np
import pytest

from providers.emotion import EmotionClassifier
from schemas.emotion import Emotion
from tests.conftest import SettingsFactory
from tests.jobs.support import write_wav
from tests.providers.tiny_models import EMOTION_LABELS
from tests.support.jobs import post_upload, wait_job
from tests.support.server import running_server


def test_a_chunked_job_labels_the_merged_transcript_once(
    make_settings: SettingsFactory,
    tiny_emotion_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[int] = []
    classify = EmotionClassifier.classify

    def counted(self: EmotionClassifier, clips: Sequence[np.ndarray]) -> list[Emotion]:
        calls.append(len(clips))
        return classify(self, clips)

    monkeypatch.setattr(EmotionClassifier, "classify", counted)
    settings = make_settings(
        default_provider="mock",
        default_model="mock",
        emotion_model=str(tiny_emotion_dir),
        worker_poll_s=0.05,
        log_level="WARNING",
    )
    audio = write_wav(tmp_path / "long.wav", 25.0)
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        created = post_upload(
            client, audio, emotion="true", chunk_seconds="10", response_format="verbose_json"
        )
        job = wait_job(client, created["id"])
        assert job["status"] == "succeeded", job
        events = client.get(f"/v1/audio/jobs/{job['id']}/events").text
        media = client.get(f"/v1/media/{job['media_id']}").json()

    assert job["progress"]["chunks_total"] >= 2
    segments = job["result"]["segments"]
    assert calls == [len(segments)]  # one pass over the merged transcript's segments
    assert all(s["emotion"]["label"] in EMOTION_LABELS for s in segments)
    assert job["result"]["metadata"]["emotion"]["segments"] == len(segments)
    stages = [line for line in events.splitlines() if line.startswith('data: {"stage"')]
    assert stages[-2:] == ['data: {"stage":"emotion"}', 'data: {"stage":"saving"}']
    stored = media["analysis_details"]
    assert [s["emotion"] for s in stored["segments"]] == [s["emotion"] for s in segments]
    assert stored["metadata"]["emotion"] == job["result"]["metadata"]["emotion"]
