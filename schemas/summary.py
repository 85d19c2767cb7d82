"""Meeting summaries (Docs/Transcript_Intelligence.md, "Summaries").

:class:`SummaryNotes` is what the chat model is asked to answer (as a JSON object), both for one
part of a transcript (map) and for the whole meeting (reduce); :class:`Summary` is what the Media
DB stores and the API returns: the final notes plus where they came from.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator


class ActionItem(BaseModel):
    model_config = ConfigDict(frozen=True)

    text: str = Field(description="What is to be done")
    owner: str | None = Field(None, description="Who is to do it, when the meeting said so")


class SummaryNotes(BaseModel):
    """The notes of a meeting or of one part of it, in the transcript's language."""

    model_config = ConfigDict(frozen=True)

    summary: str = Field("", description="A short prose summary (a few sentences)")
    key_points: list[str] = Field(default_factory=list)
    decisions: list[str] = Field(default_factory=list)
    action_items: list[ActionItem] = Field(default_factory=list)

    @field_validator("key_points", "decisions", mode="before")
    @classmethod
    def _strings(cls, value: object) -> object:
        """Models sometimes answer one string, or ``null``, where a list was asked for."""
        if value is None:
            return []
        return [value] if isinstance(value, str) else value

    @field_validator("action_items", mode="before")
    @classmethod
    def _items(cls, value: object) -> object:
        if value is None:
            return []
        items = value if isinstance(value, list) else [value]
        return [{"text": item} if isinstance(item, str) else item for item in items]


class Summary(SummaryNotes):
    """A stored summary: the meeting's notes, ``text`` (the notes as Markdown) and provenance."""

    text: str = Field(description="The whole summary as Markdown: prose, then titled lists")
    language: str = Field(description="The transcript's language code; the summary is in it")
    model: str = Field(description="The chat model that wrote it (STT_SUMMARY_MODEL)")
    chunks: int = Field(ge=1, description="How many transcript parts were summarised (map)")
    structured: bool = Field(
        description="Whether the model answered the JSON asked for; false: ``summary`` and "
        "``text`` hold its plain-text answer and the lists are empty"
    )
    created_at: datetime
