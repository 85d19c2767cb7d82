"""The provider interface every speech engine implements.

Providers are synchronous: the gateway calls them from a bounded worker pool, never from the
event loop. Operations a provider cannot perform raise :class:`CapabilityNotSupported`; they never
return an empty result.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from providers.cancellation import until_cancelled
from schemas.errors import CapabilityNotSupported
from schemas.options import TranscriptionOptions
from schemas.providers import Capabilities, Health, LanguageDetection
from schemas.transcript import Segment, Transcript, TranscriptMetadata, build_transcript

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class AudioInput:
    """Decoded audio: mono float32 samples in [-1, 1] at 16 kHz.

    ``source_rate``: the sample rate of the file it was decoded from, when known (the audio
    warnings flag recordings made under 16 kHz, which resampling hides)."""

    samples: np.ndarray
    sample_rate: int = SAMPLE_RATE
    source_rate: int | None = None

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate


@dataclass
class SegmentStream:
    """A lazily decoded transcription: header facts known up front, segments as they decode."""

    language: str
    language_probability: float | None
    duration: float
    segments: Iterator[Segment]


class Provider(ABC):
    """One speech engine. Subclasses load models lazily and cache them."""

    name: str

    @abstractmethod
    def capabilities(self) -> Capabilities: ...

    @abstractmethod
    def available_models(self) -> list[str]:
        """Model names this provider can serve right now (installed or downloadable)."""

    @abstractmethod
    def iter_segments(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        """Start decoding ``audio``; segments are produced as the engine emits them."""

    def batch_segments(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        """The stream :meth:`transcribe_batch` collects: :meth:`iter_segments` unless the
        engine trades first-output latency for throughput differently when nobody streams."""
        return self.iter_segments(audio, options, model)

    @abstractmethod
    def healthcheck(self) -> Health: ...

    def transcribe_batch(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> Transcript:
        """Decode the whole file and return the canonical transcript."""
        started = time.perf_counter()
        stream = self.batch_segments(audio, options, model)
        segments = list(until_cancelled(stream.segments))
        return build_transcript(
            segments=segments,
            language=stream.language,
            duration=audio.duration,
            metadata=TranscriptMetadata(
                provider=self.name,
                model=model,
                processing_ms=round((time.perf_counter() - started) * 1000),
                task=options.task.value,
                language_probability=stream.language_probability,
            ),
            tokens=sum(len(s.tokens or ()) for s in segments) or None,
        )

    def transcribe_stream(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        """Decode one window of a live session (``app.services.streaming`` calls it repeatedly).

        ``audio`` is the session's current utterance buffer (seconds, not minutes);
        ``options.prompt`` carries the committed text before it. The result must have word
        timestamps relative to the window (the commit policy matches words across decodes),
        use no internal VAD (the session runs its own) and favour predictable latency (no
        temperature fallback). Segments may be produced eagerly.
        """
        raise CapabilityNotSupported(f"provider '{self.name}' does not support streaming")

    def detect_language(self, audio: AudioInput, model: str) -> LanguageDetection:
        raise CapabilityNotSupported(
            f"provider '{self.name}' cannot detect the spoken language", param="model"
        )
