"""Multichannel test recordings: speech placed at chosen times on each channel of a WAV."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from app.services.transcription.audio import decode_file


def multichannel_wav(path: Path, channels: list[list[tuple[float, Path]]]) -> None:
    """Write a 16 kHz WAV with one channel per list of ``(start_s, speech_file)`` placements
    (a call recording: each party on a channel of its own, free to talk over the other)."""
    placed = []
    for placements in channels:
        track = np.zeros(0, dtype=np.float32)
        for start, file in placements:
            samples = decode_file(file, max_duration_s=600).samples
            first = int(start * 16_000)
            if track.size < first + samples.size:
                track = np.pad(track, (0, first + samples.size - track.size))
            track[first : first + samples.size] += samples
        placed.append(track)
    length = max(t.size for t in placed) + 8_000  # half a second of silence at the end
    frames = np.stack([np.pad(t, (0, length - t.size)) for t in placed], axis=1)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(len(channels))
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes((np.clip(frames, -1, 1) * 32767).astype("<i2").tobytes())
