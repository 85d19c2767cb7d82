"""``POST /v1/audio/language``: which language is spoken (Whisper's language detection)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.api.deps import GatewayDep, TranscribeUser
from app.api.forms import invalid_request_from
from app.core.request_limits import UploadLimits
from app.services.transcription.upload import receive_form
from schemas.errors import InvalidRequest
from schemas.languages import language_name
from schemas.providers import LanguageCandidate, LanguageResult

router = APIRouter(tags=["audio"])


class LanguageForm(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str | None = Field(None, min_length=1, max_length=200)
    top: int = Field(5, ge=1, le=100)


_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "model": {
                            "type": "string",
                            "description": "a multilingual model (default: "
                            "STT_LANGUAGE_DETECTION_MODEL, faster-whisper:base)",
                        },
                        "top": {"type": "integer", "default": 5, "minimum": 1},
                    },
                }
            }
        },
    }
}


@router.post(
    "/audio/language",
    response_model=LanguageResult,
    openapi_extra=_SCHEMA,
    summary="Detect the spoken language (first 30 seconds)",
)
async def detect_language(
    request: Request, gateway: GatewayDep, _: TranscribeUser
) -> LanguageResult:
    settings = gateway.settings
    async with receive_form(
        request, tmp_dir=settings.tmp_dir, limits=UploadLimits.sync(settings)
    ) as upload:
        fields = {k: v[-1] for k, v in upload.fields.items() if v and v[-1] != ""}
        try:
            form = LanguageForm.model_validate(fields)
        except ValidationError as exc:
            raise invalid_request_from(exc) from None
        if upload.file is None:
            raise InvalidRequest(
                "you must provide a 'file'", param="file", code="missing_required_parameter"
            )
        model = form.model or settings.language_detection_model
        gateway.registry.resolve(model)  # unknown models fail before decoding
        detection, duration = await gateway.transcription.detect_language(upload.file.path, model)
    return LanguageResult(
        language=detection.language,
        name=language_name(detection.language),
        probability=round(detection.probability, 4),
        candidates=[
            LanguageCandidate(language=code, name=language_name(code), probability=round(p, 4))
            for code, p in detection.all_probs[: form.top]
        ],
        model=model,
        duration=round(duration, 3),
    )
