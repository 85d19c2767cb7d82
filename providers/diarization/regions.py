"""Speech regions from the Silero VAD that faster-whisper ships (no extra model, no download).

Diarization wants every stretch of speech, quiet and far-field included, and boundaries close to
where speech starts and stops: a lower speech threshold than faster-whisper's transcription
default (0.5), short silences (a pause between two speakers' turns) and a small pad. Long audio
is scanned in blocks of ``BLOCK_S`` so the VAD's working memory stays bounded; a region cut by a
block edge is joined again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BLOCK_S = 120.0


@dataclass(frozen=True)
class VadConfig:
    threshold: float = 0.25
    min_silence_s: float = 0.3
    min_speech_s: float = 0.1
    pad_s: float = 0.1


def speech_regions(
    samples: np.ndarray, sample_rate: int, config: VadConfig | None = None
) -> list[tuple[float, float]]:
    """``(start, end)`` seconds of every speech region of ``samples`` (16 kHz mono)."""
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    config = config or VadConfig()
    options = VadOptions(
        threshold=config.threshold,
        min_silence_duration_ms=round(config.min_silence_s * 1000),
        min_speech_duration_ms=round(config.min_speech_s * 1000),
        speech_pad_ms=round(config.pad_s * 1000),
    )
    block = int(BLOCK_S * sample_rate)
    regions: list[tuple[float, float]] = []
    for first in range(0, len(samples), block):
        piece = samples[first : first + block]
        for span in get_speech_timestamps(piece, options, sampling_rate=sample_rate):
            start, end = (first + span["start"]) / sample_rate, (first + span["end"]) / sample_rate
            if regions and start - regions[-1][1] <= config.min_silence_s:
                start = regions.pop()[0]
            regions.append((start, end))
    return regions
