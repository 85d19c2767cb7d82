"""The event loop stays free while a long transcription runs in the inference pool."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.support.audio import speech, varied_text

pytestmark = pytest.mark.model


def test_health_answers_during_long_transcription(live_server: str) -> None:
    clip = speech(varied_text(14), fmt="ogg")  # ~55 s of speech
    done = threading.Event()
    result: dict[str, httpx.Response] = {}

    def transcribe() -> None:
        result["r"] = httpx.post(
            f"{live_server}/v1/audio/transcriptions",
            timeout=300,
            data={"model": "tiny.en"},
            files={"file": ("long.ogg", clip.read_bytes(), "audio/ogg")},
        )
        done.set()

    worker = threading.Thread(target=transcribe)
    worker.start()
    answered_while_busy = 0
    while not done.is_set():
        r = httpx.get(f"{live_server}/health", timeout=5)
        assert r.status_code == 200
        answered_while_busy += not done.is_set()
        time.sleep(0.05)
    worker.join()
    assert result["r"].status_code == 200, result["r"].text
    assert answered_while_busy >= 3


def test_excess_requests_queue_then_overflow_with_503(make_settings) -> None:  # type: ignore[no-untyped-def]
    from tests.support.server import running_server

    settings = make_settings(max_concurrent_transcriptions=1, max_queued_transcriptions=1)
    clip = speech(varied_text(5), fmt="ogg").read_bytes()
    with running_server(settings) as url:
        responses: list[httpx.Response] = []

        def call() -> None:
            responses.append(
                httpx.post(
                    f"{url}/v1/audio/transcriptions",
                    timeout=300,
                    data={"model": "tiny.en"},
                    files={"file": ("a.ogg", clip, "audio/ogg")},
                )
            )

        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
            time.sleep(0.05)
        for t in threads:
            t.join()
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 2  # one running + one queued
    overflow = [r for r in responses if r.status_code == 503]
    assert overflow and all(r.headers["retry-after"] for r in overflow)
    assert overflow[0].json()["error"]["code"] == "capacity_exhausted"
