"""Audio warnings (``metadata.warnings``): what about the recording may hurt the transcript.

Computed once per recording on the decoded 16 kHz samples, vectorised over 20 ms frames:

* ``low_sample_rate``: the source was recorded under 16 kHz (telephone audio loses the
  consonants Whisper needs); known from the container, not from the resampled samples;
* ``low_level``: the level of the non-silent frames is under ``STT_WARN_MIN_RMS_DBFS``;
* ``clipping``: more than ``STT_WARN_CLIPPING_FRACTION`` of the samples are at full scale;
* ``mostly_silence``: more than ``STT_WARN_SILENCE_FRACTION`` of the frames are below
  ``STT_WARN_SILENCE_DBFS``;
* ``very_short_speech``: the frames above that floor add up to under ``STT_WARN_MIN_SPEECH_S``.

Warnings never fail a transcription; an empty list means the checks ran and found nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.services.transcription.frames import (
    count_at_or_over,
    dbfs,
    frame_power,
    speech_level_dbfs,
)
from providers.base import AudioInput
from schemas.quality import AudioWarning

MIN_SAMPLE_RATE = 16_000
FRAME_S = 0.02
#: a sample this close to full scale counts as clipped (resampling rounds exact 1.0 down)
CLIP_LEVEL = 0.99


@dataclass(frozen=True)
class WarningThresholds:
    min_rms_dbfs: float = -40.0
    silence_dbfs: float = -50.0
    silence_fraction: float = 0.9
    clipping_fraction: float = 0.001
    min_speech_s: float = 1.0


def audio_warnings(audio: AudioInput, thresholds: WarningThresholds) -> list[AudioWarning]:
    """The warnings about ``audio`` (in the order listed above)."""
    warnings: list[AudioWarning] = []
    source_rate = audio.source_rate or audio.sample_rate
    if source_rate < MIN_SAMPLE_RATE:
        warnings.append(
            AudioWarning(
                code="low_sample_rate",
                message=f"the audio was recorded at {source_rate} Hz; under 16 kHz the "
                "transcript loses accuracy",
            )
        )
    samples = np.asarray(audio.samples, dtype=np.float32)
    frame = max(1, round(FRAME_S * audio.sample_rate))
    usable = len(samples) // frame * frame
    if usable == 0:
        return warnings
    power = frame_power(samples, frame, audio.sample_rate)
    loud = dbfs(power) >= thresholds.silence_dbfs
    level = speech_level_dbfs(power, thresholds.silence_dbfs)
    if level < thresholds.min_rms_dbfs:
        warnings.append(
            AudioWarning(
                code="low_level",
                message=f"the speech level is {level:.1f} dBFS, under "
                f"{thresholds.min_rms_dbfs:.0f} dBFS: the recording is very quiet",
            )
        )
    clipped = count_at_or_over(samples, CLIP_LEVEL) / len(samples)
    if clipped > thresholds.clipping_fraction:
        warnings.append(
            AudioWarning(
                code="clipping",
                message=f"{clipped:.2%} of the samples are at full scale: the recording is "
                "clipped (distorted)",
            )
        )
    silent = 1.0 - float(loud.mean())
    if silent > thresholds.silence_fraction:
        warnings.append(
            AudioWarning(
                code="mostly_silence",
                message=f"{silent:.0%} of the audio is silence (under "
                f"{thresholds.silence_dbfs:.0f} dBFS)",
            )
        )
    speech_s = float(np.count_nonzero(loud)) * frame / audio.sample_rate
    if speech_s < thresholds.min_speech_s:
        warnings.append(
            AudioWarning(
                code="very_short_speech",
                message=f"only {speech_s:.1f} s of the audio is louder than silence",
            )
        )
    return warnings
