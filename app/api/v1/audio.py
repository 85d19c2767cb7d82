"""``POST /v1/audio/transcriptions`` and ``/v1/audio/translations`` (OpenAI-compatible)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.api.deps import GatewayDep, TranscribeUser
from app.api.disconnect import cancel_on_disconnect
from app.api.forms import TranscriptionForm, build_options, parse_form
from app.api.openapi import AUDIO_FILE, body_schema
from app.api.v1.results import render_response
from app.core.request_limits import UploadLimits
from app.services.transcription.debug_dump import dump_debug_audio
from app.services.transcription.formats import RenderOptions, duration_usage, media_types
from app.services.transcription.inference import Ticket
from app.services.transcription.service import TranscriptionService
from app.services.transcription.upload import receive_form
from providers.base import AudioInput
from providers.registry import Resolved
from schemas.auth import Principal
from schemas.errors import GatewayError, InvalidRequest
from schemas.options import Task, TranscriptionOptions

router = APIRouter(tags=["audio"])

_TRANSLATION_UNSUPPORTED = (
    "language",
    "timestamp_granularities",
    "include",
    "stream",
    "known_speaker_names",
    "known_speaker_references",
)


def _form_schema(task: Task) -> dict[str, Any]:
    translate = task is Task.TRANSLATE
    schema = body_schema(
        "TranslationRequest" if translate else "TranscriptionRequest",
        TranscriptionForm,
        description=f"The multipart form of a {task.value} request (OpenAI's, plus extensions).",
        required=("file", "model"),
        drop=_TRANSLATION_UNSUPPORTED if translate else (),
        add={"file": AUDIO_FILE},
    )
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the transcript in the requested format",
        "content": {media_type: {} for media_type in [*media_types(), "text/event-stream"]},
    },
}


async def _handle(request: Request, gateway: GatewayDep, task: Task, user: Principal) -> Response:
    settings = gateway.settings
    service = gateway.transcription
    async with receive_form(
        request, tmp_dir=settings.tmp_dir, limits=UploadLimits.sync(settings)
    ) as upload:
        if task is Task.TRANSLATE:
            extra = [k for k in upload.fields if k.removesuffix("[]") in _TRANSLATION_UNSUPPORTED]
            if extra:
                raise InvalidRequest(
                    f"Unrecognized request argument supplied: {extra[0]}",
                    param=extra[0],
                    code="unknown_parameter",
                )
        form = parse_form(upload.fields)
        if upload.file is None:
            raise InvalidRequest(
                "you must provide a 'file'", param="file", code="missing_required_parameter"
            )
        path = upload.file.path
        options = build_options(form, task, settings)
        chain = gateway.registry.chain(form.model, task, form.fallback_models or None)
        target = chain[0]  # the requested model; the rest are its fallbacks
        await request.app.state.rate_limits.admit_provider(target.provider.name)
        await anyio.to_thread.run_sync(
            dump_debug_audio, settings, user.user_id, path, upload.file.filename
        )
        # Admission before decoding: a request that cannot be served soon gets its 503 now,
        # and queued requests wait with their upload on disk, not decoded in memory.
        channels = await service.channels(path) if options.multichannel else None  # mono: 400
        ticket = await service.admit(path)
        handed_over = False  # to the SSE response, which releases the ticket when it ends
        try:

            async def decode() -> AudioInput:
                await ticket.take_turn()
                return await service.decode(ticket, path)

            audio = await cancel_on_disconnect(request, decode)
            if form.stream:
                handed_over = True
                return ReleasingStream(
                    _sse(service, ticket, audio, target, options), release=ticket.release
                )
            transcript = await cancel_on_disconnect(
                request, lambda: service.transcribe(ticket, audio, chain, options, channels)
            )
        finally:
            if not handed_over:
                ticket.release()
    return render_response(
        transcript,
        form.response_format,
        RenderOptions.of(
            gateway.settings,
            form.timestamp_granularities,
            include_logprobs="logprobs" in form.include,
        ),
    )


def _event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


class ReleasingStream(StreamingResponse):
    """An SSE response that gives its inference turn back however the stream ends (done,
    failed, or the client gone before the first event)."""

    def __init__(self, content: AsyncIterator[str], *, release: Callable[[], None]) -> None:
        super().__init__(
            content, media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
        )
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


async def _sse(
    service: TranscriptionService,
    ticket: Ticket,
    audio: AudioInput,
    target: Resolved,
    options: TranscriptionOptions,
) -> AsyncIterator[str]:
    """``transcript.text.delta`` per decoded segment, then ``transcript.text.done``."""
    texts: list[str] = []
    try:
        async for segment in service.stream_segments(ticket, audio, target, options):
            delta = segment.text if not texts else " " + segment.text
            texts.append(segment.text)
            yield _event({"type": "transcript.text.delta", "delta": delta})
    except GatewayError as exc:
        yield _event({"type": "error", **exc.envelope().model_dump()})
        return
    yield _event(
        {
            "type": "transcript.text.done",
            "text": " ".join(texts),
            "usage": duration_usage(audio.duration),
        }
    )


@router.post(
    "/audio/transcriptions",
    openapi_extra=_form_schema(Task.TRANSCRIBE),
    responses=_RESPONSES,
    summary="Transcribe audio (OpenAI-compatible)",
)
async def create_transcription(
    request: Request, gateway: GatewayDep, user: TranscribeUser
) -> Response:
    return await _handle(request, gateway, Task.TRANSCRIBE, user)


@router.post(
    "/audio/translations",
    openapi_extra=_form_schema(Task.TRANSLATE),
    responses=_RESPONSES,
    summary="Translate audio into English text (OpenAI-compatible)",
)
async def create_translation(
    request: Request, gateway: GatewayDep, user: TranscribeUser
) -> Response:
    return await _handle(request, gateway, Task.TRANSLATE, user)
