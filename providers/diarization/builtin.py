"""The built-in diarization backend: runs offline with what the ``diarization`` extra ships.

1. speech regions from Silero VAD (:mod:`.regions`);
2. sliding-window Resemblyzer embeddings inside them (:mod:`.embeddings`);
3. agglomerative clustering with a calibrated cosine threshold and the request's hints
   (:mod:`.clustering`);
4. resegmentation of the turn boundaries at frame resolution (:mod:`.resegment`);
5. overlapped speech at speaker changes (:mod:`.overlap`).

Overlapped speech: each instant has one main speaker, the voice that dominates the windows
there, and words spoken in it are labelled with that speaker; where the previous voice is still
heard under the next one at a speaker change, that voice gets an overlap turn as well (listed on
the transcript as overlapped speech). The speech is never dropped. The pyannote backend
(:mod:`.pyannote_backend`) reports overlapping turns of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from providers.base import AudioInput
from providers.diarization.clustering import centroids, cluster
from providers.diarization.embeddings import ResemblyzerEncoder, WindowConfig
from providers.diarization.overlap import second_voices
from providers.diarization.regions import VadConfig, speech_regions
from providers.diarization.resegment import FRAME_S, resegment
from providers.diarization.timeline import Turn, merge_adjacent
from providers.torch_engine import missing_modules
from schemas.options import DiarizationOptions


@dataclass(frozen=True)
class BuiltinConfig:
    device: str = "cpu"
    threshold: float = 0.35  # cosine distance between speaker clusters (Docs/Diarization.md)
    max_speakers: int = 8
    min_speaker_s: float = 1.0  # a cluster with less speech than this is not a speaker
    min_turn_s: float = 0.5
    overlap_margin: float = 0.1  # cosine similarity; 0 turns overlap detection off
    overlap_max_s: float = 2.0
    overlap_min_s: float = 0.3  # a clean change blurs this much: no evidence of a second voice
    vad: VadConfig = field(default_factory=VadConfig)
    windows: WindowConfig = field(default_factory=WindowConfig)


class BuiltinBackend:
    """Silero VAD + Resemblyzer windows + clustering + resegmentation."""

    name = "builtin"

    def __init__(self, config: BuiltinConfig | None = None) -> None:
        self.config = config or BuiltinConfig()
        self.missing = missing_modules(("resemblyzer", "torch", "scipy"), "diarization")
        self.encoder = ResemblyzerEncoder(self.config.device)

    def diarize(self, audio: AudioInput, options: DiarizationOptions) -> list[Turn]:
        config = self.config
        regions = speech_regions(audio.samples, audio.sample_rate, config.vad)
        windows = self.encoder.embed(audio.samples, audio.sample_rate, regions, config.windows)
        if not len(windows):
            return []
        weights = self._seconds_per_window(windows.spans, regions)
        labels = cluster(
            windows.vectors,
            options,
            threshold=config.threshold,
            max_speakers=config.max_speakers,
            weights=weights,
            min_speaker_s=config.min_speaker_s,
        )
        centres = centroids(windows.vectors, labels, int(labels.max()) + 1)
        turns, scores = resegment(
            regions,
            windows.spans,
            windows.vectors @ centres.T,
            duration=audio.duration,
            min_turn_s=config.min_turn_s,
        )
        turns = merge_adjacent(turns)
        if config.overlap_margin <= 0:
            return turns
        overlaps = second_voices(
            turns,
            scores,
            frame_s=FRAME_S,
            margin=config.overlap_margin,
            max_s=config.overlap_max_s,
            min_s=config.overlap_min_s,
        )
        return merge_adjacent([*turns, *overlaps])

    @staticmethod
    def _seconds_per_window(spans: np.ndarray, regions: list[tuple[float, float]]) -> np.ndarray:
        """How much speech each window stands for: its region's speech shared among the
        region's windows (so a speaker's weight is his speaking time, not his window count)."""
        weights = np.zeros(len(spans))
        middles = spans.mean(axis=1)
        for start, end in regions:
            inside = (middles >= start) & (middles <= end)
            if inside.any():
                weights[inside] = (end - start) / inside.sum()
        return weights
