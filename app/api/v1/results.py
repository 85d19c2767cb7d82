"""Transcripts as HTTP responses in any OpenAI response format (REST, jobs and media)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from app.services.transcription.formats import FORMATS, RenderOptions, render
from schemas.jobs import Job, TranscriptionPayload
from schemas.options import Granularity, ResponseFormat
from schemas.transcript import Transcript


def render_response(
    transcript: Transcript, fmt: ResponseFormat, options: RenderOptions
) -> Response:
    body = render(transcript, fmt, options)
    if isinstance(body, str):
        return PlainTextResponse(body, media_type=FORMATS[fmt].media_type)
    return JSONResponse(body)


@dataclass
class FormatQuery:
    """``?response_format=`` and ``?timestamp_granularities[]=`` overrides of a stored result."""

    response_format: ResponseFormat | None = None
    granularities: Annotated[list[Granularity] | None, Query(alias="timestamp_granularities[]")] = (
        None
    )

    def choose(self, job: Job) -> tuple[ResponseFormat, frozenset[Granularity]]:
        """These overrides, else the format and granularities ``job`` was submitted with."""
        payload = TranscriptionPayload.model_validate(job.payload)
        return self.response_format or payload.response_format, (
            frozenset(self.granularities) if self.granularities else payload.granularities
        )


FormatDep = Annotated[FormatQuery, Depends()]
