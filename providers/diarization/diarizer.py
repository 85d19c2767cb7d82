"""The diarization stage: one interface over interchangeable backends.

A backend turns audio into a speaker timeline (:class:`~.timeline.Turn` list); the stage puts
that timeline onto a transcript (:func:`~.words.assign_speakers`). REST requests, chunked jobs
(diarized once, over the whole recording, after the chunks are merged) and every other caller
go through :meth:`SpeakerDiarizer.diarize`; the evaluation script reads
:meth:`SpeakerDiarizer.timeline` directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from providers.base import AudioInput
from providers.diarization.builtin import BuiltinBackend, BuiltinConfig
from providers.diarization.pyannote_backend import PyannoteBackend
from providers.diarization.timeline import Turn, relabel
from providers.diarization.words import assign_speakers
from schemas.errors import CapabilityNotSupported
from schemas.options import DiarizationOptions
from schemas.transcript import Transcript


class DiarizationBackend(Protocol):
    name: str
    missing: str | None  # why it cannot run here, or None

    def diarize(self, audio: AudioInput, options: DiarizationOptions) -> list[Turn]: ...


@dataclass(frozen=True)
class DiarizerConfig:
    backend: Literal["builtin", "pyannote"] = "builtin"
    device: str = "cpu"
    distance_threshold: float = 0.35
    max_speakers: int = 8
    pyannote_path: Path | None = None


def build_backend(config: DiarizerConfig) -> DiarizationBackend:
    if config.backend == "pyannote":
        return PyannoteBackend(config.pyannote_path, config.device)
    return BuiltinBackend(
        BuiltinConfig(
            device=config.device,
            threshold=config.distance_threshold,
            max_speakers=config.max_speakers,
        )
    )


class SpeakerDiarizer:
    def __init__(
        self, config: DiarizerConfig | None = None, backend: DiarizationBackend | None = None
    ) -> None:
        self.config = config or DiarizerConfig()
        self.backend = backend or build_backend(self.config)

    @property
    def missing(self) -> str | None:
        return self.backend.missing

    @property
    def available(self) -> bool:
        return self.backend.missing is None

    def timeline(self, audio: AudioInput, options: DiarizationOptions) -> list[Turn]:
        """Speaker turns of ``audio``, speakers named ``A``, ``B``, ... by first appearance.
        Blocking (model inference): call it from a worker thread."""
        if self.backend.missing:
            raise CapabilityNotSupported(
                f"diarization is unavailable on this deployment: {self.backend.missing}",
                param="diarize",
            )
        return relabel(self.backend.diarize(audio, options))

    def diarize(
        self, transcript: Transcript, audio: AudioInput, options: DiarizationOptions
    ) -> Transcript:
        """``transcript`` with a speaker on every word and segment, split at speaker changes."""
        return assign_speakers(transcript, self.timeline(audio, options))
