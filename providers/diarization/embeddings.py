"""Sliding-window speaker embeddings with the Resemblyzer encoder (``pretrained.pt`` ships in the
package; nothing is downloaded).

Inside every speech region a window of ``window_s`` slides by ``step_s``; a region shorter than
one window is embedded whole, widened to ``min_window_s`` around its middle so a short
backchannel still gets a usable vector. Each window's loudness is normalised (the encoder reads
mel power, so a quiet far-field talker would otherwise look like another voice); the mel
spectrogram is computed once per region, then sliced into windows and rescaled. Windows of one
length go through the encoder in batches; only the small vectors are kept (256 floats per
window: about 14 MB for an hour of speech at the default step) and one batch of spectrograms
(6 MB).

The step (0.25 s, each instant seen by six windows) is finer than the turn resolution needs:
the denser sample of each voice is what clusters better (Docs/Diarization.md, ablation).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from loguru import logger

FRAME_S = 0.01  # the encoder's mel hop
BATCH = 128  # windows per forward pass (the LSTM costs per time step, so wide batches are cheap)
TARGET_DBFS = -30.0


@dataclass(frozen=True)
class WindowConfig:
    window_s: float = 1.5
    step_s: float = 0.25
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


def _gain(piece: np.ndarray) -> float:
    """The amplitude gain that brings ``piece`` to ``TARGET_DBFS``."""
    rms = float(np.sqrt(np.mean(piece.astype(np.float64) ** 2))) if len(piece) else 0.0
    return 1.0 if rms < 1e-6 else 10 ** (TARGET_DBFS / 20) / rms


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
        spans: list[tuple[float, float]] = []
        vectors: list[np.ndarray] = []
        pending: list[np.ndarray] = []  # spectrograms waiting for a batch
        for region in regions:
            inside = window_spans([region], duration, config)
            if not inside:
                continue
            lo, hi = inside[0][0], max(end for _, end in inside)
            mel = wav_to_mel_spectrogram(samples[int(lo * sample_rate) : int(hi * sample_rate)])
            for start, end in inside:  # one spectrogram per region, sliced and rescaled
                first = round((start - lo) / FRAME_S)
                last = max(first + 1, min(len(mel), round((end - lo) / FRAME_S)))
                gain = _gain(samples[int(start * sample_rate) : int(end * sample_rate)])
                pending.append(mel[first:last] * np.float32(gain**2))  # mel is power: gain^2
                spans.append((start, end))
            if len(pending) >= BATCH:
                vectors.append(self._embed_all(pending))
                pending = []
        if pending:
            vectors.append(self._embed_all(pending))
        if not spans:
            return Windows(np.zeros((0, 2)), np.zeros((0, self.dim), dtype=np.float32))
        return Windows(np.asarray(spans, dtype=np.float64), np.concatenate(vectors))

    def _embed_all(self, mels: list[np.ndarray]) -> np.ndarray:
        """One vector per spectrogram; spectrograms of one length share forward passes of at
        most ``BATCH``."""
        out = np.zeros((len(mels), self.dim), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for i, mel in enumerate(mels):
            by_length.setdefault(len(mel), []).append(i)
        for rows in by_length.values():
            for first in range(0, len(rows), BATCH):  # the LSTM's workspace grows with a batch
                part = rows[first : first + BATCH]
                out[part] = self._forward(np.stack([mels[i] for i in part]))
        return out

    def _forward(self, mels: np.ndarray) -> np.ndarray:
        import torch

        model = self._load()
        with self._lock, torch.no_grad():
            batch = torch.from_numpy(mels).to(model.device)
            return model(batch).cpu().numpy()
