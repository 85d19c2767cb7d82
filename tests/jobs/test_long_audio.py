"""A three-minute recording as a chunked job with the real tiny.en model.

The merged transcript must be as good as transcribing the file whole (within 0.03 WER), with no
word repeated at a chunk join and timestamps in order. Two in-process workers share the chunks.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from app.bootstrap import build_providers
from app.core.config import Settings
from app.db.database import Database
from app.services.jobs.chunking import cut_points
from app.services.jobs.events import JobEventSource
from app.services.jobs.service import JobService
from app.services.transcription.audio import decode_file
from schemas.jobs import ChunkConfig, JobChunkText, JobStatus
from schemas.options import TranscriptionOptions
from tests.jobs.support import submit_file, wait_for, worker
from tests.support.audio import speech, wer

SENTENCES = [
    "The harbour was quiet in the early morning before the fishing boats returned.",
    "Maria opened the small bakery at six and lit the old brick oven.",
    "A light rain began to fall over the hills north of the village.",
    "Our train left the station twenty minutes late because of a signal problem.",
    "The museum keeps a collection of maps drawn by sailors three centuries ago.",
    "He repaired the bicycle chain with a borrowed tool and some patience.",
    "Children played football on the beach until the tide came in.",
    "The library will close early on Friday for the annual inventory.",
    "She wrote a long letter to her brother who lives in Canada.",
    "Farmers in the valley grow apples, pears and a little barley.",
    "The new bridge shortened the journey to the city by almost an hour.",
    "Please remember to water the tomato plants while I am away.",
    "An old lighthouse stands at the end of the rocky peninsula.",
    "The orchestra rehearsed the second symphony twice before the concert.",
    "We counted more than forty different birds along the river path.",
    "The committee agreed to meet again next Tuesday after lunch.",
    "Fresh snow covered the mountain road and the pass was closed.",
    "His grandmother taught him how to bake bread without a recipe.",
    "The engineers tested the pump for six hours without a single fault.",
    "Tourists gathered in the square to watch the clock strike noon.",
    "A narrow staircase led up to the attic full of dusty books.",
    "The doctor advised him to walk every evening and sleep earlier.",
    "Our neighbours painted their fence a bright shade of green.",
    "The ferry crosses the bay four times a day during the summer.",
    "Students presented their research on solar panels to the council.",
    "The market sells cheese, honey and vegetables from nearby farms.",
    "Thunder rolled across the plain as the storm moved east.",
    "She finally found the missing key under the kitchen table.",
    "The castle walls were built from stone carried down from the quarry.",
    "A gentle breeze moved the curtains of the open window.",
    "The team celebrated their victory with a dinner at the harbour.",
    "Workers replaced the roof of the school during the holidays.",
    "He photographed the sunset from the top of the cathedral tower.",
    "The recipe calls for two eggs, a cup of flour and some butter.",
    "Volunteers cleaned the park and planted a row of young oak trees.",
    "The pilot announced that we would land in about fifteen minutes.",
    "My cousin collects stamps from every country she has visited.",
    "The river flooded the lower fields after a week of heavy rain.",
    "A small cafe on the corner serves the best coffee in town.",
    "The story ends with the travellers returning home at last.",
]
TEXT = " ".join(SENTENCES)


@functools.cache
def _recording() -> Path:
    return speech(TEXT, speed=150, gap_ms=500)


@functools.cache
def _whole_file_text(model_dir: str) -> str:
    settings = Settings(_env_file=None, data_dir=Path(model_dir))  # type: ignore[call-arg]
    provider = build_providers(settings)["faster-whisper"]
    audio = decode_file(_recording(), max_duration_s=600)
    options = TranscriptionOptions(language="en", word_timestamps=True)
    return provider.transcribe_batch(audio, options, "tiny.en").text


@pytest.mark.model
@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_chunked_job_matches_whole_file(
    job_settings: Settings, db: Database, service: JobService, tmp_path: Path
) -> None:
    recording = _recording()
    duration = decode_file(recording, max_duration_s=600).duration
    assert 150 <= duration <= 240, duration
    settings = job_settings.model_copy(
        update={
            "default_provider": "faster-whisper",
            "default_model": "tiny.en",
            "translation_model": "tiny.en",
        }
    )
    job = submit_file(
        service,
        recording,
        model="tiny.en",
        chunking=ChunkConfig(chunk_seconds=60, overlap_seconds=1.0),
    )
    with worker(settings, db, concurrency=2):
        wait_for(lambda: service.get("alice", job.id).status.terminal, 240, "the chunked job")
    done = service.get("alice", job.id)
    assert done.status is JobStatus.SUCCEEDED, done.error
    assert done.chunks_total >= 3 and done.chunks_done == done.chunks_total
    transcript = service.transcript("alice", done)
    # the live stream's chunk texts, joined, are the transcript (no diarization, no vocabulary)
    events, _ = JobEventSource(service.queue, "alice", job.id).poll()
    texts = [e.data.text for e in events if isinstance(e.data, JobChunkText)]
    assert len(texts) == done.chunks_total
    assert " ".join(t for t in texts if t) == transcript.text
    whole = _whole_file_text(str(settings.data_dir))
    chunked_wer, whole_wer = wer(TEXT, transcript.text), wer(TEXT, whole)
    print(f"WER whole={whole_wer:.3f} chunked={chunked_wer:.3f} chunks={done.chunks_total}")
    assert chunked_wer <= whole_wer + 0.03

    words = [w for s in transcript.segments for w in s.words or ()]
    starts = [w.start for w in words]
    assert starts == sorted(starts)
    assert [s.start for s in transcript.segments] == sorted(s.start for s in transcript.segments)
    assert all(0 <= w.start <= w.end <= transcript.duration + 1e-6 for w in words)
    with db.read() as conn:
        spans = [(c.start, c.end) for c in service.queue.chunks.for_job(conn, job.id)]
    keys = [re.sub(r"[^\w']", "", w.word.lower()) for w in words]
    for cut in cut_points(spans):
        near = [i for i, w in enumerate(words) if abs(w.start - cut) < 4.0]
        for i in near[:-1]:
            assert keys[i] != keys[i + 1], f"'{keys[i]}' repeated at the join near {cut:.1f}s"
        window = " ".join(keys[i] for i in near)
        for n in range(3, 6):  # no phrase of the join said twice in a row
            grams = [tuple(keys[i : i + n]) for i in near[: len(near) - n + 1]]
            for a, b in zip(grams, grams[n:], strict=False):
                assert a != b, f"phrase repeated at the join near {cut:.1f}s: {window}"
