"""NVIDIA NeMo ASR models (Parakeet, Canary) through ``nemo_toolkit``.

Optional extra ``nemo`` (``nemo_toolkit[asr]``). Models are configured by name:
``{"parakeet-tdt-0.6b-v2": "nvidia/parakeet-tdt-0.6b-v2", "mine": "/models/mine.nemo"}``. A
``.nemo`` file on disk is restored with ``ASRModel.restore_from``; any other value is a
pretrained name for ``ASRModel.from_pretrained``, usable only when model downloads are allowed
(or already in NeMo's cache). Real names: ``nvidia/parakeet-tdt-0.6b-v2`` (English),
``nvidia/parakeet-tdt-0.6b-v3`` (25 European languages), ``nvidia/parakeet-ctc-1.1b``,
``nvidia/parakeet-rnnt-1.1b``, ``nvidia/canary-1b-flash``, ``nvidia/canary-180m-flash``.

``transcribe(..., timestamps=True)`` gives segment and word offsets in seconds; they become the
canonical segments and words. Canary (multi-task) models take ``source_lang``/``target_lang``
and can translate into English; the others transcribe English only. NeMo models do not report
the spoken language, so this provider cannot detect it (the gateway detects it with Whisper
when a request gives none).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from providers.base import AudioInput, SegmentStream
from providers.torch_engine import TorchEngine
from schemas.errors import (
    CapabilityNotSupported,
)
from schemas.options import Task, TranscriptionOptions
from schemas.providers import Capabilities
from schemas.transcript import Segment, Word


@dataclass(frozen=True)
class NemoConfig:
    models: Mapping[str, str] = field(default_factory=dict)  # name -> .nemo path or pretrained
    allow_downloads: bool = False
    force_cpu: bool = False
    batch_size: int = 1
    name: str = "nemo"


class NemoProvider(TorchEngine):
    _config: NemoConfig
    extra = "nemo"
    modules = ("torch", "nemo")
    models_setting = "STT_NEMO_MODELS"

    def _is_local(self, location: str) -> bool:
        return location.endswith(".nemo") and Path(location).is_file()

    def _load(self, model: str, location: str, device: str) -> Any:
        from nemo.collections.asr.models import ASRModel

        if self._is_local(location):
            loaded = ASRModel.restore_from(location, map_location=device)
        else:
            loaded = ASRModel.from_pretrained(model_name=location, map_location=device)
        loaded.eval()
        return loaded

    def capabilities(self) -> Capabilities:
        return Capabilities(
            name=self.name,
            models=self.available_models(),
            word_timestamps=True,
            translation=True,
            auto_language=False,
            hardware=["cpu", "gpu"],
        )

    @staticmethod
    def _multitask(loaded: Any) -> bool:
        """Canary-style models (``EncDecMultiTaskModel``) take languages and a task."""
        return type(loaded).__name__ == "EncDecMultiTaskModel"

    def iter_segments(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        loaded = self.load(model)
        kwargs: dict[str, Any] = {
            "batch_size": self._config.batch_size,
            "timestamps": True,
            "verbose": False,
        }
        language = options.language or "en"
        if self._multitask(loaded):
            translate = options.task is Task.TRANSLATE
            kwargs.update(
                source_lang=language,
                target_lang="en" if translate else language,
                task="ast" if translate else "asr",
                pnc="yes",
            )
        elif options.task is Task.TRANSLATE or language != "en":
            raise CapabilityNotSupported(
                f"NeMo model '{model}' transcribes English only; use a Canary model to translate "
                "or for other languages",
                param="language" if options.task is Task.TRANSCRIBE else "model",
            )
        try:
            with self.exclusive(model):
                result = loaded.transcribe([audio.samples], **kwargs)
        except RuntimeError as exc:
            raise self.failure(exc, "NeMo failed") from exc
        if isinstance(result, tuple):  # RNNT models of older releases: (best, all)
            result = result[0]
        hypothesis = result[0]
        return SegmentStream(
            language="en" if options.task is Task.TRANSLATE else language,
            language_probability=None,
            duration=audio.duration,
            segments=iter(segments_from_hypothesis(hypothesis, audio.duration)),
        )


def _seconds(item: Mapping[str, Any], key: str) -> float:
    return float(item.get(key) or 0.0)


def segments_from_hypothesis(hypothesis: Any, duration: float) -> list[Segment]:
    """A NeMo ``Hypothesis`` (or its plain text) -> canonical segments with words."""
    if isinstance(hypothesis, str):
        text, stamps = hypothesis, {}
    else:
        text, stamps = str(hypothesis.text or ""), dict(getattr(hypothesis, "timestamp", {}) or {})
    words = [
        Word(
            word=str(w.get("word", "")),
            start=_seconds(w, "start"),
            end=_seconds(w, "end"),
            probability=1.0,
        )
        for w in stamps.get("word") or []
    ]
    raw: Sequence[Mapping[str, Any]] = stamps.get("segment") or []
    if not raw:
        end = words[-1].end if words else duration
        raw = [{"segment": text, "start": words[0].start if words else 0.0, "end": end}]
    segments: list[Segment] = []
    for index, seg in enumerate(raw):
        start, end = _seconds(seg, "start"), _seconds(seg, "end")
        last = index == len(raw) - 1
        mine = [w for w in words if start <= w.start < end or (last and w.start >= start)]
        segments.append(
            Segment(
                id=index,
                start=start,
                end=max(start, end),
                text=str(seg.get("segment", "")),
                words=mine or None,
            )
        )
    return segments
