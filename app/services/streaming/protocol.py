"""Parse client frames into typed messages; every failure is a typed, reportable error."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from app.core.json_input import parse_json
from schemas.errors import InvalidRequest
from schemas.streaming import AudioMessage, ControlMessage, ControlType, StartMessage

ClientMessage = StartMessage | AudioMessage | ControlMessage
M = TypeVar("M", bound=BaseModel)

_MODELS: dict[str, type[BaseModel]] = {
    "start": StartMessage,
    "audio": AudioMessage,
    **{c.value: ControlMessage for c in ControlType},
}


def load_object(text: str) -> dict[str, Any]:
    """A text frame as a JSON object with a string ``type``."""
    data: Any = parse_json(text, what="a text frame")
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise InvalidRequest(
            "messages must be JSON objects with a string 'type'",
            param="type",
            code="invalid_message",
        )
    return data


def validate_message(data: dict[str, Any], models: Mapping[str, type[M]]) -> M:
    """``data`` as the model its ``type`` names in ``models``."""
    model = models.get(data["type"])
    if model is None:
        raise InvalidRequest(
            f"unknown message type '{data['type'][:40]}'; expected one of "
            + ", ".join(sorted(models)),
            param="type",
            code="unknown_message_type",
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        param = ".".join(str(p) for p in first["loc"]) or None
        raise InvalidRequest(
            f"invalid '{data['type']}' message: {param or 'message'}: {first['msg']}",
            param=param,
            code="invalid_message",
        ) from None


def parse_text(text: str) -> ClientMessage:
    return validate_message(load_object(text), _MODELS)  # type: ignore[return-value]


def decode_base64(data: str, param: str = "data") -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(
            f"the '{param}' of an audio message must be base64", param=param, code="invalid_audio"
        ) from None
