"""Live progress of a job over SSE: chunk texts in audio order, stages, ``done``; resumable with
``Last-Event-ID`` (the derivation is property-tested; the stream runs on SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from app.services.jobs.chunking import ChunkTranscript, merge_chunks
from app.services.jobs.events import (
    LATER_STAGES,
    ChunkTexts,
    EventCursor,
    JobEvent,
    JobEventSource,
    done_id,
    done_prefix,
)
from app.services.jobs.service import JobService
from schemas.errors import LeaseLost
from schemas.jobs import (
    ChunkStatus,
    Job,
    JobChunk,
    JobChunkText,
    JobStage,
    JobStatus,
    Pool,
    entered_stages,
)
from schemas.transcript import (
    Transcript,
    TranscriptMetadata,
    Word,
    build_transcript,
    join_text,
    normalise_segments,
)
from tests.jobs.support import submit_file, write_wav
from tests.jobs.test_merge_props import heard_chunk, timeline
from workers.sdk import JobQueue

Event = dict[str, Any]


def parse(body: str) -> list[Event]:
    """SSE frames as ``{"id", "event", "data"}`` (``retry:`` and comments left out)."""
    events = []
    for frame in body.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.splitlines() if ": " in line)
        if "event" in fields:
            events.append(
                {
                    "id": int(fields["id"]),
                    "event": fields["event"],
                    "data": json.loads(fields["data"]),
                }
            )
    return events


def ordered(events: list[Event]) -> list[Event]:
    """The sequence events (``job`` snapshots are not part of the sequence)."""
    return [e for e in events if e["event"] != "job"]


def read(client: httpx.Client, job_id: str, **kwargs: Any) -> tuple[str, list[Event]]:
    with client.stream("GET", f"/v1/audio/jobs/{job_id}/events", **kwargs) as stream:
        assert stream.status_code == 200
        body = stream.read().decode()
    return body, parse(body)


# -- the stream over HTTP ----------------------------------------------------------------------


def test_a_chunked_job_streams_its_text_stages_and_done_and_resumes(
    client: httpx.Client, tmp_path: Path
) -> None:
    audio = write_wav(tmp_path / "long.wav", 60.0)
    with open(audio, "rb") as handle:
        job = client.post(
            "/v1/audio/jobs",
            files={"file": ("long.wav", handle, "audio/wav")},
            # a vocabulary the mock never hears: the stage runs, the text stays
            data={"model": "mock", "chunk_seconds": "10", "vocabulary": '{"qqq": "Q"}'},
        ).json()
    url = f"/v1/audio/jobs/{job['id']}/events"
    # read while it runs up to the first chunk, disconnect, resume after that id
    with client.stream("GET", url) as stream:
        first: list[Event] = []
        for frame in stream.iter_text():
            first += parse(frame)
            if any(e["event"] == "chunk" for e in first):
                break
    resumed_after = first[-1]["id"]
    body, rest = read(client, job["id"], headers={"Last-Event-ID": str(resumed_after)})
    assert body.startswith("retry: ")
    _, whole = read(client, job["id"])
    assert ordered(first) + ordered(rest) == ordered(whole)

    events = ordered(whole)
    ids = [e["id"] for e in events]
    assert ids == sorted(set(ids))
    finished = client.get(f"/v1/audio/jobs/{job['id']}", params={"response_format": "json"}).json()
    total = finished["progress"]["chunks_total"]
    assert finished["status"] == "succeeded" and total > 2
    chunks = [e["data"] for e in events if e["event"] == "chunk"]
    assert [c["chunk"] for c in chunks] == list(range(total))
    assert chunks[0]["start"] == 0.0 and [c["end"] for c in chunks[:-1]] == [
        c["start"] for c in chunks[1:]
    ]
    assert " ".join(c["text"] for c in chunks if c["text"]) == finished["result"]["text"]
    stages = [e["data"]["stage"] for e in events if e["event"] == "stage"]
    assert stages == ["transcribing", "merging", "vocabulary", "saving"]
    assert [e["event"] for e in events][-1] == "done" and ids[-1] == done_id(total)
    assert events[-1]["data"]["status"] == "succeeded"
    assert [e["event"] for e in whole][-2:] == ["job", "done"]

    for after in [0, *ids]:  # any id: exactly the events after it
        _, again = read(client, job["id"], headers={"Last-Event-ID": str(after)})
        assert ordered(again) == [e for e in events if e["id"] > after]
    _, by_query = read(client, job["id"], params={"last_event_id": str(ids[1])})
    assert ordered(by_query) == events[2:]

    assert client.get("/v1/audio/jobs/job_missing/events").status_code == 404
    bad = client.get(url, headers={"Last-Event-ID": "chunk-3"})
    assert bad.status_code == 400 and bad.json()["error"]["param"] == "Last-Event-ID"


# -- the durable state behind it ---------------------------------------------------------------


def test_stages_are_lease_fenced_and_kept_on_completion(
    queue: JobQueue, service: JobService, tmp_path: Path
) -> None:
    job = submit_file(service, write_wav(tmp_path / "a.wav"))
    lease = queue.lease("w1", [Pool.ANY])
    assert lease is not None
    for stage in ("transcribing", "merging", "transcribing"):
        queue.enter_stage(lease, stage)
    done = queue.complete(lease, {"duration": 0.5})
    assert entered_stages(done) == ["transcribing", "merging"]
    assert done.result is not None and done.result["duration"] == 0.5
    with pytest.raises(LeaseLost):
        queue.enter_stage(lease, "saving")
    assert JobEventSource(queue, "bob", job.id).poll() == ([], True)  # not bob's job


# -- the derivation, property-tested -----------------------------------------------------------

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _job(status: JobStatus, stages: list[str], total: int, done: int) -> Job:
    return Job(
        id="job_1",
        owner="alice",
        kind="transcription",
        status=status,
        pool=Pool.ANY,
        priority=0,
        payload={},
        attempts=1,
        max_attempts=3,
        available_at=NOW,
        created_at=NOW,
        updated_at=NOW,
        result={"stages": stages} if stages else None,
        chunks_total=total,
        chunks_done=done,
    )


def _chunks(words: list[Word], data: st.DataObject) -> list[JobChunk]:
    """A plan of 2-5 chunks whose cuts lie two overlaps apart or more (as planned), each with
    what a recogniser would hear in it, stored as the handler stores a finished chunk."""
    duration = words[-1].end + 0.5
    count = data.draw(st.integers(2, 5))
    overlap = data.draw(st.floats(0.5, 2.0))
    cuts = [duration * (i + 1) / count + data.draw(st.floats(-0.3, 0.3)) for i in range(count - 1)]
    bounds = [0.0, *cuts, duration]
    assume(all(b - a >= 2 * overlap for a, b in itertools.pairwise(bounds)))
    chunks = []
    for i in range(count):
        start, end = max(0.0, bounds[i] - overlap / 2), min(duration, bounds[i + 1] + overlap / 2)
        jitter = data.draw(
            st.lists(st.floats(-0.05, 0.05), min_size=len(words), max_size=len(words))
        )
        heard = heard_chunk(words, start, end, jitter)
        stored = build_transcript(
            segments=heard.segments,
            language="en",
            duration=end,
            metadata=TranscriptMetadata(provider="m", model="m"),
        )
        chunks.append(
            JobChunk(
                job_id="job_1",
                idx=i,
                start=start,
                end=end,
                status=ChunkStatus.DONE,
                transcript=stored.model_dump(mode="json"),
            )
        )
    return chunks


def _texts_as_polled(plan: list[JobChunk], finish_order: list[int]) -> list[JobChunkText]:
    """What a stream following the job sends: texts added whenever the done prefix grows."""
    texts = ChunkTexts(plan)
    done: set[int] = set()
    for idx in finish_order:
        done.add(idx)
        ready = done_prefix(
            [ChunkStatus.DONE if i in done else ChunkStatus.PENDING for i in range(len(plan))]
        )
        texts.extend(plan[len(texts.texts) : ready])
    return texts.texts


@settings(max_examples=60, deadline=None)
@given(words=timeline(), data=st.data())
def test_chunk_texts_as_chunks_finish_join_to_the_merged_transcript(
    words: list[Word], data: st.DataObject
) -> None:
    plan = _chunks(words, data)
    followed = _texts_as_polled(plan, data.draw(st.permutations(range(len(plan)))))
    late = ChunkTexts(plan)  # a client connecting after the last chunk finished
    late.extend(plan)
    assert followed == late.texts
    merged = merge_chunks(
        [
            ChunkTranscript(c.start, c.end, Transcript.model_validate(c.transcript).segments)
            for c in plan
        ]
    )
    expected = normalise_segments(merged, plan[-1].end)  # as build_transcript does
    assert [s for t in followed for s in t.segments] == expected
    assert " ".join(t.text for t in followed if t.text) == join_text(expected)
    assert [t.chunk for t in followed] == list(range(len(plan)))


@st.composite
def histories(draw: st.DrawFn) -> list[Job]:
    """A job's states as polled: stages and finished chunk prefixes only grow; it ends."""
    total = draw(st.integers(0, 6))
    later = [s.value for s in LATER_STAGES if s is not JobStage.MERGING or total]
    later = [s for s in later if draw(st.booleans()) or s == "saving"]
    steps: list[tuple[list[str], int]] = [([], 0), (["transcribing"], 0)]
    for done in range(1, total + 1):
        steps.append((["transcribing"], done))
    for n in range(1, len(later) + 1):
        steps.append((["transcribing", *later[:n]], total))
    keep = draw(st.lists(st.booleans(), min_size=len(steps), max_size=len(steps)))
    polled = [s for s, k in zip(steps, keep, strict=True) if k]
    end = draw(st.sampled_from([JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED]))
    cut = len(polled) if end is JobStatus.SUCCEEDED else draw(st.integers(0, len(polled)))
    jobs = [_job(JobStatus.LEASED, stages, total, done) for stages, done in polled[:cut]]
    stages, done = polled[cut - 1] if cut else ([], 0)
    return [*jobs, _job(end, stages, total, done)]


def _texts(job: Job) -> list[JobChunkText]:
    return [
        JobChunkText(chunk=k, start=k, end=k + 1, text=f"c{k}", segments=[])
        for k in range(job.chunks_done)
    ]


def _follow(cursor: EventCursor, jobs: list[Job]) -> list[JobEvent]:
    return [e for job in jobs for e in cursor.advance(job, _texts(job))]


@settings(max_examples=200, deadline=None)
@given(jobs=histories(), data=st.data())
def test_a_reconnecting_client_gets_every_event_once_in_order(
    jobs: list[Job], data: st.DataObject
) -> None:
    whole = [e for e in _follow(EventCursor(), jobs) if e.event != "job"]
    ids = [e.id for e in whole]
    assert ids == sorted(set(ids)) and whole[-1].event == "done"
    assert [e.event for e in whole].count("chunk") == jobs[-1].chunks_done
    # disconnect after any poll and reconnect, with the last id seen, at that or a later poll
    t = data.draw(st.integers(0, len(jobs)))
    before = _follow(EventCursor(), jobs[:t])
    last = before[-1].id if before else 0
    after = _follow(EventCursor(last), jobs[data.draw(st.integers(max(t - 1, 0), len(jobs) - 1)) :])
    seen = [e for e in before + after if e.event != "job"]
    assert seen == whole
