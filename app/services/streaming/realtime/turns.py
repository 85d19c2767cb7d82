"""Engine events to Realtime turn events.

A turn is one conversation item. It opens when the VAD hears speech (``speech_started``) or
when the first words arrive, and closes with ``input_audio_buffer.committed`` and
``conversation.item.input_audio_transcription.completed`` when the engine finalizes it (end of
speech, a client commit, or a long turn cut by the engine's buffer limit). While it is spoken,
every word the engine commits (LocalAgreement's stable prefix) goes out once as a ``delta``:
deltas never retract text, and the deltas of a turn concatenate to its transcript, except
where the deployment's custom vocabulary corrects the ``completed`` transcript (deltas carry
the engine's words as they were committed). Items are chained by ``previous_item_id``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from app.services.streaming.engine import Event, SpeechBoundary
from app.services.vocabulary import Vocabulary
from providers.base import SAMPLE_RATE
from schemas.realtime import (
    Committed,
    DurationUsage,
    LogProb,
    ServerEvent,
    SpeechStarted,
    SpeechStopped,
    TranscriptionCompleted,
    TranscriptionDelta,
    new_id,
)
from schemas.streaming import FinalEvent, PartialEvent
from schemas.transcript import Word

_MS = SAMPLE_RATE // 1000


class TurnTracker:
    def __init__(self, vocabulary: Vocabulary | None = None) -> None:
        self._vocabulary = vocabulary or Vocabulary()  # corrects each completed transcript
        self.logprobs = False
        self.preroll_ms = 0
        self._item: str | None = None
        self._previous: str | None = None
        self._sent = 0  # words of the open item already sent as deltas
        self._stopped = False  # speech_stopped sent, completion not yet

    @property
    def open_item(self) -> str | None:
        return self._item

    def render(self, events: Sequence[Event], offset: int) -> list[ServerEvent]:
        """The Realtime events for ``events``; ``offset``: samples of earlier engines."""
        out: list[ServerEvent] = []
        for event in events:
            if isinstance(event, SpeechBoundary):
                ms = (event.sample + offset) // _MS
                if event.started:
                    start = max(0, ms - self.preroll_ms)
                    out.append(SpeechStarted(audio_start_ms=start, item_id=self._open()))
                else:
                    out.append(SpeechStopped(audio_end_ms=ms, item_id=self._open()))
                    self._stopped = True
            elif isinstance(event, PartialEvent):
                fresh = (event.segment.words or [])[self._sent : event.stable_words]
                if fresh:
                    out.append(self._delta(fresh))
            elif isinstance(event, FinalEvent):
                segment = event.segment
                out += self.complete(segment.words or [], segment.end - segment.start)
        if self._stopped:  # the speech ended without words: the turn completes empty
            out += self.complete([], 0.0)
        return out

    def complete(self, words: Sequence[Word], seconds: float) -> list[ServerEvent]:
        """Close the open turn (a new one if none is open) with its whole transcript."""
        item = self._open()
        out: list[ServerEvent] = [Committed(item_id=item, previous_item_id=self._previous)]
        if words[self._sent :]:
            out.append(self._delta(words[self._sent :]))
        out.append(
            TranscriptionCompleted(
                item_id=item,
                transcript=self._vocabulary.correct_text(" ".join(w.word for w in words)),
                usage=DurationUsage(seconds=round(max(seconds, 0.0), 3)),
                logprobs=self._logprobs(words),
            )
        )
        self._previous, self._item, self._sent, self._stopped = item, None, 0, False
        return out

    def discard(self) -> None:
        """The client cleared its buffer: the open turn is dropped, never completed."""
        self._item, self._sent, self._stopped = None, 0, False

    def abandon(self) -> str | None:
        """The open item, which will not complete (the session failed)."""
        item = self._item
        self.discard()
        return item

    def _open(self) -> str:
        if self._item is None:
            self._item, self._sent = new_id("item"), 0
        return self._item

    def _delta(self, words: Sequence[Word]) -> TranscriptionDelta:
        text = " ".join(w.word for w in words)
        delta = TranscriptionDelta(
            item_id=self._open(),
            delta=f" {text}" if self._sent else text,
            logprobs=self._logprobs(words),
        )
        self._sent += len(words)
        return delta

    def _logprobs(self, words: Sequence[Word]) -> list[LogProb] | None:
        if not self.logprobs:
            return None
        return [
            LogProb(
                token=w.word,
                logprob=round(math.log(max(w.probability, 1e-6)), 4),
                bytes=list(w.word.encode()),
            )
            for w in words
        ]
