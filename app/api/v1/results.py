"""Transcripts as HTTP responses in any OpenAI response format (REST, jobs and media)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Response
from fastapi.responses import JSONResponse, PlainTextResponse

from app.services.transcription.formats import FORMATS, RenderOptions, render
from schemas.jobs import Job, TranscriptionPayload
from schemas.options import Granularity, ResponseFormat
from schemas.summary import Summary
from schemas.transcript import Transcript


def render_result(
    transcript: Transcript,
    fmt: ResponseFormat,
    options: RenderOptions,
    summary: Summary | None = None,
) -> str | dict[str, Any]:
    """A transcript in ``fmt``; a stored one's ``json`` also carries its ``summary`` when one
    was made (Docs/Transcript_Intelligence.md)."""
    body = render(transcript, fmt, options)
    if summary is not None and fmt is ResponseFormat.JSON and isinstance(body, dict):
        body["summary"] = summary.model_dump(mode="json")
    return body


def render_response(
    transcript: Transcript,
    fmt: ResponseFormat,
    options: RenderOptions,
    summary: Summary | None = None,
) -> Response:
    body = render_result(transcript, fmt, options, summary)
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
