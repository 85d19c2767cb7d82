"""Background transcription jobs: ``/v1/audio/jobs`` (submit, get, list, cancel, SSE events)."""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.concurrency import run_in_threadpool

from app.api.deps import GatewayDep, JobsUser
from app.api.forms import TranscriptionForm, build_options, invalid_request_from, parse_form
from app.api.openapi import AUDIO_FILE, body_schema
from app.api.v1.results import FormatDep, render_response, render_result
from app.core import tracing
from app.core.json_input import parse_json
from app.core.request_limits import UploadLimits
from app.services.jobs import events
from app.services.jobs.handler import JOB_DURATION
from app.services.jobs.media import transcript_of
from app.services.jobs.service import JobRequest, JobService
from app.services.jobs.url_ingest import UrlPolicy
from app.services.summaries.summarizer import require
from app.services.transcription.audio import check_channels, check_container, check_duration
from app.services.transcription.formats import RenderOptions
from app.services.transcription.upload import UploadedFile, receive_form
from schemas.errors import InvalidRequest
from schemas.jobs import (
    AudioSource,
    ChunkConfig,
    Job,
    JobList,
    JobPublic,
    JobStatus,
    Pool,
    TranscriptionPayload,
)
from schemas.options import Task
from schemas.webhooks import WebhookSpec

router = APIRouter(tags=["jobs"])


class JobFields(BaseModel):
    """Job-only fields, next to the OpenAI transcription fields in the same form/JSON body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = Field(None, max_length=2048)
    task: Task = Task.TRANSCRIBE
    priority: int = Field(0, ge=-100, le=100)
    pool: Pool = Pool.ANY
    split: bool = True
    chunk_seconds: float | None = Field(None, ge=10.0, le=3600.0)
    chunk_overlap_seconds: float | None = Field(None, ge=0.0, le=10.0)
    force: bool = False
    max_attempts: int | None = Field(None, ge=1, le=20)
    callback_url: str | None = Field(None, max_length=2048)  # Docs/Webhooks.md
    callback_include_transcript: bool = False
    summarize: bool = False  # a meeting summary (Docs/Transcript_Intelligence.md)


def _service(gateway: GatewayDep) -> JobService:
    return gateway.jobs.service


def _split_fields(fields: dict[str, list[str]]) -> tuple[JobFields, dict[str, list[str]]]:
    own = {k: v[-1] for k, v in fields.items() if k in JobFields.model_fields and v and v[-1]}
    rest = {k: v for k, v in fields.items() if k not in JobFields.model_fields}
    try:
        return JobFields.model_validate(own), rest
    except ValidationError as exc:
        raise invalid_request_from(exc) from None


def _build_request(
    gateway: GatewayDep, fields: dict[str, list[str]], source: AudioSource, actor: str
) -> JobRequest:
    job, rest = _split_fields(fields)
    rest.setdefault("model", ["whisper-1"])
    form = parse_form(rest)
    if form.stream:
        raise InvalidRequest("jobs do not stream; follow /events instead", param="stream")
    options = build_options(form, job.task, gateway.settings)
    gateway.pipeline.check(options)  # e.g. diarization asked but not available here
    gateway.registry.resolve(form.model, job.task)  # unknown models fail now, not in a worker
    if job.summarize:
        require(gateway.summarizer, "summarize")  # 400 where no chat endpoint is configured
    payload = TranscriptionPayload(
        source=source,
        model=form.model,
        options=options,
        response_format=form.response_format,
        granularities=form.timestamp_granularities,
        chunking=ChunkConfig(
            enabled=job.split,
            chunk_seconds=job.chunk_seconds,
            overlap_seconds=job.chunk_overlap_seconds,
        ),
        force=job.force,
        summarize=job.summarize,
        webhook=(
            WebhookSpec(url=job.callback_url, include_transcript=job.callback_include_transcript)
            if job.callback_url
            else None
        ),
        audit={"actor": actor, **tracing.inject_carrier()},  # W3C traceparent when tracing
    )
    return JobRequest(payload, job.pool, job.priority, job.max_attempts)


def _json_fields(body: Any) -> dict[str, list[str]]:
    if not isinstance(body, dict):
        raise InvalidRequest("the JSON body must be an object")
    fields: dict[str, list[str]] = {}
    for key, value in body.items():
        values = value if isinstance(value, list) else [value]
        fields[key] = [
            json.dumps(v)
            if isinstance(v, dict)
            else str(v).lower()
            if isinstance(v, bool)
            else ""
            if v is None
            else str(v)
            for v in values
        ]
    return fields


async def _submit_url(gateway: GatewayDep, fields: dict[str, list[str]], actor: str) -> JobRequest:
    url = (fields.get("url") or [""])[-1]
    if not url:
        raise InvalidRequest(
            "provide an audio 'file' (multipart) or a 'url'",
            param="url",
            code="missing_required_parameter",
        )
    request = _build_request(gateway, fields, AudioSource(kind="url", url=url), actor)
    await run_in_threadpool(UrlPolicy.from_settings(gateway.settings).check, url)
    return request


async def _submit_upload(
    gateway: GatewayDep,
    fields: dict[str, list[str]],
    file: UploadedFile,
    owner: str,
    idempotency_key: str | None,
) -> tuple[Job, bool]:
    """Validate everything first; the audio is stored and its job enqueued in one call, which
    removes the stored file again if the job is not created (see ``submit_upload``)."""
    placeholder = AudioSource(kind="upload", filename=file.filename)
    job_request = _build_request(gateway, fields, placeholder, owner)
    await run_in_threadpool(check_container, file.path)  # empty 400, not audio 415
    limit = gateway.settings.job_max_audio_duration_s
    await run_in_threadpool(
        partial(check_duration, file.path, max_duration_s=limit, setting=JOB_DURATION)
    )
    if job_request.payload.options.multichannel:  # mono: 400 now (a URL's, when fetched)
        channels = gateway.settings.max_audio_channels
        await run_in_threadpool(partial(check_channels, file.path, max_channels=channels))
    return await run_in_threadpool(
        _service(gateway).submit_upload, owner, job_request, file.path, idempotency_key
    )


def _job_body(name: str, description: str, required: str, add: dict[str, Any]) -> dict[str, str]:
    """OpenAI's transcription fields (but ``stream``: jobs do not stream) and the job fields;
    ``model`` defaults to whisper-1."""
    return body_schema(
        name,
        TranscriptionForm,
        JobFields,
        description=description,
        required=(required,),
        drop=("stream",),
        add=add,
    )


_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": _job_body(
                    "JobUploadRequest",
                    "An upload job: the audio file and the transcription and job fields (a form "
                    "without a file needs a 'url' instead).",
                    "file",
                    {"file": AUDIO_FILE},
                )
            },
            "application/json": {
                "schema": _job_body(
                    "JobUrlRequest",
                    "A URL job: the gateway downloads 'url' (http or https, from a public host "
                    "or one in STT_URL_ALLOWLIST).",
                    "url",
                    {"url": {"type": "string", "format": "uri", "maxLength": 2048}},
                )
            },
        },
    }
}


@router.post(
    "/audio/jobs",
    status_code=202,
    response_model=JobPublic,
    responses={200: {"model": JobPublic, "description": "The job a replayed key already names"}},
    openapi_extra=_BODY,
    summary="Submit a background transcription job (upload or URL)",
)
async def create_job(
    request: Request,
    gateway: GatewayDep,
    principal: JobsUser,
    # An empty key is refused (400) rather than read as "no key": the client meant to make the
    # request retry-safe, and silently dropping that would duplicate jobs on its retries.
    idempotency_key: Annotated[str | None, Header(min_length=1, max_length=200)] = None,
) -> JSONResponse:
    service = _service(gateway)
    owner = principal.user_id
    replayed = await run_in_threadpool(service.admit, owner, idempotency_key)
    if replayed is not None:  # the body is not read: a replayed upload is not stored again
        return _accepted(replayed, created=False)
    if request.headers.get("content-type", "").startswith("application/json"):
        raw = await request.body()  # bounded while it arrives (app.core.request_limits)
        fields = _json_fields(parse_json(raw, what="the body"))
        job_request = await _submit_url(gateway, fields, owner)
    else:
        settings = gateway.settings
        async with receive_form(
            request, tmp_dir=settings.tmp_dir, limits=UploadLimits.jobs(settings)
        ) as upload:
            if upload.file is not None:
                job, created = await _submit_upload(
                    gateway, upload.fields, upload.file, owner, idempotency_key
                )
                return _accepted(job, created=created)
            job_request = await _submit_url(gateway, upload.fields, owner)
    job, created = await run_in_threadpool(service.submit, owner, job_request, idempotency_key)
    return _accepted(job, created=created)


def _accepted(job: Job, *, created: bool) -> JSONResponse:
    """202 for a new job, 200 for the job a replayed ``Idempotency-Key`` names."""
    return JSONResponse(
        JobPublic.of(job).model_dump(mode="json"), status_code=202 if created else 200
    )


@router.get("/audio/jobs", response_model=JobList, summary="List your jobs, newest first")
async def list_jobs(
    gateway: GatewayDep,
    principal: JobsUser,
    status: Annotated[list[JobStatus] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> JobList:
    jobs = await run_in_threadpool(
        _service(gateway).list_jobs,
        principal.user_id,
        statuses=status or (),
        limit=limit + 1,
        before=after,
    )
    page = jobs[:limit]
    return JobList(
        data=[JobPublic.of(j) for j in page],
        has_more=len(jobs) > limit,
        last_id=page[-1].id if page else None,
    )


@router.get("/audio/jobs/{job_id}", response_model=JobPublic, summary="A job and its result")
async def get_job(
    job_id: str, gateway: GatewayDep, principal: JobsUser, query: FormatDep
) -> JobPublic:
    service = _service(gateway)
    job = await run_in_threadpool(service.get, principal.user_id, job_id)
    result = None
    media = await run_in_threadpool(service.result_of, principal.user_id, job)
    if media is not None:  # succeeded, and its media not deleted
        fmt, granularities = query.choose(job)
        options = RenderOptions.of(gateway.settings, granularities)
        result = render_result(transcript_of(media), fmt, options, media.summary)
    webhook = await run_in_threadpool(service.webhook_of, principal.user_id, job.id)
    return JobPublic.of(job, result, webhook)


@router.get("/audio/jobs/{job_id}/result", summary="A finished job's transcript, as a file")
async def get_job_result(
    job_id: str, gateway: GatewayDep, principal: JobsUser, query: FormatDep
) -> Response:
    service = _service(gateway)
    job = await run_in_threadpool(service.get, principal.user_id, job_id)
    media = await run_in_threadpool(service.result_media, principal.user_id, job)
    fmt, granularities = query.choose(job)
    options = RenderOptions.of(gateway.settings, granularities)
    return render_response(transcript_of(media), fmt, options, media.summary)


@router.post("/audio/jobs/{job_id}/cancel", response_model=JobPublic, summary="Cancel a job")
async def cancel_job(job_id: str, gateway: GatewayDep, principal: JobsUser) -> JobPublic:
    user = principal.user_id
    job = await run_in_threadpool(_service(gateway).cancel, user, job_id, user)
    return JobPublic.of(job)


_EVENTS_DOC = {
    "responses": {
        200: {
            "description": "Server-Sent Events (see Docs/Jobs.md): `job` status/progress "
            "snapshots, `stage`, `chunk` texts in audio order, then `done`; every event has an "
            "`id` to resume after with `Last-Event-ID`.",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        }
    }
}


@router.get(
    "/audio/jobs/{job_id}/events",
    response_class=StreamingResponse,
    openapi_extra=_EVENTS_DOC,
    summary="Server-Sent Events: status, progress, chunk texts and stages of a job",
)
async def job_events(
    job_id: str,
    request: Request,
    gateway: GatewayDep,
    principal: JobsUser,
    last_event_id: Annotated[str | None, Header()] = None,
    last_event_id_query: Annotated[
        str | None,
        Query(
            alias="last_event_id",
            description="Resume after this event id, for clients that cannot set the "
            "Last-Event-ID header (the header wins when both are sent)",
        ),
    ] = None,
) -> StreamingResponse:
    service = _service(gateway)
    first = await run_in_threadpool(service.get, principal.user_id, job_id)  # 404 up front
    cursor = events.resume_after(last_event_id or last_event_id_query)
    seen = events.EventCursor(cursor)
    source = events.JobEventSource(service.queue, principal.user_id, first.id, seen)
    return StreamingResponse(
        events.stream(source, request.is_disconnected),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
