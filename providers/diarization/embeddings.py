"""Sliding-window speaker embeddings with the Resemblyzer encoder (``pretrained.pt`` ships in the
package; nothing is downloaded).

Inside every speech region a window of ``window_s`` slides by ``step_s``; a region shorter than
one window is embedded whole, widened to ``min_window_s`` around its middle so a short
backchannel still gets a usable vector. Each region's loudness is normalised first (the encoder
reads mel power, so a quiet far-field talker would otherwise look like another voice). Windows
of one length go through the encoder in batches; only the small vectors are kept (256 floats per
window: about 7 MB for an hour of speech at the default step) and one batch of spectrograms.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from loguru import logger

FRAME_S = 0.01  # the encoder's mel hop
BATCH = 64
TARGET_DBFS = -30.0


@dataclass(frozen=True)
class WindowConfig:
    window_s: float = 1.5
    step_s: float = 0.5
    min_window_s: float = 0.8


@dataclass(frozen=True)
class Windows:
    """``spans[i]`` (start, end seconds) was embedded as the unit row ``vectors[i]``."""

    spans: np.ndarray  # (n, 2) float
    vectors: np.ndarray  # (n, dim) float32

    def __len__(self) -> int:
        return len(self.spans)


def window_spans(
    regions: Sequence[tuple[float, float]], duration: float, config: WindowConfig
) -> list[tuple[float, float]]:
    """Where the windows lie: sliding inside long regions, one widened window for short ones."""
    spans: list[tuple[float, float]] = []
    for start, end in regions:
        length = end - start
        if length < config.window_s:
            width = max(length, config.min_window_s)
            middle = (start + end) / 2
            lo = min(max(0.0, middle - width / 2), max(0.0, duration - width))
            spans.append((lo, min(duration, lo + width)))
            continue
        count = int(np.floor((length - config.window_s) / config.step_s)) + 1
        starts = [start + i * config.step_s for i in range(count)]
        if end - (starts[-1] + config.window_s) > config.step_s / 2:
            starts.append(end - config.window_s)  # the region's tail gets its own window
        spans.extend((s, s + config.window_s) for s in starts)
    return spans


def _normalised(piece: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(piece.astype(np.float64) ** 2)))
    if rms < 1e-6:
        return piece.astype(np.float32)
    gain = 10 ** (TARGET_DBFS / 20) / rms
    return (piece * gain).astype(np.float32)


class ResemblyzerEncoder:
    """Loads the encoder once (lazily); thread-safe (one forward pass at a time)."""

    dim = 256

    def __init__(self, device: str = "cpu") -> None:
        self.device = device
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                from resemblyzer import VoiceEncoder

                logger.info("loading Resemblyzer speaker encoder on {}", self.device)
                self._model = VoiceEncoder(device=self.device, verbose=False)
        return self._model

    def embed(
        self,
        samples: np.ndarray,
        sample_rate: int,
        regions: Sequence[tuple[float, float]],
        config: WindowConfig,
    ) -> Windows:
        from resemblyzer.audio import wav_to_mel_spectrogram

        duration = len(samples) / sample_rate
        spans = window_spans(regions, duration, config)
        if not spans:
            return Windows(np.zeros((0, 2)), np.zeros((0, self.dim), dtype=np.float32))
        vectors = np.zeros((len(spans), self.dim), dtype=np.float32)
        for first in range(0, len(spans), BATCH):  # only one batch of spectrograms at a time
            by_length: dict[int, list[tuple[int, np.ndarray]]] = {}
            for i in range(first, min(first + BATCH, len(spans))):
                start, end = spans[i]
                piece = samples[int(start * sample_rate) : int(end * sample_rate)]
                mel = wav_to_mel_spectrogram(_normalised(piece))
                by_length.setdefault(len(mel), []).append((i, mel))
            for group in by_length.values():
                rows = [i for i, _ in group]
                vectors[rows] = self._forward(np.stack([mel for _, mel in group]))
        return Windows(np.asarray(spans, dtype=np.float64), vectors)

    def _forward(self, mels: np.ndarray) -> np.ndarray:
        import torch

        model = self._load()
        with self._lock, torch.no_grad():
            batch = torch.from_numpy(mels).to(model.device)
            return model(batch).cpu().numpy()
