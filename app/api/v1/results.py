"""Stored transcripts as HTTP responses in any OpenAI response format (jobs and media)."""

from __future__ import annotations

from fastapi import Response
from fastapi.responses import JSONResponse, PlainTextResponse

from app.services.formats import render
from schemas.options import Granularity, ResponseFormat
from schemas.transcript import Transcript

MEDIA_TYPES = {
    ResponseFormat.TEXT: "text/plain",
    ResponseFormat.SRT: "application/x-subrip",
    ResponseFormat.VTT: "text/vtt",
}


def render_response(
    transcript: Transcript, fmt: ResponseFormat, granularities: frozenset[Granularity]
) -> Response:
    body = render(transcript, fmt, granularities=granularities, task=transcript.metadata.task)
    if isinstance(body, str):
        return PlainTextResponse(body, media_type=MEDIA_TYPES[fmt])
    return JSONResponse(body)
