"""What the chat model is asked (map: one transcript part; reduce: partial notes) and how its
answer is read: a JSON object validated as :class:`SummaryNotes`, or, when the model answered
something else, its text as the prose summary (``structured`` false)."""

from __future__ import annotations

import json
import re

from pydantic import ValidationError

from schemas.errors import FatalProviderError
from schemas.languages import language_name
from schemas.summary import SummaryNotes

SYSTEM = (
    "You write meeting notes from transcripts. Write every note in {language}, the language of "
    "the transcript. Answer with one JSON object and nothing else, of this form:\n"
    '{{"summary": "a few sentences", "key_points": ["..."], "decisions": ["..."], '
    '"action_items": [{{"text": "...", "owner": "a name, or null"}}]}}\n'
    "Give an action item an owner only when the transcript says who will do it. Use empty lists "
    "when there is nothing of a kind. Do not add anything the transcript does not say."
)
MAP = (
    "Part {index} of {count} of a meeting transcript. Lines are [time] speaker: text (the "
    "speaker only when known).\n\n{text}"
)
REDUCE = (
    "Notes on consecutive parts of one meeting, in order, one JSON object a part. "
    "Merge them into the notes of the whole meeting: say each thing once, keep every decision "
    "and action item.\n\n{text}"
)
PART_SEPARATOR = "\n\n"
_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")


def system_prompt(language: str) -> str:
    """The instructions, naming the transcript's language (``"de"`` -> ``german``)."""
    return SYSTEM.format(language=language_name(language))


def notes_json(notes: SummaryNotes) -> str:
    """Partial notes as the reduce step shows them to the model."""
    return json.dumps(notes.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))


def parse_answer(answer: str) -> tuple[SummaryNotes, bool]:
    """The notes in ``answer`` and whether it was the JSON asked for. An empty answer is an
    error (:class:`FatalProviderError`): there is nothing to fall back on."""
    text = _FENCE.sub("", answer.strip())
    if not text:
        raise FatalProviderError("the summary model answered nothing", code="summary_empty")
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        try:
            return SummaryNotes.model_validate(json.loads(text[start : end + 1])), True
        except (ValueError, ValidationError):  # json.JSONDecodeError is a ValueError
            pass
    return SummaryNotes(summary=text), False


def markdown(notes: SummaryNotes) -> str:
    """The notes as Markdown: the prose, then the non-empty lists under English headings."""
    blocks = [notes.summary.strip()] if notes.summary.strip() else []
    for title, lines in (
        ("Key points", notes.key_points),
        ("Decisions", notes.decisions),
        (
            "Action items",
            [f"{i.text} ({i.owner})" if i.owner else i.text for i in notes.action_items],
        ),
    ):
        if lines:
            blocks.append(f"## {title}\n" + "\n".join(f"- {line}" for line in lines))
    return "\n\n".join(blocks)
