"""Audio over a minute, end to end with the real tiny.en model: caption-grade segments and
subtitle cues through REST, chunked jobs and SSE, and SSE deltas that leave while decoding runs.

The clip is ~85 s of distinct sentences with pauses: long enough for the batched pipeline (over
``STT_BATCHED_MIN_DURATION_S``, 60 s by default), and for a job chunked at 30 s.
"""

from __future__ import annotations

import functools
import json
import statistics
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.core.config import load_settings
from providers.faster_whisper.provider import FasterWhisperProvider
from tests.support.audio import speech, varied_text, wer
from tests.support.captions import cue_text, parse_cues, rule_violations
from tests.support.jobs import wait_job
from tests.support.server import running_server

pytestmark = [pytest.mark.model, pytest.mark.slow]
TEXT = varied_text(20, seed=11)


@functools.cache
def _clip() -> Path:
    return speech(TEXT, fmt="mp3", gap_ms=400)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = load_settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("long-form"),
        log_level="WARNING",
        worker_poll_s=0.1,
    )
    with running_server(settings) as url:
        yield url


def _post(client: httpx.Client, route: str = "/v1/audio/transcriptions", **data: Any) -> Any:
    with _clip().open("rb") as audio:
        files = {"file": ("clip.mp3", audio, "audio/mpeg")}
        reply = client.post(route, files=files, data={"model": "whisper-1", **data})
    assert reply.status_code in (200, 202), reply.text
    return reply


def assert_caption_rules(body: str) -> str:
    """Every cue: at most 2 lines of 42 characters, at most 7 s, none overlapping the next.
    Returns the cues' text."""
    cues = parse_cues(body)
    assert len(cues) >= 10
    assert rule_violations(cues) == []
    return cue_text(cues)


def assert_caption_grade(body: dict[str, Any]) -> None:
    segments = body["segments"]
    lengths = [s["end"] - s["start"] for s in segments]
    assert body["duration"] > 60
    assert statistics.median(lengths) <= 10 and max(lengths) <= 20, lengths
    assert wer(TEXT, body["text"]) < 0.15, body["text"]
    words = body.get("words")
    if words:  # words stay inside their segments, in order
        cursor = iter(segments)
        segment = next(cursor)
        for word in words:
            while word["start"] >= segment["end"] and word["start"] > segment["start"] + 1e-3:
                segment = next(cursor)
            assert segment["start"] - 1e-3 <= word["start"] <= word["end"] <= segment["end"] + 1e-3


def test_rest_segments_follow_sentences_and_captions_follow_subtitle_rules(server: str) -> None:
    with httpx.Client(base_url=server, timeout=300) as client:
        verbose = _post(
            client,
            response_format="verbose_json",
            **{"timestamp_granularities[]": ["word", "segment"]},
        ).json()
        assert_caption_grade(verbose)
        srt = _post(client, response_format="srt").text
        assert wer(verbose["text"], assert_caption_rules(srt)) <= 0.02
        vtt = _post(client, response_format="vtt").text
        assert vtt.startswith("WEBVTT")
        assert_caption_rules(vtt)


def test_chunked_job_segments_and_captions(server: str) -> None:
    with httpx.Client(base_url=server, timeout=300) as client:
        reply = _post(client, "/v1/audio/jobs", chunk_seconds="30")
        job = wait_job(client, reply.json()["id"], timeout=300)
        assert job["status"] == "succeeded", job
        assert job["progress"]["chunks_total"] >= 2, job
        result = f"/v1/audio/jobs/{job['id']}/result"
        assert_caption_grade(client.get(result, params={"response_format": "verbose_json"}).json())
        assert_caption_rules(client.get(result, params={"response_format": "srt"}).text)


def test_sse_deltas_leave_before_decoding_ends(
    server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ordering, not timing: the first delta reaches the client before the engine has started
    decoding the last batch of clips (a streaming request decodes its first clip alone)."""
    events: list[str] = []
    lock = threading.Lock()
    decode = FasterWhisperProvider._decode

    def recording_decode(self: FasterWhisperProvider, *args: Any, **kwargs: Any) -> Any:
        with lock:
            events.append("decode")
        return decode(self, *args, **kwargs)

    monkeypatch.setattr(FasterWhisperProvider, "_decode", recording_decode)
    deltas: list[str] = []
    done: dict[str, Any] = {}
    with httpx.Client(base_url=server, timeout=300) as client, _clip().open("rb") as audio:
        files = {"file": ("clip.mp3", audio, "audio/mpeg")}
        data = {"model": "whisper-1", "stream": "true"}
        with client.stream("POST", "/v1/audio/transcriptions", files=files, data=data) as reply:
            assert reply.status_code == 200
            for line in reply.iter_lines():
                if not line.startswith("data: "):
                    continue
                event = json.loads(line.removeprefix("data: "))
                if event["type"] == "transcript.text.delta":
                    with lock:
                        events.append("delta")
                    deltas.append(event["delta"])
                elif event["type"] == "transcript.text.done":
                    done = event
    assert events.count("decode") >= 2, events  # the first clip alone, then full batches
    last_decode = len(events) - 1 - events[::-1].index("decode")
    assert events.index("delta") < last_decode, events
    assert len(deltas) >= 10  # sentence-sized pieces, not one per 30-second clip
    assert done["text"] == "".join(deltas)
    assert done["usage"]["seconds"] >= 60
    assert wer(TEXT, done["text"]) < 0.15
