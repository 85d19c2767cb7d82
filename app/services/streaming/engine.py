"""The decoding core of one live session (synchronous; runs in a decode worker thread).

Audio arrives in steps. VAD splits the timeline into utterances; while an utterance has speech,
each step re-decodes its buffer, the LocalAgreement policy commits what two consecutive
hypotheses agree on, and a ``partial`` shows committed + tentative words. An utterance ends
(``final``) after ``silence_ms`` of silence, on commit/pause/stop, or when its buffer outgrows
``max_buffer_s``: then the committed words are finalized and the buffer is cut after them,
so memory and decode time stay bounded however long the session runs.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from app.services.streaming.agreement import LocalAgreement, TimedWord
from app.services.streaming.vad import WINDOW, StreamingVad
from app.services.vocabulary import Vocabulary
from providers.base import SAMPLE_RATE
from schemas.streaming import FinalEvent, FinalReason, PartialEvent, StreamSegment
from schemas.transcript import Word, clean_text

#: the prompt is the tail of the session's finalized text (Whisper reads ~224 prompt tokens)
PROMPT_CHARS = 200
#: finalized words kept for the prompt (more than PROMPT_CHARS can hold)
PROMPT_WORDS = 64
#: shorter buffers are not worth a decode (Whisper invents words for clicks)
MIN_DECODE_S = 0.2
#: a shorter buffer's hypothesis is shown but never commits (see ``_too_short_to_commit``)
MIN_COMMIT_BUFFER_S = 2.0
#: a gap between committed words this long is a pause a mid-speech buffer cut may use
MIN_PAUSE_S = 0.2
#: the shortest word Whisper's alignment can give a real word (one 20 ms frame)
MIN_WORD_S = 0.02
#: a decoded word may start this long after the VAD's last speech (its 32 ms windows lag)
SPEECH_TAIL_S = 0.3
#: silence after the last speech that a decode must have heard to be reused (not redone)
SETTLED_SAMPLES = 4_000


@dataclass(frozen=True)
class Hypothesis:
    words: list[TimedWord]  # times relative to the decoded window
    language: str | None = None


#: decodes a window of 16 kHz samples with a prompt (committed context)
WindowDecoder = Callable[[np.ndarray, str | None], Hypothesis]


@dataclass(frozen=True)
class SpeechBoundary:
    """The VAD heard speech begin (``started``) or end (after ``silence_ms``) at ``sample``
    on the session timeline. Not a wire event: protocol adapters render it or skip it."""

    started: bool
    sample: int

    @property
    def type(self) -> str:
        return "speech_started" if self.started else "speech_stopped"


@dataclass(frozen=True)
class LiveEngineConfig:
    partials: bool = True
    silence_ms: int = 600
    preroll_ms: int = 300
    max_buffer_s: float = 12.0
    hard_buffer_s: float = 25.0
    initial_prompt: str | None = None
    #: corrects each ``final`` (the deployment's custom vocabulary); partials show raw words
    vocabulary: Vocabulary | None = None


Event = PartialEvent | FinalEvent | SpeechBoundary


class OnlineTranscriber:
    def __init__(
        self, decoder: WindowDecoder, config: LiveEngineConfig, vad: StreamingVad | None
    ) -> None:
        self._decode_window = decoder
        self._config = config
        self._vad = vad
        self._agreement = LocalAgreement()
        self._buffer = np.zeros(0, dtype=np.float32)
        self._buffer_start = 0  # session sample index of _buffer[0]
        self._has_speech = vad is None
        self._speech_end = 0
        self._onset: int | None = 0 if vad is None else None
        self._decoded_end = -1  # buffer end at the last decode
        self._last_hypothesis: list[TimedWord] = []
        self._last_partial: tuple[str, ...] = ()
        self._finals: list[str] = []
        self._said: deque[TimedWord] = deque(maxlen=PROMPT_WORDS)  # the latest final words
        self._next_id = 0
        self.language: str | None = None
        self.processing_s = 0.0
        self.decodes = 0

    # -- timeline -------------------------------------------------------------------------
    @property
    def processed_samples(self) -> int:
        return self._buffer_start + len(self._buffer)

    @property
    def settled(self) -> bool:
        """The next step need not wait for more audio: no decode is due (silence, or an
        utterance whose speech has all been decoded), or the speech has paused, so the next
        decode waits only for the pause to reach ``SPEECH_TAIL_S`` (see :meth:`_holding`)."""
        if self._vad is None:  # no speech/silence decisions: every step decodes
            return False
        return not self._has_speech or self._heard_everything() or self._paused()

    @property
    def text(self) -> str:
        return " ".join(self._finals)

    @property
    def segments(self) -> int:
        return len(self._finals)

    def skip(self, samples: int) -> list[Event]:
        """Audio the client sent while paused: it advances the timeline, nothing else."""
        events = self.finalize("pause")
        self._buffer_start = self.processed_samples + samples
        self._buffer = np.zeros(0, dtype=np.float32)
        if self._vad is not None:
            self._vad.skip(samples)
        return events

    # -- steps ----------------------------------------------------------------------------
    def feed(self, samples: np.ndarray) -> list[Event]:
        """Consume one step of audio; returns the events it produces."""
        events: list[Event] = []
        chunk_start = self.processed_samples
        taken = 0
        silence = self._config.silence_ms * SAMPLE_RATE // 1000
        for window in self._vad.push(samples) if self._vad is not None else ():
            if window.speech:
                if not self._has_speech:
                    self._has_speech = True
                    self._onset = window.end - WINDOW
                    events.append(SpeechBoundary(started=True, sample=self._onset))
                self._speech_end = window.end
            elif self._has_speech and window.end - self._speech_end >= silence:
                cut = window.end - chunk_start
                self._append(samples[taken:cut])
                taken = cut
                events.append(SpeechBoundary(started=False, sample=self._speech_end))
                events += self._end_utterance("silence", decode=True)
        self._append(samples[taken:])
        if not self._has_speech:
            self._keep_preroll()
            return events
        events += self._step()
        return events

    def finalize(self, reason: FinalReason) -> list[Event]:
        """End the current utterance now (commit, pause, stop)."""
        if not (self._has_speech and len(self._buffer)) and not self._agreement.committed:
            return []
        return self._end_utterance(reason, decode=True)

    def discard(self) -> None:
        """Forget the current utterance without a final (the client cleared its input)."""
        self._agreement.take_committed(keep_context=False)
        self._reset_utterance()

    # -- internals ------------------------------------------------------------------------
    def _append(self, samples: np.ndarray) -> None:
        if len(samples):
            self._buffer = np.concatenate([self._buffer, samples])

    def _cut_front(self, sample: int) -> None:
        drop = min(max(0, sample - self._buffer_start), len(self._buffer))
        self._buffer = self._buffer[drop:]
        self._buffer_start += drop

    def _keep_preroll(self) -> None:
        self._cut_front(self.processed_samples - self._config.preroll_ms * SAMPLE_RATE // 1000)

    def _decode(self) -> list[TimedWord]:
        if self._onset is not None:
            self._cut_front(self._onset - self._config.preroll_ms * SAMPLE_RATE // 1000)
            self._onset = None
        if self._decoded_end == self.processed_samples or self._heard_everything():
            return self._last_hypothesis
        if len(self._buffer) < MIN_DECODE_S * SAMPLE_RATE:
            return []
        window = self._buffer
        if self._vad is not None:  # never let Whisper hear the silence after the speech
            stop = self._speech_end + round(SPEECH_TAIL_S * SAMPLE_RATE) - self._buffer_start
            window = window[: max(stop, round(MIN_DECODE_S * SAMPLE_RATE))]
        started = time.perf_counter()
        hypothesis = self._decode_window(window, self._prompt())
        self.processing_s += time.perf_counter() - started
        self.decodes += 1
        self.language = self.language or hypothesis.language
        offset = self._buffer_start / SAMPLE_RATE
        limit = self.processed_samples / SAMPLE_RATE
        # words Whisper places after the last audio the VAD heard as speech are invented over
        # silence ("thank you for watching"): the VAD has the last word on where speech is
        heard = (self._speech_end / SAMPLE_RATE + SPEECH_TAIL_S) if self._vad else limit
        words, cursor = [], offset
        for w in hypothesis.words:
            text = clean_text(w.text)
            if not text or w.start + offset > heard or w.end - w.start < MIN_WORD_S:
                continue  # zero-length words had no audio to align to: Whisper invented them
            start = min(max(w.start + offset, cursor), limit)
            end = min(max(w.end + offset, start), limit)
            words.append(TimedWord(text, start, end, min(max(w.probability, 0.0), 1.0)))
            cursor = start
        self._decoded_end = self.processed_samples
        self._last_hypothesis = words
        return words

    def _paused(self) -> bool:
        """The VAD has scored at least one whole window of silence since the last speech
        (up to one window of the newest audio is not scored yet)."""
        return self._vad is not None and self.processed_samples - self._speech_end >= 2 * WINDOW

    def _holding(self) -> bool:
        """Speech has paused, but not for ``SPEECH_TAIL_S`` yet: skip the decode. A decode now
        would hear only part of the tail, and if the speech has ended a second decode would
        be needed for the final, which then waits for both; decoding once the tail is whole
        ends the utterance with a single decode. If the speech resumes, the next step decodes.
        """
        pause = self.processed_samples - self._speech_end
        return self._paused() and pause < SPEECH_TAIL_S * SAMPLE_RATE

    def _too_short_to_commit(self) -> bool:
        """Whether the buffer is too short for its hypothesis to commit anything.

        From the first second of an utterance Whisper guesses ("Let's go" for "The hotel"),
        and two consecutive guesses agree often enough to commit them: measured with
        ``bench_live_context.py``, withholding commits below 2 s took live WER from 0.170
        to 0.136. Such hypotheses are still shown, as the tentative tail.
        """
        limit = min(MIN_COMMIT_BUFFER_S, self._config.max_buffer_s / 2)
        return len(self._buffer) < limit * SAMPLE_RATE

    def _heard_everything(self) -> bool:
        """The last decode already covered the utterance's speech plus a margin: only silence
        came since, so decoding again would cost CPU for the same words."""
        return self._vad is not None and self._decoded_end >= self._speech_end + SETTLED_SAMPLES

    def _prompt(self) -> str | None:
        """The latest finalized words whose audio has left the buffer.

        A cut into a pause keeps finalized words after the pause in the buffer. If the prompt
        held them too, Whisper would skip them in the audio as already said, and align the
        words after them to their place, where they would be dropped as already committed.
        """
        heard_until = (self._buffer_start + 1) / SAMPLE_RATE  # + 1: the cut is rounded
        said = " ".join(w.text for w in self._said if w.end <= heard_until)
        context = " ".join(filter(None, [self._config.initial_prompt, said]))
        return context[-PROMPT_CHARS:] or None

    def _step(self) -> list[Event]:
        if not self._holding():
            self._agreement.update(self._decode(), provisional=self._too_short_to_commit())
        events: list[Event] = []
        if len(self._buffer) > self._config.max_buffer_s * SAMPLE_RATE:
            if self._agreement.committed:
                events += self._cut_mid_speech()
            elif len(self._buffer) > self._config.hard_buffer_s * SAMPLE_RATE:
                return self._end_utterance("max_buffer", decode=False)
        if self._config.partials:
            events += self._partial()
        return events

    def _cut_mid_speech(self) -> list[Event]:
        """Finalize the committed words and drop audio while speech goes on.

        Every committed word goes into the ``final`` (a client's committed text never
        shrinks), but the audio is cut in the speaker's latest pause when there is one in the
        later half of the buffer: the next window then starts on a clean word onset (a window
        that starts mid-word mishears its first words, and its timestamps drift). The words
        after the pause are heard again there and dropped as already committed, by time.
        Without a pause, the cut follows the last committed word.
        """
        not_before = self._buffer_start / SAMPLE_RATE + self._config.max_buffer_s / 2
        split = self._agreement.pause_before_end(MIN_PAUSE_S, not_before)
        words = self._agreement.take_committed(keep_context=True)
        if split is None:
            cut = self._agreement.last_committed_end
        else:
            cut = (words[split - 1].end + words[split].start) / 2
        self._cut_front(round(cut * SAMPLE_RATE))
        self._decoded_end = -1
        return self._emit_final(words, "max_buffer")

    def _partial(self) -> list[Event]:
        stable, tentative = self._agreement.committed, self._agreement.tentative
        words = stable + tentative
        shown = tuple(w.text for w in words)
        if not words or shown == self._last_partial:
            return []
        self._last_partial = shown
        return [
            PartialEvent(
                segment=self._segment(words),
                stable_text=" ".join(w.text for w in stable),
                unstable_text=" ".join(w.text for w in tentative),
                stable_words=len(stable),
            )
        ]

    def _end_utterance(self, reason: FinalReason, *, decode: bool) -> list[Event]:
        hypothesis = self._decode() if decode else None
        self._agreement.flush(hypothesis)
        events = self._emit_final(self._agreement.take_committed(keep_context=False), reason)
        self._reset_utterance()
        return events

    def _reset_utterance(self) -> None:
        self._buffer_start = self.processed_samples
        self._buffer = np.zeros(0, dtype=np.float32)
        self._has_speech = self._vad is None
        self._onset = None
        self._decoded_end = -1
        self._last_hypothesis = []
        self._last_partial = ()

    def _emit_final(self, words: list[TimedWord], reason: FinalReason) -> list[Event]:
        self._last_partial = ()
        if not words:
            return []
        segment = self._segment(words)
        if self._config.vocabulary:
            segment = self._config.vocabulary.correct_segment(segment)
            if not segment.text:  # a rule deleted every word
                return []
        self._next_id += 1
        self._finals.append(segment.text)
        self._said.extend(words)
        return [FinalEvent(segment=segment, reason=reason)]

    def _segment(self, words: list[TimedWord]) -> StreamSegment:
        return StreamSegment(
            id=self._next_id,
            start=round(words[0].start, 3),
            end=round(words[-1].end, 3),
            text=" ".join(w.text for w in words),
            confidence=round(sum(w.probability for w in words) / len(words), 4),
            words=[
                Word(
                    word=w.text,
                    start=round(w.start, 3),
                    end=round(w.end, 3),
                    probability=round(w.probability, 4),
                )
                for w in words
            ],
        )
