"""Render the canonical transcript into OpenAI's response formats.

:data:`FORMATS` is the one table of response formats: each row says how the format renders and
the media type it is served as (the response's ``Content-Type`` and its content type in the
OpenAPI schema). Adding a format is a :class:`~schemas.options.ResponseFormat` value plus a row.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from app.core.config import Settings
from app.services.transcription.captions import CaptionRules, Cue, cues
from app.services.transcription.roles import role_lines
from schemas.errors import CapabilityNotSupported
from schemas.languages import language_name
from schemas.options import Granularity, ResponseFormat
from schemas.transcript import Segment, Transcript

DEFAULT_CAPTIONS = CaptionRules()


def timestamp(seconds: float, separator: str) -> str:
    """``HH:MM:SS{sep}mmm`` as SRT (``,``) and WebVTT (``.``) want it."""
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def duration_usage(seconds: float) -> dict[str, Any]:
    """OpenAI's usage object for audio models billed by duration (whole seconds, rounded up)."""
    return {"type": "duration", "seconds": math.ceil(seconds)}


def openai_usage(transcript: Transcript) -> dict[str, Any]:
    return duration_usage(transcript.duration)


def render_srt(transcript: Transcript, rules: CaptionRules = DEFAULT_CAPTIONS) -> str:
    blocks = [
        f"{i}\n{timestamp(c.start, ',')} --> {timestamp(c.end, ',')}\n" + "\n".join(c.lines) + "\n"
        for i, c in enumerate(cues(transcript, rules), start=1)
    ]
    return "\n".join(blocks)


def _voice(cue: Cue) -> str:
    text = "\n".join(cue.lines)
    return f"<v {cue.speaker}>{text}" if cue.speaker else text


def render_vtt(transcript: Transcript, rules: CaptionRules = DEFAULT_CAPTIONS) -> str:
    blocks = [
        f"{timestamp(c.start, '.')} --> {timestamp(c.end, '.')}\n{_voice(c)}\n"
        for c in cues(transcript, rules, speaker_prefix=False)
    ]
    return "WEBVTT\n\n" + "\n".join(blocks)


def _logprobs(transcript: Transcript) -> list[dict[str, Any]]:
    return [
        {
            "token": w.word,
            "logprob": math.log(max(w.probability, 1e-12)),
            "bytes": list(w.word.encode("utf-8")),
        }
        for s in transcript.segments
        for w in s.words or ()
    ]


def _emotion(segment: Segment) -> dict[str, Any]:
    """A segment's ``emotion`` (a gateway extension) when the request asked for one."""
    return {"emotion": segment.emotion.model_dump()} if segment.emotion else {}


def render_json(transcript: Transcript, *, include_logprobs: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "text": transcript.text,
        "usage": openai_usage(transcript),
        "metadata": transcript.metadata.model_dump(),
    }
    if include_logprobs:
        body["logprobs"] = _logprobs(transcript)
    return body


def render_verbose_json(
    transcript: Transcript, granularities: frozenset[Granularity]
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": transcript.metadata.task,
        "language": language_name(transcript.language),
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
    }
    if Granularity.SEGMENT in granularities or not granularities:
        body["segments"] = [
            {
                "id": s.id,
                "seek": s.seek,
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": s.text,
                "tokens": s.tokens or [],
                "temperature": s.temperature or 0.0,
                "avg_logprob": s.avg_logprob or 0.0,
                "compression_ratio": s.compression_ratio or 0.0,
                "no_speech_prob": s.no_speech_prob or 0.0,
            }
            | ({"speaker": s.speaker} if s.speaker else {})
            | _channel(s)
            | _emotion(s)
            for s in transcript.segments
        ]
    if Granularity.WORD in granularities:
        body["words"] = [
            {"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)}
            for s in transcript.segments
            for w in s.words or ()
        ]
    body["usage"] = openai_usage(transcript)
    body["metadata"] = transcript.metadata.model_dump()
    return body


def _channel(segment: Segment) -> dict[str, int]:
    """``{"channel": i}`` for a segment of a multichannel transcript, else nothing."""
    return {} if segment.channel is None else {"channel": segment.channel}


def render_text(transcript: Transcript) -> str:
    """The text, or with ``speaker_roles`` one ``role: text`` line per speaker turn."""
    if transcript.diarization.roles is not None:
        return role_lines(transcript)
    return transcript.text + "\n"


def render_diarized_json(transcript: Transcript) -> dict[str, Any]:
    if not transcript.diarization.enabled:
        raise CapabilityNotSupported(
            "response_format 'diarized_json' needs diarization, which is not enabled for this "
            "request",
            param="response_format",
        )
    return {
        "task": "transcribe",
        "duration": round(transcript.duration, 3),
        "text": transcript.text,
        "segments": [
            {
                "type": "transcript.text.segment",
                "id": f"seg_{s.id}",
                "start": round(s.start, 3),
                "end": round(s.end, 3),
                "text": s.text,
                "speaker": s.speaker or "unknown",
            }
            | _channel(s)
            | _emotion(s)
            for s in transcript.segments
        ],
        "usage": openai_usage(transcript),
    }


JSON_MEDIA_TYPE = "application/json"


@dataclass(frozen=True)
class RenderOptions:
    """How to render: OpenAI's ``timestamp_granularities[]`` and ``include[]=logprobs``, and
    the deployment's caption rules (SRT, WebVTT)."""

    granularities: frozenset[Granularity] = frozenset()
    include_logprobs: bool = False
    captions: CaptionRules = DEFAULT_CAPTIONS

    @classmethod
    def of(
        cls,
        settings: Settings,
        granularities: frozenset[Granularity] = frozenset(),
        *,
        include_logprobs: bool = False,
    ) -> RenderOptions:
        return cls(granularities, include_logprobs, CaptionRules.from_settings(settings))


Renderer = Callable[[Transcript, RenderOptions], str | dict[str, Any]]
"""``(transcript, options) -> body``: ``str`` for text formats, a ``dict`` for JSON ones."""


@dataclass(frozen=True)
class OutputFormat:
    """One response format: its renderer and the media type it is served as."""

    media_type: str
    render: Renderer

    @property
    def is_json(self) -> bool:
        return self.media_type == JSON_MEDIA_TYPE


FORMATS: dict[ResponseFormat, OutputFormat] = {
    ResponseFormat.JSON: OutputFormat(
        JSON_MEDIA_TYPE, lambda t, o: render_json(t, include_logprobs=o.include_logprobs)
    ),
    ResponseFormat.TEXT: OutputFormat("text/plain", lambda t, _o: render_text(t)),
    ResponseFormat.VTT: OutputFormat("text/vtt", lambda t, o: render_vtt(t, o.captions)),
    ResponseFormat.SRT: OutputFormat(
        "application/x-subrip", lambda t, o: render_srt(t, o.captions)
    ),
    ResponseFormat.VERBOSE_JSON: OutputFormat(
        JSON_MEDIA_TYPE, lambda t, o: render_verbose_json(t, o.granularities)
    ),
    ResponseFormat.DIARIZED_JSON: OutputFormat(
        JSON_MEDIA_TYPE, lambda t, _o: render_diarized_json(t)
    ),
}


def media_types() -> list[str]:
    """Every format's media type, once each, in table order (the OpenAPI content types)."""
    return list(dict.fromkeys(f.media_type for f in FORMATS.values()))


def render(
    transcript: Transcript, fmt: ResponseFormat, options: RenderOptions = RenderOptions()
) -> str | dict[str, Any]:
    """Text formats return ``str``; JSON formats return a ``dict``."""
    return FORMATS[fmt].render(transcript, options)
