"""Speech emotion recognition (SER): an emotion class and score for every transcript segment.

A wav2vec2-style sequence-classification checkpoint runs through the ``transformers``
audio-classification pipeline (extra ``transformers``). ``STT_EMOTION_MODEL`` names it: a local
directory (``save_pretrained`` output: ``config.json`` with the ``id2label`` classes, the
weights, ``preprocessor_config.json``) or a hub id, which loads only where
``STT_ALLOW_MODEL_DOWNLOADS`` is on and the hub is reachable. The classes are the checkpoint's
own. Loaded on first use, once; one inference at a time (a PyTorch module is not safe to call
from two threads).

Each segment's audio is cut from the decoded 16 kHz recording (a view, not a copy). wav2vec2
SER checkpoints are trained on utterances of a few seconds, so a segment shorter than
:data:`MIN_CLIP_S` is heard with its surroundings, widened to that length around its centre
(inside the recording; a recording shorter than that is zero-padded), and one longer than
:data:`MAX_CLIP_S` by its central part. Clips are classified in batches of
``STT_EMOTION_BATCH_SIZE``, sorted by length so that a batch pads little.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from loguru import logger

from providers.base import AudioInput
from providers.torch_engine import inference_failure, missing_modules, torch_device
from schemas.emotion import Emotion, EmotionSummary
from schemas.errors import CapabilityNotSupported
from schemas.transcript import Segment, Transcript

MIN_CLIP_S = 1.0
MAX_CLIP_S = 30.0


@dataclass(frozen=True)
class EmotionConfig:
    model: str = ""  # local directory or hub id; empty: not configured
    allow_downloads: bool = False
    force_cpu: bool = False
    batch_size: int = 8


def clip_span(start: float, end: float, duration: float) -> tuple[float, float]:
    """The part of a ``duration``-second recording classified for the segment ``[start, end]``:
    the segment itself, widened to :data:`MIN_CLIP_S` or narrowed to :data:`MAX_CLIP_S`
    around its centre, shifted to lie inside the recording."""
    length = end - start
    if MIN_CLIP_S <= length <= MAX_CLIP_S:
        return start, end
    length = min(max(length, MIN_CLIP_S), MAX_CLIP_S, duration)
    low = min(max((start + end) / 2 - length / 2, 0.0), duration - length)
    return low, low + length


def segment_clip(audio: AudioInput, segment: Segment) -> np.ndarray:
    """The samples classified for ``segment`` (:func:`clip_span`), at least
    :data:`MIN_CLIP_S` long."""
    rate = audio.sample_rate
    low, high = clip_span(segment.start, segment.end, audio.samples.size / rate)
    clip = audio.samples[round(low * rate) : round(high * rate)]
    short = round(MIN_CLIP_S * rate) - clip.size
    if short > 0:  # the whole recording is shorter than one clip
        clip = np.pad(clip, (short // 2, short - short // 2))
    return clip


def summarise(model: str, segments: Sequence[Segment]) -> EmotionSummary:
    """Each label's share of the labelled segments' duration (of their count when every
    labelled segment has zero duration)."""
    labelled = [s for s in segments if s.emotion is not None]
    weights = [s.end - s.start for s in labelled]
    if not any(weights):
        weights = [1.0] * len(labelled)
    shares: dict[str, float] = defaultdict(float)
    for segment, weight in zip(labelled, weights, strict=True):
        assert segment.emotion is not None
        shares[segment.emotion.label] += weight
    total = sum(weights)
    return EmotionSummary(
        model=model,
        segments=len(labelled),
        distribution={label: round(w / total, 4) for label, w in sorted(shares.items())},
    )


class EmotionClassifier:
    def __init__(self, config: EmotionConfig) -> None:
        self.config = config
        self.missing = self._why_missing()
        self._pipe: Any = None
        self._load_lock = threading.Lock()
        self._infer_lock = threading.Lock()

    def _why_missing(self) -> str | None:
        model = self.config.model
        if not model:
            return "no emotion model is configured (STT_EMOTION_MODEL)"
        missing = missing_modules(("torch", "transformers"), "transformers")
        if missing is None and not Path(model).is_dir() and not self.config.allow_downloads:
            return (
                f"STT_EMOTION_MODEL '{model}' is not a local directory and "
                "STT_ALLOW_MODEL_DOWNLOADS is off"
            )
        return missing

    @property
    def available(self) -> bool:
        return self.missing is None

    @property
    def model_name(self) -> str:
        """The checkpoint's name as transcripts show it: a hub id, or a local directory's name
        (the server's paths stay private)."""
        model = self.config.model
        return Path(model).name if Path(model).is_dir() else model

    def _load(self) -> Any:
        if self.missing:
            raise CapabilityNotSupported(
                f"emotion recognition is unavailable on this deployment: {self.missing}",
                param="emotion",
            )
        with self._load_lock:
            if self._pipe is None:
                import torch
                from transformers import pipeline

                device = torch_device(self.config.force_cpu)
                logger.info("loading emotion model {} on {}", self.config.model, device)
                try:
                    self._pipe = pipeline(
                        "audio-classification",
                        model=self.config.model,
                        device=device,
                        dtype=torch.float16 if device == "cuda" else torch.float32,
                    )
                except (OSError, ValueError, RuntimeError) as exc:
                    raise inference_failure(exc, "could not load the emotion model") from exc
            return self._pipe

    def classify(self, clips: Sequence[np.ndarray]) -> list[Emotion]:
        """The top class of each 16 kHz clip, in order. Blocking: call it from a worker thread."""
        if not clips:
            return []
        pipe = self._load()
        order = sorted(range(len(clips)), key=lambda i: clips[i].size)
        found: dict[int, Emotion] = {}
        size = self.config.batch_size
        for first in range(0, len(order), size):
            batch = order[first : first + size]
            try:
                with self._infer_lock:
                    outputs = pipe([clips[i] for i in batch], batch_size=size, top_k=1)
            except RuntimeError as exc:
                raise inference_failure(exc, "emotion recognition failed") from exc
            for i, output in zip(batch, outputs, strict=True):
                best = output[0]
                found[i] = Emotion(label=str(best["label"]), score=min(float(best["score"]), 1.0))
        return [found[i] for i in range(len(clips))]

    def label(self, transcript: Transcript, audio: AudioInput) -> Transcript:
        """``transcript`` with an emotion on every segment and ``metadata.emotion``."""
        started = time.perf_counter()
        emotions = self.classify([segment_clip(audio, s) for s in transcript.segments])
        segments = [
            s.model_copy(update={"emotion": e})
            for s, e in zip(transcript.segments, emotions, strict=True)
        ]
        logger.info(
            "emotion: {} segments in {:.2f} s", len(segments), time.perf_counter() - started
        )
        return transcript.model_copy(update={"segments": segments}).with_metadata(
            emotion=summarise(self.model_name, segments)
        )
