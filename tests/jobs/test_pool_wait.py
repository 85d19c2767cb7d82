"""A job's wait for an inference turn is reported as ``metadata.queue_latency_ms`` and is not
counted as processing time (``audio_stt_processing_seconds``), as for REST requests."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import REGISTRY

from app.core.config import Settings
from app.db.database import Database
from app.services.jobs.service import JobService
from providers.base import AudioInput, SegmentStream
from providers.mock import MockProvider
from schemas.jobs import ChunkConfig, JobStatus
from schemas.options import TranscriptionOptions
from schemas.transcript import Segment
from tests.jobs.support import submit_file, wait_for, worker, write_wav
from tests.support.jobs import wait_job
from tests.support.server import running_server

HOLD_SEGMENTS = 30  # x 0.1 s: how long the REST request holds the only inference turn
LABELS = {"provider": "mock", "model": "mock"}


def processing(suffix: str, **labels: str) -> float:
    name = f"audio_stt_processing_seconds_{suffix}"
    return REGISTRY.get_sample_value(name, {**LABELS, **labels}) or 0.0


def test_embedded_job_reports_its_pool_wait_as_queue_latency(
    job_settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """One inference turn, held ~3 s by a slow REST transcription while a job arrives: the
    job's metadata shows that wait, and its processing observation does not include it."""
    real = MockProvider.iter_segments
    holding = threading.Event()

    def slow_segments(
        self: MockProvider, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        if audio.duration < 5:  # the job's audio: as fast as ever
            return real(self, audio, options, model)

        def segments() -> Iterator[Segment]:
            for n in range(HOLD_SEGMENTS):
                holding.set()
                time.sleep(0.1)
                yield Segment(id=n, start=n * 0.1, end=n * 0.1 + 0.1, text=f"word{n}")

        return SegmentStream("en", 1.0, audio.duration, segments())

    monkeypatch.setattr(MockProvider, "iter_segments", slow_segments)
    settings = job_settings.model_copy(
        update={
            "embedded_worker": True,
            "max_concurrent_transcriptions": 1,
            "max_queued_transcriptions": 4,
        }
    )
    long_audio = write_wav(tmp_path / "long.wav", 6.0, seed=1).read_bytes()
    short_audio = write_wav(tmp_path / "short.wav", 1.0, seed=2).read_bytes()
    count_before, fast_before = processing("count"), processing("bucket", le="1.0")
    freed_at: list[float] = []
    with (
        running_server(settings) as url,
        httpx.Client(base_url=url, timeout=60) as client,
        ThreadPoolExecutor(1) as pool,
    ):

        def hold_the_pool() -> httpx.Response:
            reply = httpx.post(
                f"{url}/v1/audio/transcriptions",
                data={"model": "mock"},
                files={"file": ("long.wav", long_audio, "audio/wav")},
                timeout=60,
            )
            freed_at.append(time.monotonic())
            return reply

        busy = pool.submit(hold_the_pool)
        assert holding.wait(30), "the REST transcription never started"
        submitted_at = time.monotonic()
        created = client.post(
            "/v1/audio/jobs",
            files={"file": ("short.wav", short_audio, "audio/wav")},
            data={"model": "mock", "response_format": "verbose_json"},
        )
        assert created.status_code == 202, created.text
        job = wait_job(client, created.json()["id"])
        assert busy.result().status_code == 200
    assert job["status"] == "succeeded", job
    held_ms = (freed_at[0] - submitted_at) * 1000
    latency = job["result"]["metadata"]["queue_latency_ms"]
    assert 1000 <= latency <= held_ms + 500, (latency, held_ms)
    # two observations: the REST request (~3 s of processing) and the job (a 1 s mock
    # transcription, without its wait for the turn)
    assert processing("count") - count_before == 2
    assert processing("bucket", le="1.0") - fast_before == 1


def test_chunked_job_sums_the_wait_of_its_steps(
    job_settings: Settings, db: Database, service: JobService, tmp_path: Path
) -> None:
    """``queue_latency_ms`` of a chunked job: every chunk's wait plus the finalize step's."""
    calls: list[str] = []

    def waiting_infer(fn: Callable[..., Any], *args: object) -> tuple[Any, float]:
        calls.append(fn.__name__)
        return fn(*args), 0.125  # as if each step had waited 125 ms for a turn

    audio = write_wav(tmp_path / "long.wav", 30.0, seed=3)
    job = submit_file(service, audio, chunking=ChunkConfig(chunk_seconds=10, overlap_seconds=1))
    with worker(job_settings, db, infer=waiting_infer):
        wait_for(lambda: service.get("alice", job.id).status.terminal, 60, "the chunked job")
    done = service.get("alice", job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.chunks_total == calls.count("transcribe") >= 2
    assert calls.count("finalize") == 1
    transcript = service.transcript("alice", done)
    assert transcript.metadata.queue_latency_ms == 125 * (done.chunks_total + 1)
