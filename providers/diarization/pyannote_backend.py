"""pyannote.audio's speaker-diarization pipeline as a diarization backend (optional extra
``diarization-pyannote``), loaded from a local path only: ``STT_DIARIZATION_PYANNOTE_PATH``
names the pipeline's ``config.yaml`` (or its folder) whose model entries point at local
checkpoints. Nothing is fetched from the hub by the gateway.

The pipeline gets the decoded samples as a tensor view (no copy) and the request's speaker
hints; its annotation may hold overlapping turns (overlapped speech), which are kept. Both the
3.x return value (an ``Annotation``) and 4.x (``DiarizeOutput.speaker_diarization``) are read.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from loguru import logger

from providers.base import AudioInput
from providers.diarization.timeline import Turn
from providers.torch_engine import missing_modules
from schemas.errors import CapabilityNotSupported
from schemas.options import DiarizationOptions


class PyannoteBackend:
    name = "pyannote"

    def __init__(self, path: Path | None, device: str = "cpu") -> None:
        self.path, self.device = path, device
        self.missing = missing_modules(("pyannote.audio", "torch"), "diarization-pyannote")
        if self.missing is None and (path is None or not path.exists()):
            self.missing = f"the pyannote pipeline path {path} does not exist"
        self._pipeline: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        if self.missing:
            raise CapabilityNotSupported(
                f"diarization is unavailable on this deployment: {self.missing}", param="diarize"
            )
        if self._pipeline is None:
            import torch
            from pyannote.audio import Pipeline

            assert self.path is not None
            logger.info("loading pyannote diarization pipeline {} on {}", self.path, self.device)
            pipeline = Pipeline.from_pretrained(self.path)
            if pipeline is None:  # pyannote returns None instead of raising on a bad checkpoint
                raise CapabilityNotSupported(
                    f"no pyannote pipeline could be loaded from {self.path}", param="diarize"
                )
            self._pipeline = pipeline.to(torch.device(self.device))
        return self._pipeline

    def diarize(self, audio: AudioInput, options: DiarizationOptions) -> list[Turn]:
        import torch

        hints = {
            "num_speakers": options.num_speakers,
            "min_speakers": options.min_speakers,
            "max_speakers": options.max_speakers,
        }
        waveform = torch.from_numpy(audio.samples).unsqueeze(0)
        with self._lock:
            pipeline = self._load()
            output = pipeline(
                {"waveform": waveform, "sample_rate": audio.sample_rate},
                **{k: v for k, v in hints.items() if v is not None},
            )
        annotation = getattr(output, "speaker_diarization", output)
        return [
            Turn(float(segment.start), float(segment.end), str(label))
            for segment, _track, label in annotation.itertracks(yield_label=True)
        ]
