"""Per-frame signal power of decoded audio, with bounded memory.

Audio warnings and chunk planning both look at 20 ms frames of a whole recording. Squaring an
hour of 16 kHz float32 samples in float64 at once takes a 490 MB temporary (and a
``reshape``/``mean`` over it another); here the frames are summed a minute at a time, so an
hour costs a few MB beyond the per-frame result.
"""

from __future__ import annotations

import numpy as np

BLOCK_S = 60.0
_EPS = 1e-10


def dbfs(power: np.ndarray | float) -> np.ndarray:
    """Mean square power in dB relative to full scale (floored at -100 dB)."""
    return 10 * np.log10(np.maximum(power, _EPS))


def speech_level_dbfs(power: np.ndarray, floor_dbfs: float) -> float:
    """The level of the frames at or above ``floor_dbfs`` (all frames when none are): the
    speech level that the ``low_level`` warning judges and the enhancement raises."""
    loud = dbfs(power) >= floor_dbfs
    active = power[loud] if loud.any() else power
    return float(dbfs(active.mean()))


def frame_power(samples: np.ndarray, frame: int, sample_rate: int) -> np.ndarray:
    """Mean square of each whole ``frame``-sample frame of ``samples`` (float64)."""
    count = len(samples) // frame
    power = np.empty(count, dtype=np.float64)
    step = max(1, int(BLOCK_S * sample_rate) // frame)
    for first in range(0, count, step):
        last = min(count, first + step)
        block = samples[first * frame : last * frame].reshape(last - first, frame)
        power[first:last] = np.einsum("ij,ij->i", block, block, dtype=np.float64) / frame
    return power


def count_at_or_over(samples: np.ndarray, level: float) -> int:
    """Samples whose magnitude reaches ``level`` (no ``abs`` copy of the whole recording)."""
    return int(np.count_nonzero(samples >= level)) + int(np.count_nonzero(samples <= -level))
