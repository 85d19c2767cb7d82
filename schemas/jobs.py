"""Background jobs: states, pools, payloads and the records the queue hands out.

Job state machine (every arrow is one guarded UPDATE in ``app.db.jobs_repo``)::

    queued ──lease──────────────▶ leased ──complete──────────▶ succeeded
      │  ▲                          │ ├──fail (fatal)─────────▶ failed
      │  └─fail (retriable, backoff)┤ ├──fail (attempts spent)─▶ dead
      │  └─release / lease expired──┘ └──cancel acknowledged───▶ cancelled
      └──cancel──────────────────────────────────────────────▶ cancelled

``succeeded``, ``failed``, ``cancelled`` and ``dead`` are terminal. A lease that expires while
its job is flagged for cancellation ends in ``cancelled``; one that expires on the last attempt
ends in ``dead``.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from schemas.options import Granularity, ResponseFormat, TranscriptionOptions
from schemas.transcript import Segment
from schemas.webhooks import WebhookPublic, WebhookSpec


class JobStatus(str, Enum):
    QUEUED = "queued"
    LEASED = "leased"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    DEAD = "dead"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.DEAD})
#: jobs that still hold a slot of the owner's cap and may still read their stored audio
ACTIVE = (JobStatus.QUEUED, JobStatus.LEASED)

TRANSITIONS: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset({JobStatus.LEASED, JobStatus.CANCELLED}),
    JobStatus.LEASED: frozenset(
        {
            JobStatus.SUCCEEDED,
            JobStatus.FAILED,
            JobStatus.DEAD,
            JobStatus.QUEUED,
            JobStatus.CANCELLED,
        }
    ),
    JobStatus.SUCCEEDED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.CANCELLED: frozenset(),
    JobStatus.DEAD: frozenset(),
}


def sources_of(target: JobStatus) -> tuple[JobStatus, ...]:
    """The states from which ``target`` may be reached (the ``status IN (...)`` guard)."""
    return tuple(s for s, targets in TRANSITIONS.items() if target in targets)


class Pool(str, Enum):
    GPU = "gpu"
    CPU = "cpu"
    ANY = "any"


def pools_served_by(worker_pool: Pool) -> tuple[Pool, ...]:
    """Which job pools a worker of ``worker_pool`` takes: its own and ``any``."""
    if worker_pool is Pool.ANY:
        return (Pool.GPU, Pool.CPU, Pool.ANY)
    return (worker_pool, Pool.ANY)


class ChunkStatus(str, Enum):
    PENDING = "pending"
    LEASED = "leased"
    DONE = "done"


class JobError(BaseModel):
    model_config = ConfigDict(frozen=True)

    message: str
    code: str
    retriable: bool


class Job(BaseModel):
    """One row of the jobs table."""

    model_config = ConfigDict(frozen=True)

    id: str
    owner: str
    kind: str
    status: JobStatus
    pool: Pool
    priority: int
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    available_at: datetime
    lease_id: str | None = None
    worker_id: str | None = None
    leased_until: datetime | None = None
    idempotency_key: str | None = None
    result: dict[str, Any] | None = None
    media_id: str | None = None
    error: JobError | None = None
    cancel_requested: bool = False
    progress: float = 0.0
    chunks_done: int = 0
    chunks_total: int = 0
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None


class NewJob(BaseModel):
    """What a producer enqueues."""

    model_config = ConfigDict(frozen=True)

    owner: str = Field(min_length=1, max_length=200)
    kind: str = Field("transcription", min_length=1, max_length=40)
    payload: dict[str, Any]
    pool: Pool = Pool.ANY
    priority: int = Field(0, ge=-100, le=100)
    max_attempts: int = Field(3, ge=1, le=100)
    idempotency_key: str | None = Field(None, min_length=1, max_length=200)
    delay_s: float = Field(0.0, ge=0.0)
    audio_ref: str | None = Field(None, max_length=200)  # stored audio the job will read


class Lease(BaseModel):
    """A worker's claim on a job. ``lease_id`` is the completion token: it fences every write."""

    model_config = ConfigDict(frozen=True)

    job: Job
    worker_id: str
    lease_id: str

    @property
    def job_id(self) -> str:
        return self.job.id


class JobChunk(BaseModel):
    """One slice of a long recording, transcribed on its own and merged afterwards."""

    model_config = ConfigDict(frozen=True)

    job_id: str
    idx: int
    start: float
    end: float
    status: ChunkStatus
    transcript: dict[str, Any] | None = None
    worker_id: str | None = None
    lease_id: str | None = None
    leased_until: datetime | None = None


# -- transcription job payload ------------------------------------------------------------


class ChunkConfig(BaseModel):
    """How a long recording is split. ``None`` fields take the deployment's defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = True
    chunk_seconds: float | None = Field(None, ge=10.0, le=3600.0)
    overlap_seconds: float | None = Field(None, ge=0.0, le=10.0)


class AudioSource(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["upload", "url"]
    url: str | None = None
    filename: str | None = None
    audio_ref: str | None = None  # set once the audio is in the audio store
    content_hash: str | None = None


class TranscriptionPayload(BaseModel):
    """The payload of a ``transcription`` job, validated when enqueued and when leased."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: AudioSource
    model: str
    options: TranscriptionOptions
    response_format: ResponseFormat = ResponseFormat.JSON
    granularities: frozenset[Granularity] = frozenset()
    chunking: ChunkConfig = Field(default_factory=ChunkConfig)
    force: bool = False
    summarize: bool = False  # a meeting summary (STT_SUMMARY_API_BASE) stored with the transcript
    audit: dict[str, str] = Field(default_factory=dict)
    webhook: WebhookSpec | None = None  # callback_url: an event at the terminal state


class JobProgress(BaseModel):
    fraction: float
    chunks_done: int
    chunks_total: int


class JobPublic(BaseModel):
    """A job as its owner sees it over the API."""

    id: str
    object: Literal["audio.job"] = "audio.job"
    status: JobStatus
    kind: str
    pool: Pool
    priority: int
    model: str | None = None
    source: dict[str, Any] | None = None
    progress: JobProgress
    attempts: int
    max_attempts: int
    cancel_requested: bool
    error: JobError | None = None
    media_id: str | None = None
    idempotency_key: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    available_at: datetime
    result: Any = None
    webhook: WebhookPublic | None = None  # the latest event's delivery (GET one job only)

    @classmethod
    def of(cls, job: Job, result: Any = None, webhook: WebhookPublic | None = None) -> JobPublic:
        source = job.payload.get("source")
        return cls(
            id=job.id,
            status=job.status,
            kind=job.kind,
            pool=job.pool,
            priority=job.priority,
            model=job.payload.get("model"),
            source=(
                {k: source.get(k) for k in ("kind", "url", "filename")}
                if isinstance(source, dict)
                else None
            ),
            progress=JobProgress(
                fraction=job.progress, chunks_done=job.chunks_done, chunks_total=job.chunks_total
            ),
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            cancel_requested=job.cancel_requested,
            error=job.error,
            media_id=job.media_id,
            idempotency_key=job.idempotency_key,
            created_at=job.created_at,
            started_at=job.started_at,
            finished_at=job.finished_at,
            available_at=job.available_at,
            result=result,
            webhook=webhook,
        )


class JobList(BaseModel):
    object: Literal["list"] = "list"
    data: list[JobPublic]
    has_more: bool
    last_id: str | None = None


# -- live progress (``GET /v1/audio/jobs/{id}/events``) -----------------------------------


class JobStage(str, Enum):
    """The steps of a transcription job, in the order a job enters them (a job skips those it
    does not need: ``merging`` without chunks, ``diarization`` and ``emotion`` unless asked,
    ``vocabulary`` unless one applies, ``summary`` unless asked). Entered stages are recorded in
    the job row so the event stream, in any API replica, can replay them."""

    TRANSCRIBING = "transcribing"
    MERGING = "merging"
    DIARIZATION = "diarization"
    VOCABULARY = "vocabulary"
    EMOTION = "emotion"
    SUMMARY = "summary"
    SAVING = "saving"


class JobChunkText(BaseModel):
    """``event: chunk``: the final text of one finished chunk, merged with its neighbours as
    the transcript will be (before diarization and vocabulary). Chunk events arrive in audio
    order; their ``text`` joined with spaces is the merged transcript's text."""

    chunk: int = Field(description="The chunk's index in audio order (0-based)")
    start: float = Field(description="Where this chunk's part of the recording starts (s)")
    end: float = Field(description="Where it ends (s): the cut to the next chunk")
    text: str
    segments: list[Segment]


class JobStageEvent(BaseModel):
    """``event: stage``: the job entered ``stage`` (any earlier stage has finished)."""

    stage: JobStage


STAGES_KEY = "stages"
"""Where a job row records the stages it entered: ``result["stages"]`` (a running job has no
other result; the completion keeps the list)."""


def entered_stages(job: Job) -> list[str]:
    """The stages ``job`` has entered so far, in the order it entered them."""
    stages = (job.result or {}).get(STAGES_KEY)
    return [s for s in stages if isinstance(s, str)] if isinstance(stages, list) else []
