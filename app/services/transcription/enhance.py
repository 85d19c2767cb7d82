"""Optional enhancement before transcription (``STT_ENHANCE``): a speech band-pass and a gain
that brings the speech level to ``STT_ENHANCE_TARGET_DBFS``, run as an FFmpeg filter graph
(PyAV, in process) over the decoded 16 kHz samples.

Why a fixed gain and not ``loudnorm``/``dynaudnorm``: those filters carry state from one
sample to the next (loudnorm's single pass adapts over its first seconds), so a job chunk
decoded alone would be filtered differently from the same span sliced out of the whole
recording. Here the gain is computed from the unit being transcribed (the whole upload of a
request, one chunk of a job) with the same active-frame level as the ``low_level`` warning,
and the band-pass biquads settle within milliseconds: a chunk gets the same samples whichever
worker decodes it. The enhanced copy is of that unit only, so a long job never holds the
recording twice; the original samples still feed the audio warnings (they describe the
recording, not what the model was given) and diarization.

Modes: ``off``; ``on`` (every unit); ``auto`` (only a unit whose speech level is under
``STT_WARN_MIN_RMS_DBFS``, the quiet recordings where the measurement shows it helps; see
Docs/Transcript_Intelligence.md#enhancement).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import av
import numpy as np
from av.filter import Graph

from app.services.transcription.audio_warnings import FRAME_S
from app.services.transcription.frames import frame_power, speech_level_dbfs
from providers.base import AudioInput
from schemas.quality import Enhancement

BLOCK_S = 10.0  # samples pushed through the graph per frame


class EnhanceMode(StrEnum):
    OFF = "off"
    ON = "on"
    AUTO = "auto"


@dataclass(frozen=True)
class EnhanceSettings:
    mode: EnhanceMode = EnhanceMode.OFF
    target_dbfs: float = -20.0
    max_gain_db: float = 40.0
    highpass_hz: float = 80.0  # 0: none
    lowpass_hz: float = 7600.0  # 0: none
    #: ``auto`` enhances a unit whose speech level is under this (the ``low_level`` warning's)
    auto_below_dbfs: float = -40.0
    #: frames under this are silence when the speech level is measured
    silence_dbfs: float = -50.0

    def band(self) -> list[str]:
        """The band-pass part of the filter chain."""
        filters = []
        if self.highpass_hz > 0:
            filters.append(f"highpass=f={self.highpass_hz:g}")
        if self.lowpass_hz > 0:
            filters.append(f"lowpass=f={self.lowpass_hz:g}")
        return filters


def enhance(audio: AudioInput, settings: EnhanceSettings) -> tuple[AudioInput, Enhancement | None]:
    """``audio`` enhanced as ``settings`` ask, and what was done (``None``: left as it was)."""
    if settings.mode is EnhanceMode.OFF or audio.samples.size == 0:
        return audio, None
    level = measure_level(audio, settings.silence_dbfs)
    if settings.mode is EnhanceMode.AUTO and level >= settings.auto_below_dbfs:
        return audio, None
    gain = round(min(settings.target_dbfs - level, settings.max_gain_db), 1)
    filters = [*settings.band(), f"volume={gain:g}dB"]
    samples = run_filters(audio.samples, audio.sample_rate, filters)
    enhanced = AudioInput(samples, audio.sample_rate, audio.source_rate)
    return enhanced, Enhancement(
        filters=",".join(filters), level_dbfs=round(level, 1), gain_db=gain
    )


def measure_level(audio: AudioInput, silence_dbfs: float) -> float:
    """The speech level of ``audio`` in dBFS (frames under ``silence_dbfs`` left out)."""
    frame = max(1, round(FRAME_S * audio.sample_rate))
    samples = np.asarray(audio.samples, dtype=np.float32)
    if len(samples) < frame:
        samples = np.pad(samples, (0, frame - len(samples)))
    return speech_level_dbfs(frame_power(samples, frame, audio.sample_rate), silence_dbfs)


def run_filters(samples: np.ndarray, sample_rate: int, filters: list[str]) -> np.ndarray:
    """``samples`` (mono float32) through the FFmpeg filters ``filters`` (``name=args`` each),
    into one new array of the same length."""
    graph = Graph()
    node = graph.add_abuffer(format="flt", sample_rate=sample_rate, layout="mono", channels=1)
    for spec in filters:
        name, _, args = spec.partition("=")
        step = graph.add(name, args or None)
        node.link_to(step)
        node = step
    sink = graph.add("abuffersink")
    node.link_to(sink)
    graph.configure()
    source = np.ascontiguousarray(samples, dtype=np.float32)
    out = np.empty_like(source)
    written = 0

    def drain() -> None:
        nonlocal written
        while True:
            try:
                frame = graph.pull()
            except (av.BlockingIOError, av.EOFError):
                return
            chunk = frame.to_ndarray().reshape(-1)
            out[written : written + chunk.size] = chunk
            written += chunk.size

    block = int(BLOCK_S * sample_rate)
    for first in range(0, len(source), block):
        part = source[first : first + block]
        frame = av.AudioFrame.from_ndarray(part.reshape(1, -1), format="flt", layout="mono")
        frame.sample_rate = sample_rate
        frame.pts = first
        graph.push(frame)
        drain()
    graph.push(None)
    drain()
    return out[:written]
