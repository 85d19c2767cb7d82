"""The Media DB over HTTP: ``/v1/media`` (list), ``/v1/media/{id}`` (read, delete), its
transcript, its summary (made again on demand) and audit events."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from app.api.deps import GatewayDep, JobsUser
from app.api.v1.jobs import _service
from app.api.v1.results import render_response
from app.services.jobs.media import transcript_of
from app.services.summaries.summarizer import mark_failure, require
from app.services.transcription.formats import RenderOptions
from schemas.errors import ErrorEnvelope
from schemas.media import AuditEvent, Media
from schemas.options import Granularity, ResponseFormat
from schemas.summary import Summary

router = APIRouter(tags=["media"])


class MediaList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Media]
    has_more: bool
    last_id: str | None = None


class MediaDeleted(BaseModel):
    id: str
    object: Literal["media.deleted"] = "media.deleted"
    deleted: bool = True


class AuditEventList(BaseModel):
    object: Literal["list"] = "list"
    data: list[AuditEvent]


@router.get("/media", response_model=MediaList, summary="List your media, newest first")
async def list_media(
    gateway: GatewayDep,
    principal: JobsUser,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(max_length=64)] = None,
) -> MediaList:
    rows = await run_in_threadpool(
        _service(gateway).list_media, principal.user_id, limit=limit + 1, before=after
    )
    page = rows[:limit]
    return MediaList(data=page, has_more=len(rows) > limit, last_id=page[-1].id if page else None)


@router.get("/media/{media_id}", response_model=Media, summary="A media item and its analysis")
async def get_media(media_id: str, gateway: GatewayDep, principal: JobsUser) -> Media:
    return await run_in_threadpool(_service(gateway).get_media, principal.user_id, media_id)


@router.delete(
    "/media/{media_id}",
    response_model=MediaDeleted,
    summary="Delete a media item, its transcript chunks and its stored audio",
)
async def delete_media(media_id: str, gateway: GatewayDep, principal: JobsUser) -> MediaDeleted:
    user = principal.user_id
    media = await run_in_threadpool(_service(gateway).delete_media, user, media_id, user)
    return MediaDeleted(id=media.id)


@router.get("/media/{media_id}/transcript", summary="The transcript in an OpenAI format")
async def get_media_transcript(
    media_id: str,
    gateway: GatewayDep,
    principal: JobsUser,
    fmt: Annotated[ResponseFormat, Query(alias="format")] = ResponseFormat.JSON,
    granularities: Annotated[
        list[Granularity] | None, Query(alias="timestamp_granularities[]")
    ] = None,
) -> Response:
    media = await run_in_threadpool(_service(gateway).get_media, principal.user_id, media_id)
    options = RenderOptions.of(gateway.settings, frozenset(granularities or ()))
    return render_response(transcript_of(media), fmt, options, media.summary)


_SUMMARY_ERRORS: dict[int | str, dict[str, object]] = {
    502: {
        "model": ErrorEnvelope,
        "description": "The summary endpoint (STT_SUMMARY_API_BASE) failed after its retries",
    }
}


@router.post(
    "/media/{media_id}/summary",
    response_model=Summary,
    responses=_SUMMARY_ERRORS,
    summary="Make (again) the meeting summary of a stored transcript",
)
async def make_summary(media_id: str, gateway: GatewayDep, principal: JobsUser) -> Summary:
    """Summarise the stored transcript now and store the summary (replacing one made before).
    400 where summaries are not configured, 502 when the chat endpoint fails."""
    user = principal.user_id
    service = _service(gateway)
    media = await run_in_threadpool(service.get_media, user, media_id)  # 404 if not yours
    summarizer = require(gateway.summarizer)
    transcript = transcript_of(media)
    summary = await run_in_threadpool(summarizer.summarize, transcript)
    transcript = mark_failure(transcript, None)  # an earlier job's failure no longer applies
    await run_in_threadpool(service.save_summary, user, media.id, transcript, summary, user)
    return summary


@router.get(
    "/media/{media_id}/events",
    response_model=AuditEventList,
    summary="Audit events of a media item",
)
async def get_media_events(
    media_id: str, gateway: GatewayDep, principal: JobsUser
) -> AuditEventList:
    service = _service(gateway)
    await run_in_threadpool(service.get_media, principal.user_id, media_id)  # 404 if not yours
    events = await run_in_threadpool(service.media_events, principal.user_id, media_id)
    return AuditEventList(data=events)
