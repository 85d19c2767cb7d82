"""Speaker diarization: Resemblyzer speaker embeddings per transcript segment, clustered.

Optional extra ``diarization`` (``resemblyzer``, ``torch``, ``scikit-learn``; the speaker encoder
``pretrained.pt`` ships inside the Resemblyzer package, nothing is downloaded).

Each segment's audio is embedded (a 256-dimensional unit vector, d-vector); the vectors are
clustered agglomeratively on cosine distance (average linkage). The speaker count is

* the caller's ``num_speakers`` when given;
* otherwise the number of clusters left when the dendrogram is cut at ``distance_threshold``,
  clamped into ``[min_speakers, max_speakers]``.

Speakers are labelled ``A``, ``B``, ... in order of first appearance (OpenAI's
``diarized_json`` convention); words inherit their segment's speaker.
"""

from __future__ import annotations

import string
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from loguru import logger

from providers.base import AudioInput
from providers.torch_engine import missing_modules
from schemas.errors import CapabilityNotSupported
from schemas.options import MAX_SPEAKERS, DiarizationOptions
from schemas.transcript import Diarization, Segment, Transcript

MIN_EMBED_S = 0.3  # resemblyzer trims silence; below this the raw slice is embedded instead


@dataclass(frozen=True)
class DiarizerConfig:
    device: str = "cpu"
    distance_threshold: float = 0.3  # cosine distance; same-voice segments sit well below
    max_speakers: int = 8


def missing_extra() -> str | None:
    """Why diarization cannot run here, or ``None`` when it can (checks without importing)."""
    return missing_modules(("resemblyzer", "torch", "sklearn", "webrtcvad"), "diarization")


def speaker_label(index: int) -> str:
    letters = string.ascii_uppercase
    return letters[index] if index < len(letters) else f"S{index + 1}"


def cluster(
    embeddings: np.ndarray, options: DiarizationOptions, *, threshold: float, max_speakers: int
) -> np.ndarray:
    """Cluster unit row vectors; returns a cluster index per row, numbered by first appearance."""
    n = len(embeddings)
    if n == 0:
        return np.zeros(0, dtype=int)
    low = options.min_speakers or 1
    high = min(options.max_speakers or max_speakers, MAX_SPEAKERS, n)
    if options.num_speakers is not None:
        count = min(options.num_speakers, n)
    elif n == 1:
        count = 1
    else:
        count = _count_at_threshold(embeddings, threshold)
    count = max(min(count, high), min(low, n))
    if count <= 1:
        return np.zeros(n, dtype=int)
    from sklearn.cluster import AgglomerativeClustering

    raw = AgglomerativeClustering(n_clusters=count, metric="cosine", linkage="average").fit_predict(
        embeddings
    )
    order: dict[int, int] = {}
    for value in raw:
        order.setdefault(int(value), len(order))
    return np.array([order[int(v)] for v in raw], dtype=int)


def _count_at_threshold(embeddings: np.ndarray, threshold: float) -> int:
    from sklearn.cluster import AgglomerativeClustering

    model = AgglomerativeClustering(
        n_clusters=None, distance_threshold=threshold, metric="cosine", linkage="average"
    ).fit(embeddings)
    return int(model.n_clusters_)


class SpeakerDiarizer:
    """Loads the Resemblyzer encoder once (lazily) and labels transcripts with speakers."""

    def __init__(self, config: DiarizerConfig | None = None) -> None:
        self.config = config or DiarizerConfig()
        self.missing = missing_extra()
        self._encoder: Any = None
        self._lock = threading.Lock()

    @property
    def available(self) -> bool:
        return self.missing is None

    def _load(self) -> Any:
        if self._encoder is not None:
            return self._encoder
        if self.missing:
            raise CapabilityNotSupported(
                f"diarization is unavailable on this deployment: {self.missing}",
                param="diarize",
            )
        with self._lock:
            if self._encoder is None:
                from resemblyzer import VoiceEncoder

                logger.info("loading Resemblyzer speaker encoder on {}", self.config.device)
                self._encoder = VoiceEncoder(device=self.config.device, verbose=False)
        return self._encoder

    def embed(self, audio: AudioInput, spans: Sequence[tuple[float, float]]) -> np.ndarray:
        """One unit-length speaker embedding per ``(start, end)`` span of ``audio``."""
        from resemblyzer import preprocess_wav

        encoder = self._load()
        rate = audio.sample_rate
        vectors = []
        for start, end in spans:
            piece = audio.samples[int(start * rate) : max(int(end * rate), int(start * rate) + 1)]
            wav = preprocess_wav(piece.astype(np.float32), source_sr=rate)
            if len(wav) < MIN_EMBED_S * 16_000:
                wav = piece.astype(np.float32)
            with self._lock:
                vectors.append(encoder.embed_utterance(wav))
        return np.vstack(vectors) if vectors else np.zeros((0, 256), dtype=np.float32)

    def diarize(
        self, transcript: Transcript, audio: AudioInput, options: DiarizationOptions
    ) -> Transcript:
        """Return ``transcript`` with a speaker on every segment and word."""
        segments = transcript.segments
        embeddings = self.embed(audio, [(s.start, s.end) for s in segments])
        labels = cluster(
            embeddings,
            options,
            threshold=self.config.distance_threshold,
            max_speakers=self.config.max_speakers,
        )
        labelled = [
            label_segment(s, speaker_label(int(k))) for s, k in zip(segments, labels, strict=True)
        ]
        speakers = len(set(labels.tolist())) if len(labels) else 0
        return transcript.model_copy(
            update={
                "segments": labelled,
                "diarization": Diarization(enabled=True, speakers=speakers),
            }
        )


def label_segment(segment: Segment, speaker: str) -> Segment:
    words = [w.model_copy(update={"speaker": speaker}) for w in segment.words or ()] or None
    return segment.model_copy(update={"speaker": speaker, "words": words})
