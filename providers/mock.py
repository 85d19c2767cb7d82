"""A deterministic provider for tests of the gateway's own logic.

The text comes from a fixture file when one is configured, otherwise from a seeded word list.
Segments and words are spread evenly across the real audio duration, so timing logic downstream
(renderers, chunk merging, jobs) sees realistic shapes. It never pretends to recognise speech.
"""

from __future__ import annotations

import random
from pathlib import Path

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
            streaming=False,
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

    def detect_language(self, audio: AudioInput, model: str) -> LanguageDetection:
        return LanguageDetection(
            language=self._language, probability=1.0, all_probs=[(self._language, 1.0)]
        )
