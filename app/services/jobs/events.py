"""Live progress of a job (``GET /v1/audio/jobs/{id}/events``), derived from durable state only.

API replicas and workers share nothing but the database, so the stream polls it: the job row
(status, progress, the stages it entered) and the job's chunks. Every event the stream can send
is a function of that state, and so is its id; a client that reconnects with ``Last-Event-ID``
gets exactly the events after that id.

Event ids: one integer sequence per job, where ``N`` is the job's ``chunks_total`` (0 until the
job is planned; 1 for a job transcribed whole, which has no chunk events)::

    1                stage transcribing
    2 + k            chunk k's text (k = 0 .. N-1, sent in audio order once chunks 0..k are done)
    2 + N + j        stage merging (j=0), diarization (1), vocabulary (2), emotion (3),
                     summary (4), saving (5)
    8 + N            done (the job reached succeeded, failed, cancelled or dead)

Stages a job skips leave gaps. ``job`` events (status and progress snapshots) are not part of the
sequence: they carry the id of the last sequence event before them, are coalesced while nothing
changes, and a (re)connected stream starts with a fresh one.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.services.jobs.chunking import ChunkMerger, cut_points
from app.services.transcription.multichannel import interleave
from schemas.errors import InvalidRequest
from schemas.jobs import (
    ChunkStatus,
    Job,
    JobChunk,
    JobChunkText,
    JobPublic,
    JobStage,
    JobStageEvent,
    entered_stages,
)
from schemas.transcript import Segment, SegmentNormaliser, Transcript, join_text
from workers.sdk import JobQueue

POLL_S = 0.5
KEEPALIVE_S = 15.0
RETRY_MS = 2000
LATER_STAGES = (
    JobStage.MERGING,
    JobStage.DIARIZATION,
    JobStage.VOCABULARY,
    JobStage.EMOTION,
    JobStage.SUMMARY,
    JobStage.SAVING,
)


@dataclass(frozen=True)
class JobEvent:
    """One Server-Sent Event: ``event`` is ``stage``, ``chunk``, ``job`` or ``done``."""

    id: int
    event: str
    data: BaseModel

    def encode(self) -> str:
        return f"id: {self.id}\nevent: {self.event}\ndata: {self.data.model_dump_json()}\n\n"


def done_id(chunks_total: int) -> int:
    """The id of ``done``, the last in the job's sequence."""
    return 2 + chunks_total + len(LATER_STAGES)


def resume_after(last_event_id: str | None) -> int:
    """The cursor for a client's ``Last-Event-ID`` (0, the start, when it has none)."""
    if last_event_id is None or not last_event_id.strip():
        return 0
    try:
        cursor = int(last_event_id.strip())
    except ValueError:
        cursor = -1
    if cursor < 0:
        raise InvalidRequest(
            "Last-Event-ID must be an event id this stream sent (a non-negative integer)",
            param="Last-Event-ID",
        )
    return cursor


def sequence(job: Job, texts: Sequence[JobChunkText]) -> list[JobEvent]:
    """Every sequence event ``job``'s state implies so far, ids ascending (module docstring);
    ``texts`` are the :class:`ChunkTexts` of its done chunks so far."""
    stages = set(entered_stages(job))
    events: list[JobEvent] = []
    if JobStage.TRANSCRIBING.value in stages:
        events.append(JobEvent(1, "stage", JobStageEvent(stage=JobStage.TRANSCRIBING)))
    events += [JobEvent(2 + text.chunk, "chunk", text) for text in texts]
    base = 2 + job.chunks_total
    events += [
        JobEvent(base + j, "stage", JobStageEvent(stage=stage))
        for j, stage in enumerate(LATER_STAGES)
        if stage.value in stages
    ]
    if job.status.terminal:
        events.append(JobEvent(done_id(job.chunks_total), "done", JobPublic.of(job)))
    return events


def done_prefix(statuses: Sequence[ChunkStatus]) -> int:
    """How many chunks, from the first on, are done (their text can be sent)."""
    count = 0
    while count < len(statuses) and statuses[count] is ChunkStatus.DONE:
        count += 1
    return count


class ChunkTexts:
    """A job's chunk texts, extended as the prefix of done chunks grows.

    Each chunk is merged (:class:`~app.services.jobs.chunking.ChunkMerger`) and normalised
    (:class:`~schemas.transcript.SegmentNormaliser`) once, in audio order, exactly as the
    handler's ``merge_chunks`` and ``build_transcript`` treat the whole recording, so a text is
    final when sent and the texts joined are the merged transcript's text.

    A multichannel job's chunks (their ``metadata.channels`` says how many channels) are merged
    channel by channel, as the handler merges them, and interleaved by time.
    """

    def __init__(self, plan: Sequence[JobChunk]) -> None:
        self._spans = [(c.start, c.end) for c in plan]
        self._duration = self._spans[-1][1]  # the plan's last span ends where the recording does
        self._bounds = [0.0, *cut_points(self._spans), self._duration]
        self._mergers: list[tuple[ChunkMerger, SegmentNormaliser]] = []  # one per channel
        self._count = 0  # segments sent so far (ids continue across chunks)
        self.texts: list[JobChunkText] = []

    def _merged(self, transcript: Transcript) -> list[Segment]:
        channels = (transcript.metadata.model_extra or {}).get("channels")
        if not self._mergers:
            self._mergers = [
                (ChunkMerger(self._spans), SegmentNormaliser(self._duration))
                for _ in range(channels or 1)
            ]
        if not channels:
            merger, normaliser = self._mergers[0]
            return normaliser.add(merger.add(transcript.segments))
        parts = [
            normaliser.add(merger.add([s for s in transcript.segments if s.channel == channel]))
            for channel, (merger, normaliser) in enumerate(self._mergers)
        ]
        segments = interleave(parts, first_id=self._count)
        self._count += len(segments)
        return segments

    def extend(self, chunks: Sequence[JobChunk]) -> None:
        """Add the next chunks (done, in audio order, from chunk ``len(texts)`` on)."""
        for chunk in chunks:
            k = len(self.texts)
            if chunk.idx != k or chunk.status is not ChunkStatus.DONE:
                return  # rows gone (the media was deleted): nothing more to send
            segments = self._merged(Transcript.model_validate(chunk.transcript))
            self.texts.append(
                JobChunkText(
                    chunk=k,
                    start=round(self._bounds[k], 3),
                    end=round(self._bounds[k + 1], 3),
                    text=join_text(segments),
                    segments=segments,
                )
            )


@dataclass
class EventCursor:
    """What one client has seen: ``cursor`` is the id of the last sequence event it has (its
    ``Last-Event-ID``), ``snapshot`` the job state of the last ``job`` event sent to it."""

    cursor: int = 0
    snapshot: tuple[Any, ...] | None = None

    def advance(self, job: Job, texts: Sequence[JobChunkText]) -> list[JobEvent]:
        """The sequence events after the cursor, a ``job`` snapshot when the job changed since
        the last one, and ``done`` last."""
        events = [e for e in sequence(job, texts) if e.id > self.cursor]
        out = [e for e in events if e.event != "done"]
        if out:
            self.cursor = out[-1].id
        state = (job.status, job.progress, job.chunks_done, job.attempts, job.cancel_requested)
        if state != self.snapshot:
            self.snapshot = state
            out.append(JobEvent(self.cursor, "job", JobPublic.of(job)))
        done = [e for e in events if e.event == "done"]
        if done:
            self.cursor = done[0].id
        return out + done


@dataclass
class JobEventSource:
    """One client's stream of one job: reads the durable state, returns what is new to it.
    Each poll reads the job row and its chunk plan; chunk transcripts are read once each."""

    queue: JobQueue
    owner: str
    job_id: str
    seen: EventCursor = field(default_factory=EventCursor)
    _texts: ChunkTexts | None = None

    def poll(self) -> tuple[list[JobEvent], bool]:
        """New events, and whether the stream ends (the job is terminal, or not the owner's)."""
        chunks = self.queue.chunks
        with self.queue.db.read() as conn:
            job = self.queue.jobs.get(conn, self.job_id, self.owner)
            plan = chunks.outline(conn, self.job_id)
        if job is None:
            return [], True
        ready = done_prefix([c.status for c in plan])
        if ready and self._texts is None:
            self._texts = ChunkTexts(plan)
        if self._texts is not None and ready > len(self._texts.texts):
            with self.queue.db.read() as conn:
                new = chunks.for_job(conn, self.job_id, first=len(self._texts.texts), stop=ready)
            self._texts.extend(new)
        texts = self._texts.texts if self._texts is not None else []
        return self.seen.advance(job, texts), job.status.terminal


async def stream(
    source: JobEventSource, disconnected: Callable[[], Awaitable[bool]]
) -> AsyncIterator[str]:
    """The SSE body: ``retry:`` once, then new events every ``POLL_S`` (database reads in a
    worker thread), ``: keep-alive`` after ``KEEPALIVE_S`` of silence, until ``done``."""
    yield f"retry: {RETRY_MS}\n\n"
    idle = 0.0
    while not await disconnected():
        events, ended = await run_in_threadpool(source.poll)
        for event in events:
            yield event.encode()
        if ended:
            return
        if events:
            idle = 0.0
        elif idle >= KEEPALIVE_S:
            idle = 0.0
            yield ": keep-alive\n\n"
        await asyncio.sleep(POLL_S)
        idle += POLL_S
