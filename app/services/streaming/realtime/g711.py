"""G.711 mu-law and A-law (ITU-T G.711) to linear PCM16, by 256-entry lookup tables."""

from __future__ import annotations

import numpy as np


def _ulaw(byte: int) -> int:
    u = ~byte & 0xFF
    magnitude = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 0x07)
    return -(magnitude - 0x84) if u & 0x80 else magnitude - 0x84


def _alaw(byte: int) -> int:
    a = byte ^ 0x55
    exponent, mantissa = (a >> 4) & 0x07, a & 0x0F
    base = (mantissa << 4) + (8 if exponent == 0 else 0x108)
    magnitude = base << (exponent - 1) if exponent else base
    return magnitude if a & 0x80 else -magnitude


ULAW = np.array([_ulaw(b) for b in range(256)], dtype="<i2")
ALAW = np.array([_alaw(b) for b in range(256)], dtype="<i2")


def decode(data: bytes, table: np.ndarray) -> bytes:
    """G.711 bytes (8 bits a sample) to little-endian PCM16 bytes."""
    return table[np.frombuffer(data, dtype=np.uint8)].tobytes()
