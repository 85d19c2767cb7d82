"""OpenAI's multipart form semantics, validated into one request model.

* ``timestamp_granularities[]`` and ``timestamp_granularities`` are the same field (also
  ``include[]``); list fields may repeat.
* An empty string means "not set".
* Unknown fields are rejected, as OpenAI does ("Unrecognized request argument").
* Gateway extensions (``beam_size``, ``hotwords``, ``vad_filter``, ``chunk_length``, ...) are
  accepted and bounded by the deployment's settings.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.core.config import Settings
from app.core.json_input import loads
from app.services.transcription.roles import parse_roles
from app.services.vocabulary import parse_vocabulary
from schemas.errors import CapabilityNotSupported, InvalidRequest
from schemas.languages import normalise_language
from schemas.options import (
    MAX_SPEAKERS,
    DiarizationOptions,
    Granularity,
    ResponseFormat,
    Task,
    TranscriptionOptions,
    VadParameters,
)

LIST_FIELDS = {
    "timestamp_granularities",
    "include",
    "known_speaker_names",
    "known_speaker_references",
    "fallback_models",
}


class TranscriptionForm(BaseModel):
    """Every field OpenAI's transcription/translation endpoints take, plus gateway extras."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(min_length=1, max_length=200)
    language: str | None = None
    prompt: str | None = None
    response_format: ResponseFormat = ResponseFormat.JSON
    temperature: float = Field(0.0, ge=0.0, le=1.0)
    timestamp_granularities: frozenset[Granularity] = frozenset()
    stream: bool = False
    include: frozenset[Literal["logprobs"]] = frozenset()
    chunking_strategy: str | None = None
    known_speaker_names: tuple[str, ...] = ()
    known_speaker_references: tuple[str, ...] = ()
    # gateway extensions
    beam_size: int | None = Field(None, ge=1)
    best_of: int | None = Field(None, ge=1, le=20)
    hotwords: str | None = Field(None, max_length=1000)
    vad_filter: bool | None = None
    chunk_length: int | None = Field(None, ge=1, le=30)
    # gateway extensions: diarization, vocabulary, emotion, fallback order (Docs/Providers.md,
    # Docs/Transcript_Intelligence.md)
    diarize: bool | None = None
    num_speakers: int | None = Field(None, ge=1, le=MAX_SPEAKERS)
    min_speakers: int | None = Field(None, ge=1, le=MAX_SPEAKERS)
    max_speakers: int | None = Field(None, ge=1, le=MAX_SPEAKERS)
    vocabulary: str | None = Field(None, max_length=100_000)
    emotion: bool = False
    fallback_models: tuple[str, ...] = Field((), max_length=8)
    # gateway extension: the enhancement stage (Docs/Transcript_Intelligence.md#enhancement)
    enhance: bool | None = None
    # gateway extensions: per-channel transcription, role names (Docs/Transcript_Intelligence.md)
    multichannel: bool = False
    speaker_roles: str | None = Field(None, max_length=1000)

    @field_validator("chunking_strategy")
    @classmethod
    def _chunking(cls, value: str | None) -> str | None:
        if value is None or value == "auto":
            return value
        try:
            parsed = loads(value)
        except ValueError:  # not JSON, or nested too deeply
            raise ValueError("must be 'auto' or a JSON server_vad object") from None
        if not isinstance(parsed, dict) or parsed.get("type") != "server_vad":
            raise ValueError('must be \'auto\' or {"type": "server_vad", ...}')
        return value

    def vad_parameters(self) -> VadParameters | None:
        if self.chunking_strategy in (None, "auto"):
            return None
        raw = loads(self.chunking_strategy)
        params: dict[str, Any] = {}
        if "threshold" in raw:
            params["threshold"] = raw["threshold"]
        if "silence_duration_ms" in raw:
            params["min_silence_duration_ms"] = raw["silence_duration_ms"]
        if "prefix_padding_ms" in raw:
            params["speech_pad_ms"] = raw["prefix_padding_ms"]
        try:
            return VadParameters(**params)
        except ValidationError as exc:
            raise invalid_request_from(exc, prefix="chunking_strategy.") from None


def invalid_request_from(exc: ValidationError, prefix: str = "") -> InvalidRequest:
    first = exc.errors()[0]
    param = prefix + ".".join(str(p) for p in first["loc"]) if first["loc"] else None
    if first["type"] == "extra_forbidden":
        return InvalidRequest(
            f"Unrecognized request argument supplied: {param}",
            param=param,
            code="unknown_parameter",
        )
    if first["type"] == "missing":
        return InvalidRequest(
            f"you must provide a '{param}' parameter",
            param=param,
            code="missing_required_parameter",
        )
    return InvalidRequest(f"invalid value for '{param}': {first['msg']}", param=param)


def parse_form(fields: dict[str, list[str]]) -> TranscriptionForm:
    """Turn raw multipart fields into a validated :class:`TranscriptionForm`."""
    data: dict[str, Any] = {}
    for raw_name, values in fields.items():
        name = raw_name.removesuffix("[]")
        present = [v for v in values if v != ""]
        if not present:
            continue
        if name in LIST_FIELDS:
            data.setdefault(name, []).extend(present)
        else:
            data[name] = present[-1]
    try:
        return TranscriptionForm.model_validate(data)
    except ValidationError as exc:
        raise invalid_request_from(exc) from None


def build_options(form: TranscriptionForm, task: Task, settings: Settings) -> TranscriptionOptions:
    """Check the form against deployment bounds and OpenAI's cross-field rules."""
    if (
        Granularity.WORD in form.timestamp_granularities
        and form.response_format is not ResponseFormat.VERBOSE_JSON
    ):
        raise InvalidRequest(
            "timestamp_granularities 'word' requires response_format 'verbose_json'",
            param="timestamp_granularities",
        )
    if form.known_speaker_names or form.known_speaker_references:
        raise CapabilityNotSupported(
            "known speaker references are not supported; diarization labels speakers A, B, ...",
            param="known_speaker_names",
        )
    if form.prompt and len(form.prompt) > settings.max_prompt_chars:
        raise InvalidRequest(
            f"prompt is longer than {settings.max_prompt_chars} characters",
            param="prompt",
            code="prompt_too_long",
        )
    beam = form.beam_size or min(settings.default_beam_size, settings.max_beam_size)
    if beam > settings.max_beam_size:
        raise InvalidRequest(
            f"beam_size must be at most {settings.max_beam_size}", param="beam_size"
        )
    language = None
    if form.language and task is Task.TRANSCRIBE:
        language = normalise_language(form.language)
        if language is None:
            raise InvalidRequest(
                f"unsupported language '{form.language}'",
                param="language",
                code="unsupported_language",
            )
    if form.enhance and form.stream:  # deltas are decoded from the audio as uploaded
        raise CapabilityNotSupported(
            "enhance=true cannot be combined with stream=true", param="stream"
        )
    if form.emotion and form.stream:  # deltas go out before the segment audio is classified
        raise CapabilityNotSupported(
            "emotion recognition cannot be combined with stream=true", param="stream"
        )
    vad = form.vad_filter if form.vad_filter is not None else form.chunking_strategy is not None
    vocabulary = parse_vocabulary(form.vocabulary) if form.vocabulary else None
    diarization = None if form.multichannel else diarization_options(form, settings)
    return TranscriptionOptions(
        task=task,
        language=language,
        prompt=form.prompt,
        hotwords=form.hotwords,
        temperature=form.temperature,
        beam_size=beam,
        best_of=form.best_of or beam,
        # captions are cut at word boundaries (app.services.transcription.captions)
        word_timestamps=Granularity.WORD in form.timestamp_granularities
        or "logprobs" in form.include
        or form.response_format in CAPTION_FORMATS,
        vad_filter=vad,
        vad_parameters=form.vad_parameters(),
        chunk_length=form.chunk_length,
        diarization=diarization,
        vocabulary=vocabulary,
        enhance=form.enhance,
        multichannel=check_multichannel(form),
        speaker_roles=speaker_roles(form, diarization),
        emotion=form.emotion,
    )


CAPTION_FORMATS = frozenset({ResponseFormat.SRT, ResponseFormat.VTT})


def check_multichannel(form: TranscriptionForm) -> bool:
    """``multichannel=true`` is refused with ``stream=true`` (each channel is transcribed in a
    pass of its own, so segments cannot leave in time order) and with speaker hints (each
    channel is one speaker; the diarizer is not run)."""
    if not form.multichannel:
        return False
    if form.stream:
        raise CapabilityNotSupported(
            "multichannel cannot be combined with stream=true", param="multichannel"
        )
    for hint in ("num_speakers", "min_speakers", "max_speakers"):
        if getattr(form, hint) is not None:
            raise InvalidRequest(
                f"{hint} does not apply to multichannel=true: each channel is one speaker",
                param=hint,
            )
    return True


def speaker_roles(
    form: TranscriptionForm, diarization: DiarizationOptions | None
) -> tuple[str, ...] | None:
    """``speaker_roles`` parsed; they name speakers, so diarization or multichannel must be on."""
    if form.speaker_roles is None:
        return None
    roles = parse_roles(form.speaker_roles)
    if diarization is None and not form.multichannel:
        raise InvalidRequest(
            "speaker_roles needs speakers: set diarize=true or multichannel=true",
            param="speaker_roles",
        )
    return roles


def diarization_options(form: TranscriptionForm, settings: Settings) -> DiarizationOptions | None:
    """On when the request says ``diarize=true`` or asks for ``diarized_json`` or speaker hints,
    else as ``STT_ENABLE_DIARIZATION`` says; ``diarize=false`` always turns it off."""
    hints = (form.num_speakers, form.min_speakers, form.max_speakers)
    asked = form.diarize or (
        form.diarize is None
        and (
            form.response_format is ResponseFormat.DIARIZED_JSON
            or any(h is not None for h in hints)
        )
    )
    if form.stream:  # deltas go out as segments decode, before any speaker is known
        if asked:
            raise CapabilityNotSupported(
                "diarization cannot be combined with stream=true", param="stream"
            )
        return None
    if not (asked or (form.diarize is None and settings.enable_diarization)):
        return None
    try:
        return DiarizationOptions(
            num_speakers=form.num_speakers,
            min_speakers=form.min_speakers,
            max_speakers=form.max_speakers,
        )
    except ValidationError as exc:
        raise InvalidRequest(
            f"invalid speaker hints: {exc.errors()[0]['msg']}", param="num_speakers"
        ) from None
