"""Transcripts as HTTP responses in any OpenAI response format (REST, jobs and media)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Response
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
    transcript: Transcript,
    fmt: ResponseFormat,
    granularities: frozenset[Granularity] = frozenset(),
    *,
    include_logprobs: bool = False,
) -> Response:
    body = render(
        transcript,
        fmt,
        granularities=granularities,
        task=transcript.metadata.task,
        include_logprobs=include_logprobs,
    )
    if isinstance(body, str):
        return PlainTextResponse(body, media_type=MEDIA_TYPES[fmt])
    return JSONResponse(body)


@dataclass
class FormatQuery:
    """``?response_format=`` and ``?timestamp_granularities[]=`` overrides of a stored result."""

    response_format: ResponseFormat | None = None
    granularities: Annotated[list[Granularity] | None, Query(alias="timestamp_granularities[]")] = (
        None
    )

    def choose(
        self, fmt: ResponseFormat, granularities: frozenset[Granularity]
    ) -> tuple[ResponseFormat, frozenset[Granularity]]:
        return self.response_format or fmt, (
            frozenset(self.granularities) if self.granularities else granularities
        )


FormatDep = Annotated[FormatQuery, Depends()]
