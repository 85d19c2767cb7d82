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

import importlib.util
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from providers.base import AudioInput, Provider, SegmentStream
from schemas.errors import (
    CapabilityNotSupported,
    FatalProviderError,
    ModelNotFound,
    RetriableProviderError,
)
from schemas.options import Task, TranscriptionOptions
from schemas.providers import Capabilities, Health
from schemas.transcript import Segment, Word


@dataclass(frozen=True)
class NemoConfig:
    models: Mapping[str, str] = field(default_factory=dict)  # name -> .nemo path or pretrained
    allow_downloads: bool = False
    force_cpu: bool = False
    batch_size: int = 1
    name: str = "nemo"


def missing_extra() -> str | None:
    """Why NeMo cannot be used here, or ``None`` when it can (checks without importing)."""
    for module in ("torch", "nemo"):
        if importlib.util.find_spec(module) is None:
            return f"python package '{module}' is not installed (pip install 'stt-gateway[nemo]')"
    return None


def _is_oom(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower()


class NemoProvider(Provider):
    def __init__(self, config: NemoConfig) -> None:
        self.name = config.name
        self._config = config
        self._models: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._missing = missing_extra()
        self._last_error: str | None = None

    @property
    def device(self) -> str:
        if self._missing or self._config.force_cpu:
            return "cpu"
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"

    def _health_device(self) -> str | None:
        """The device, without importing torch just to answer a health check."""
        return self.device if self._loaded() or self._missing or self._config.force_cpu else None

    def _loaded(self) -> bool:
        return bool(self._models)

    def capabilities(self) -> Capabilities:
        return Capabilities(
            name=self.name,
            models=self.available_models(),
            word_timestamps=True,
            translation=True,
            auto_language=False,
            hardware=["cpu", "gpu"],
        )

    def _local(self, location: str) -> bool:
        return location.endswith(".nemo") and Path(location).is_file()

    def available_models(self) -> list[str]:
        if self._missing:
            return []
        return [
            name
            for name, location in self._config.models.items()
            if self._local(location) or self._config.allow_downloads
        ]

    def healthcheck(self) -> Health:
        detail = self._missing or (
            None if self.available_models() else "no model configured (STT_NEMO_MODELS)"
        )
        return Health(
            provider=self.name,
            available=detail is None,
            loaded_models=sorted(self._models),
            device=self._health_device(),
            last_error=self._last_error,
            detail=detail,
        )

    def load(self, model: str) -> Any:
        if (loaded := self._models.get(model)) is not None:
            return loaded
        if self._missing:
            raise CapabilityNotSupported(f"provider '{self.name}' is unavailable: {self._missing}")
        if model not in self.available_models():
            raise ModelNotFound(
                f"model '{model}' is not configured or not available offline for '{self.name}'",
                param="model",
            )
        with self._lock:
            if (loaded := self._models.get(model)) is not None:
                return loaded
            from nemo.collections.asr.models import ASRModel

            location = self._config.models[model]
            device = self.device
            logger.info("loading NeMo model {} ({}) on {}", model, location, device)
            try:
                if self._local(location):
                    loaded = ASRModel.restore_from(location, map_location=device)
                else:
                    loaded = ASRModel.from_pretrained(model_name=location, map_location=device)
            except (OSError, ValueError, RuntimeError, FileNotFoundError) as exc:
                self._last_error = f"load {model}: {exc}"
                raise (RetriableProviderError if _is_oom(exc) else FatalProviderError)(
                    f"could not load NeMo model '{model}': {exc}"
                ) from exc
            loaded.eval()
            self._locks[model] = threading.Lock()
            self._models[model] = loaded
            return loaded

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
            with self._locks[model]:
                result = loaded.transcribe([audio.samples], **kwargs)
        except RuntimeError as exc:
            self._last_error = str(exc)
            raise (RetriableProviderError if _is_oom(exc) else FatalProviderError)(
                f"NeMo failed: {exc}"
            ) from exc
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
