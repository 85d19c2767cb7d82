"""A deterministic provider for tests of the gateway's own logic.

The text comes from a fixture file when one is configured, otherwise from a seeded word list.
Segments and words are spread evenly across the real audio duration, so timing logic downstream
(renderers, chunk merging, jobs) sees realistic shapes. It never pretends to recognise speech.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from providers.base import AudioInput, Provider, SegmentStream
from schemas.options import TranscriptionOptions
from schemas.providers import Capabilities, Health, LanguageDetection
from schemas.transcript import Segment, Word

_VOCABULARY = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliet",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
]
WORDS_PER_SEGMENT = 8
_SILENCE_RMS = 0.01  # -40 dBFS


class MockProvider(Provider):
    name = "mock"

    def __init__(
        self,
        *,
        fixture: Path | None = None,
        seed: int = 0,
        words_per_second: float = 2.0,
        language: str = "en",
    ) -> None:
        self._fixture_words = fixture.read_text("utf-8").split() if fixture else None
        self._seed = seed
        self._wps = words_per_second
        self._language = language

    def capabilities(self) -> Capabilities:
        return Capabilities(
            name=self.name,
            models=["mock"],
            streaming=True,
            word_timestamps=True,
            translation=True,
            language_detection=True,
        )

    def available_models(self) -> list[str]:
        return ["mock"]

    def healthcheck(self) -> Health:
        return Health(provider=self.name, available=True, loaded_models=["mock"], device="cpu")

    def _words(self, duration: float) -> list[str]:
        if self._fixture_words is not None:
            return list(self._fixture_words)
        rng = random.Random(self._seed)
        count = max(1, int(duration * self._wps)) if duration > 0 else 0
        return [rng.choice(_VOCABULARY) for _ in range(count)]

    def iter_segments(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        duration = audio.duration
        words = self._words(duration)
        step = duration / len(words) if words else 0.0
        timed = [
            Word(word=w, start=i * step, end=(i + 1) * step, probability=0.99)
            for i, w in enumerate(words)
        ]

        def segments():
            for n, first in enumerate(range(0, len(timed), WORDS_PER_SEGMENT)):
                chunk = timed[first : first + WORDS_PER_SEGMENT]
                yield Segment(
                    id=n,
                    start=chunk[0].start,
                    end=chunk[-1].end,
                    text=" ".join(w.word for w in chunk),
                    confidence=0.99,
                    words=chunk if options.word_timestamps else None,
                    temperature=options.temperature,
                    avg_logprob=-0.01,
                    compression_ratio=1.0,
                    no_speech_prob=0.0,
                )

        return SegmentStream(
            language=options.language or self._language,
            language_probability=1.0,
            duration=duration,
            segments=segments(),
        )

    def transcribe_stream(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        """Live windows: one word per complete ``1 / words_per_second`` slot that carries
        sound (RMS above -40 dBFS), so silence yields no words, like a real engine. Words are
        the seeded sequence indexed by slot, hence stable as the window grows."""
        step = 1.0 / self._wps
        slot = max(1, round(step * audio.sample_rate))
        rng = random.Random(self._seed)
        words: list[Word] = []
        for i in range(len(audio.samples) // slot):
            text = rng.choice(_VOCABULARY)
            chunk = audio.samples[i * slot : (i + 1) * slot]
            if float(np.sqrt(np.mean(np.square(chunk, dtype=np.float64)))) >= _SILENCE_RMS:
                words.append(Word(word=text, start=i * step, end=(i + 1) * step, probability=0.9))
        segments = (
            [
                Segment(
                    id=0,
                    start=words[0].start,
                    end=words[-1].end,
                    text=" ".join(w.word for w in words),
                    confidence=0.9,
                    words=words,
                )
            ]
            if words
            else []
        )
        return SegmentStream(
            language=options.language or self._language,
            language_probability=1.0,
            duration=audio.duration,
            segments=iter(segments),
        )

    def detect_language(self, audio: AudioInput, model: str) -> LanguageDetection:
        return LanguageDetection(
            language=self._language, probability=1.0, all_probs=[(self._language, 1.0)]
        )
