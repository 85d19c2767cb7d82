"""Live audio frames: raw little-endian PCM16/float32 bytes to 16 kHz mono float32.

Resampling keeps state across frames (PyAV's FFmpeg resampler), so chunk boundaries leave no
clicks or gaps whatever size the client's frames are.
"""

from __future__ import annotations

from typing import Any

import av
import numpy as np

from providers.base import SAMPLE_RATE
from schemas.errors import InvalidRequest
from schemas.streaming import Encoding

_DTYPES: dict[Encoding, np.dtype[Any]] = {
    Encoding.PCM16: np.dtype("<i2"),
    Encoding.FLOAT32: np.dtype("<f4"),
}
_AV_FORMATS = {Encoding.PCM16: "s16", Encoding.FLOAT32: "flt"}


def samples_from_bytes(data: bytes, encoding: Encoding) -> np.ndarray:
    """Interpret ``data`` as mono samples; raises :class:`InvalidRequest` on garbage."""
    width = encoding.sample_width
    if len(data) % width:
        raise InvalidRequest(
            f"{encoding.value} audio must be a whole number of {width}-byte samples; "
            f"got {len(data)} bytes",
            code="invalid_audio",
        )
    samples = np.frombuffer(data, dtype=_DTYPES[encoding])
    if encoding is Encoding.FLOAT32 and not np.isfinite(samples).all():
        raise InvalidRequest("float32 audio contains NaN or infinite samples", code="invalid_audio")
    return samples


class FrameConverter:
    """Converts one session's frames to 16 kHz float32, resampling statefully when needed."""

    def __init__(self, sample_rate: int, encoding: Encoding) -> None:
        self.sample_rate = sample_rate
        self.encoding = encoding
        self._resampler = (
            None
            if sample_rate == SAMPLE_RATE
            else av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        )

    def convert(self, data: bytes) -> np.ndarray:
        samples = samples_from_bytes(data, self.encoding)
        if self._resampler is None:
            if self.encoding is Encoding.PCM16:
                return samples.astype(np.float32) / 32768.0
            return np.clip(samples, -1.0, 1.0).astype(np.float32)
        if samples.size == 0:
            return np.zeros(0, dtype=np.float32)
        frame = av.AudioFrame.from_ndarray(
            samples.reshape(1, -1), format=_AV_FORMATS[self.encoding], layout="mono"
        )
        frame.sample_rate = self.sample_rate
        return self._collect(self._resampler.resample(frame))

    def flush(self) -> np.ndarray:
        """Samples still inside the resampler (call once, at the end of the stream)."""
        if self._resampler is None:
            return np.zeros(0, dtype=np.float32)
        return self._collect(self._resampler.resample(None))

    @staticmethod
    def _collect(frames: list[av.AudioFrame]) -> np.ndarray:
        if not frames:
            return np.zeros(0, dtype=np.float32)
        out = np.concatenate([f.to_ndarray().reshape(-1) for f in frames])
        return np.clip(out, -1.0, 1.0).astype(np.float32, copy=False)
