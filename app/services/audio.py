"""Audio sniffing and decoding to 16 kHz mono float32 with PyAV (FFmpeg).

Sniffing reads the file's leading bytes and accepts only known audio/video container signatures,
so random bytes never reach FFmpeg's permissive probing (which would "decode" noise). Decoding is
blocking and must be called from a worker thread.
"""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np

from providers.base import SAMPLE_RATE, AudioInput
from schemas.errors import AudioDecodeError, InvalidRequest, UnsupportedMediaType

# (offset, signature, format name)
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"RIFF", "wav"),
    (0, b"RF64", "wav"),
    (0, b"ID3", "mp3"),
    (0, b"fLaC", "flac"),
    (0, b"OggS", "ogg"),
    (0, b"\x1a\x45\xdf\xa3", "webm"),
    (4, b"ftyp", "mp4"),
    (0, b"FORM", "aiff"),
    (0, b"#!AMR", "amr"),
    (0, b"caff", "caf"),
    (0, b".snd", "au"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "asf"),
    (0, b"MThd", "midi"),
)
_NON_AUDIO = {"midi"}
SNIFF_BYTES = 4096


def sniff_format(head: bytes) -> str | None:
    """Name the container from its leading bytes, or ``None`` if it is not recognised."""
    for offset, signature, name in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return name
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0:
        return "mpeg"  # MPEG audio frame sync (MP3/MP2) or ADTS AAC
    return None


def _check_container(path: Path) -> str:
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        raise InvalidRequest("the uploaded file is empty", param="file", code="empty_file")
    fmt = sniff_format(head)
    if fmt is None or fmt in _NON_AUDIO:
        raise UnsupportedMediaType(
            "the uploaded file is not a supported audio format (expected wav, mp3, flac, ogg, "
            "webm, m4a/mp4, aiff, amr, caf or au)",
            param="file",
        )
    return fmt


def decode_file(path: Path, *, max_duration_s: float) -> AudioInput:
    """Sniff, then decode the first audio stream to mono 16 kHz float32."""
    fmt = _check_container(path)
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise AudioDecodeError(f"could not read {fmt} audio: {exc}", param="file") from None
    with container:
        if not container.streams.audio:
            raise UnsupportedMediaType("the file contains no audio stream", param="file")
        stream = container.streams.audio[0]
        declared = _declared_duration(container, stream)
        if declared is not None and declared > max_duration_s + 1:
            raise _too_long(declared, max_duration_s)
        samples = _decode_stream(container, stream, max_duration_s)
    if samples.size == 0:
        raise AudioDecodeError("the file contains no decodable audio", param="file")
    if fmt == "wav" and (missing := wav_missing_bytes(path)):
        raise AudioDecodeError(
            f"the WAV file is truncated: its header declares {missing} more bytes of audio than "
            "the file holds",
            param="file",
            code="truncated_audio",
        )
    return AudioInput(samples)


def wav_missing_bytes(path: Path) -> int:
    """How many bytes of the ``data`` chunk a RIFF/WAVE header declares but the file lacks.

    FFmpeg derives a WAV's duration from the file size, so truncation is only visible by
    comparing the header's chunk size with what is on disk. Streaming writers that leave the
    size unset (0 or 0xFFFFFFFF) are not judged.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if handle.read(12)[8:12] != b"WAVE":
            return 0
        offset = 12
        while offset + 8 <= size:
            handle.seek(offset)
            chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
            if chunk_id == b"data":
                if chunk_size in (0, 0xFFFFFFFF):
                    return 0
                return max(0, offset + 8 + chunk_size - size)
            offset += 8 + chunk_size + (chunk_size & 1)
    return 0


def _declared_duration(
    container: av.container.InputContainer, stream: av.audio.stream.AudioStream
) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _too_long(seconds: float, limit: float) -> InvalidRequest:
    return InvalidRequest(
        f"audio is {seconds:.0f}s long; the maximum is {limit:.0f}s",
        param="file",
        code="audio_too_long",
    )


def _decode_stream(
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    max_duration_s: float,
) -> np.ndarray:
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    limit = int(max_duration_s * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    total = 0
    try:
        for frame in container.decode(stream):
            frame.pts = None  # let the resampler ignore gaps/jitter in source timestamps
            for out in resampler.resample(frame):
                chunk = out.to_ndarray().reshape(-1)
                chunks.append(chunk)
                total += chunk.size
            if total > limit:
                raise _too_long(total / SAMPLE_RATE, max_duration_s)
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    except av.FFmpegError as exc:
        raise AudioDecodeError(
            f"audio data is corrupt after {total / SAMPLE_RATE:.2f}s: {exc}", param="file"
        ) from None
    if not chunks:
        return np.zeros(0, dtype=np.float32)
    return np.ascontiguousarray(np.concatenate(chunks), dtype=np.float32)
