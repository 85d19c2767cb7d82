"""Map-reduce meeting summaries of a transcript (Docs/Transcript_Intelligence.md, "Summaries").

Map: the transcript's lines (:func:`transcript_lines`) are packed into parts whose estimated
tokens, with the prompt and the answer's ``max_tokens``, fit ``STT_SUMMARY_CONTEXT_TOKENS``;
each part becomes partial notes. Reduce: the partial notes, each shortened to at most half a
part so that every call merges at least two, are packed the same way and merged, again and
again until one answer covers the whole meeting. A transcript that fits one part takes one call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timezone

from loguru import logger

from app.core import metrics
from app.services.summaries.chat import ChatClient
from app.services.summaries.parts import estimate_tokens, pack, transcript_lines, truncate
from app.services.summaries.prompts import (
    MAP,
    PART_SEPARATOR,
    REDUCE,
    markdown,
    notes_json,
    parse_answer,
    system_prompt,
)
from schemas.errors import CapabilityNotSupported, InvalidRequest, ProviderError, SummaryFailed
from schemas.quality import AudioWarning
from schemas.summary import Summary, SummaryNotes
from schemas.transcript import Transcript

#: tokens for the chat template around the two messages (role markers and the like)
PROMPT_MARGIN = 32
FAILED = "summary_failed"


class Summarizer:
    def __init__(self, chat: ChatClient, *, context_tokens: int) -> None:
        self.chat = chat
        self.context_tokens = context_tokens

    def close(self) -> None:
        self.chat.close()

    def summarize(
        self, transcript: Transcript, checkpoint: Callable[[], None] = lambda: None
    ) -> Summary:
        """The summary of ``transcript`` in its language (blocking: run it off the event loop).

        ``checkpoint`` runs before each call (a job's cancellation check). Raises
        :class:`SummaryFailed` when the endpoint fails after its retries, answers nonsense or
        may not be called, and :class:`InvalidRequest` when the transcript has no text.
        """
        if not transcript.text.strip():
            raise InvalidRequest(
                "the transcript has no text to summarise", code="nothing_to_summarize"
            )
        started = time.perf_counter()
        try:
            self.chat.check_endpoint()
            summary = self._map_reduce(transcript, checkpoint)
        except (ProviderError, InvalidRequest) as exc:
            metrics.record_summary("failed")
            raise SummaryFailed(f"the summary could not be made: {exc.message}") from None
        metrics.record_summary("ok")
        logger.info(
            "summary of {} part(s) by {} in {:.1f}s",
            summary.chunks,
            summary.model,
            time.perf_counter() - started,
        )
        return summary

    def budget(self, system: str, template: str) -> int:
        """Estimated tokens left for the text of one call built from ``template``."""
        frame = template.format(index=0, count=0, text="")
        used = estimate_tokens(system) + estimate_tokens(frame) + PROMPT_MARGIN
        return self.context_tokens - self.chat.config.answer_tokens - used

    def _ask(self, system: str, user: str, step: str) -> tuple[SummaryNotes, bool]:
        metrics.record_summary_call(step)
        return parse_answer(self.chat.complete(system, user))

    def _map_reduce(self, transcript: Transcript, checkpoint: Callable[[], None]) -> Summary:
        system = system_prompt(transcript.language)
        parts = pack(transcript_lines(transcript), self.budget(system, MAP))
        notes: list[SummaryNotes] = []
        structured = True
        for index, part in enumerate(parts, start=1):
            checkpoint()
            text = MAP.format(index=index, count=len(parts), text=part)
            part_notes, structured = self._ask(system, text, "map")
            notes.append(part_notes)
        budget = self.budget(system, REDUCE)
        room = (budget - estimate_tokens(PART_SEPARATOR)) // 2
        while len(notes) > 1:
            shown = [truncate(notes_json(n), room) for n in notes]
            groups = pack(shown, budget, PART_SEPARATOR)
            notes = []
            for group in groups:
                checkpoint()
                merged, structured = self._ask(system, REDUCE.format(text=group), "reduce")
                notes.append(merged)
        final = notes[0]
        return Summary(
            **final.model_dump(),
            text=markdown(final),
            language=transcript.language,
            model=self.chat.config.model,
            chunks=len(parts),
            structured=structured,
            created_at=datetime.now(timezone.utc),
        )


def require(summarizer: Summarizer | None, param: str | None = None) -> Summarizer:
    """``summarizer``, or a 400 saying how to configure summaries."""
    if summarizer is None:
        raise CapabilityNotSupported(
            "summaries are not configured on this gateway: set STT_SUMMARY_API_BASE and "
            "STT_SUMMARY_MODEL (an OpenAI-compatible chat endpoint)",
            param=param,
            code="summaries_not_configured",
        )
    return summarizer


def mark_failure(transcript: Transcript, message: str | None) -> Transcript:
    """``transcript`` with a ``summary_failed`` warning saying ``message`` in place of any
    earlier one; with ``None`` (a summary was made), without one. Other warnings are kept, and
    ``warnings: null`` (no checks ran) stays null unless a failure is added."""
    warnings = transcript.metadata.warnings
    kept = [w for w in warnings or () if w.code != FAILED]
    if message:
        kept.append(AudioWarning(code=FAILED, message=message))
    elif warnings is None:
        return transcript
    return transcript.with_metadata(warnings=kept)
