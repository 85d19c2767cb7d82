"""The response-format table: one row per ``ResponseFormat``, read by renderers, responses and
the OpenAPI schema."""

from __future__ import annotations

from app.services.transcription.formats import FORMATS, media_types
from schemas.options import ResponseFormat


def test_every_response_format_has_one_row() -> None:
    assert set(FORMATS) == set(ResponseFormat)


def test_the_openapi_content_types_come_from_the_table() -> None:
    from app.api.v1.audio import _RESPONSES

    content = _RESPONSES[200]["content"]
    assert list(content) == [*media_types(), "text/event-stream"]
    expected = {"application/json", "text/plain", "text/vtt", "application/x-subrip"}
    assert set(media_types()) == expected
