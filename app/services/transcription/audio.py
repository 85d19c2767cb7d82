"""Audio sniffing and decoding to 16 kHz mono float32 with PyAV (FFmpeg).

Sniffing reads the file's leading bytes and accepts only known audio/video container signatures,
so random bytes never reach FFmpeg's permissive probing (which would "decode" noise). Decoding is
blocking and must be called from a worker thread. It yields the downmix of all channels, or one
channel of a multichannel file (``channel=``, for ``multichannel=true``: each channel is decoded
in a pass of its own, so only one channel is held at a time).
"""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np

from providers.base import SAMPLE_RATE, AudioInput
from providers.cancellation import raise_if_cancelled
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


def check_container(path: Path) -> str:
    """The container format of ``path`` from its signature; raises for empty or non-audio."""
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


DURATION_SETTING = "STT_MAX_AUDIO_DURATION_S"
SPAN_MARGIN_S = 0.2  # decoded past a span's end, so the resampler's delay is covered


def declared_duration(path: Path) -> float | None:
    """The duration the container declares, read from its header without decoding; ``None``
    when it declares none (a raw stream) or cannot be read (decoding will say why)."""
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError:
        return None
    with container:
        if not container.streams.audio:
            return None
        return _declared_duration(container, container.streams.audio[0])


def check_duration(path: Path, *, max_duration_s: float, setting: str) -> None:
    """Refuse a file whose declared duration is over ``max_duration_s`` before it is decoded
    or queued; decoding enforces the cap again for files that declare nothing."""
    seconds = declared_duration(path)
    if seconds is not None and seconds > max_duration_s + 1:
        raise _too_long(seconds, max_duration_s, setting)


def channel_count(path: Path) -> int:
    """How many channels the first audio stream of ``path`` has (0 when it has none or cannot
    be read: decoding will say why)."""
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError:
        return 0
    with container:
        streams = container.streams.audio
        return int(streams[0].channels) if streams else 0


def check_channels(path: Path, *, max_channels: int) -> int:
    """The channel count of ``path`` for ``multichannel=true``: 400 for mono audio and for
    more than ``max_channels`` (``STT_MAX_AUDIO_CHANNELS``) channels."""
    count = channel_count(path)
    if 0 < count < 2:
        raise InvalidRequest(
            "multichannel=true needs audio with two or more channels; this file is mono",
            param="multichannel",
            code="mono_audio",
        )
    if count > max_channels:
        raise InvalidRequest(
            f"the audio has {count} channels; multichannel=true transcribes at most "
            f"{max_channels} (STT_MAX_AUDIO_CHANNELS)",
            param="multichannel",
            code="too_many_channels",
        )
    return count


def decode_file(
    path: Path,
    *,
    max_duration_s: float,
    setting: str = DURATION_SETTING,
    channel: int | None = None,
) -> AudioInput:
    """Sniff, then decode the first audio stream to mono 16 kHz float32: the downmix, or only
    ``channel`` (0-based).

    Error messages describe the audio, never the server's file (the upload's temporary path);
    ``setting`` names the duration cap in the refusal of audio that is too long.
    """
    fmt = check_container(path)
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except av.FFmpegError as exc:
        raise AudioDecodeError(
            f"could not read {fmt} audio: {_reason(exc)}", param="file"
        ) from None
    with container:
        if not container.streams.audio:
            raise UnsupportedMediaType("the file contains no audio stream", param="file")
        stream = container.streams.audio[0]
        if not stream.rate or stream.rate <= 0:
            raise AudioDecodeError(
                f"the {fmt} audio declares an invalid sample rate ({stream.rate})", param="file"
            )
        declared = _declared_duration(container, stream)
        if declared is not None and declared > max_duration_s + 1:
            raise _too_long(declared, max_duration_s, setting)
        resampler = _Resampler(stream, channel)
        samples = _decode_stream(container, stream, resampler, max_duration_s, declared, setting)
        source_rate = int(stream.rate)
    if samples.size == 0:
        raise AudioDecodeError("the file contains no decodable audio", param="file")
    if fmt == "wav" and (missing := wav_missing_bytes(path)):
        raise AudioDecodeError(
            f"the WAV file is truncated: its header declares {missing} more bytes of audio than "
            "the file holds",
            param="file",
            code="truncated_audio",
        )
    return AudioInput(samples, source_rate=source_rate)


def decode_span(path: Path, start: float, end: float, channel: int | None = None) -> AudioInput:
    """Only ``[start, end)`` seconds of ``path``, mono 16 kHz (the downmix, or ``channel``):
    the decoder seeks to the key frame before ``start`` and stops at ``end``, so a worker that
    transcribes one chunk of an hour-long recording holds that chunk, not the hour (the file
    was checked when it was submitted and decoded whole by the job's own worker)."""
    with av.open(str(path), mode="r", metadata_errors="ignore") as container:
        stream = container.streams.audio[0]
        # a whole-file decode starts at the stream's first sample (e.g. after an MP3's encoder
        # delay), so span times are relative to the stream's start time
        base = 0.0
        if stream.start_time is not None and stream.time_base is not None:
            base = float(stream.start_time * stream.time_base)
        if start > 0 and stream.time_base is not None:
            container.seek(int((start + base) / stream.time_base), stream=stream, backward=True)
        resampler = _Resampler(stream, channel)
        buffer = _SampleBuffer(int((end - start) * SAMPLE_RATE) + SAMPLE_RATE)
        origin: float | None = None  # audio time of the first decoded sample
        try:
            for frame in container.decode(stream):
                raise_if_cancelled()
                if origin is None:
                    origin = frame.time - base if frame.time is not None else 0.0
                frame.pts = None
                for out in resampler.resample(frame):
                    buffer.append(out)
                if origin + buffer.size / SAMPLE_RATE >= end + SPAN_MARGIN_S:
                    break
        except av.FFmpegError as exc:
            raise AudioDecodeError(f"audio data is corrupt: {_reason(exc)}") from None
    first = max(0, round((start - (origin or 0.0)) * SAMPLE_RATE))
    last = max(first, round((end - (origin or 0.0)) * SAMPLE_RATE))
    return AudioInput(buffer.samples()[first:last].copy())


def _reason(exc: av.FFmpegError) -> str:
    """FFmpeg's description of an error without the file name PyAV appends to ``str(exc)``."""
    return str(exc.strerror or type(exc).__name__)


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


def _too_long(seconds: float, limit: float, setting: str) -> InvalidRequest:
    return InvalidRequest(
        f"audio is {seconds:.0f}s long; the maximum is {limit:.0f}s ({setting})",
        param="file",
        code="audio_too_long",
    )


class _SampleBuffer:
    """Decoded samples written into one preallocated array.

    Sized from the container's declared duration, so decoding holds the audio once (a list of
    frames joined at the end would hold it twice, and leaves the allocator fragmented). Pages
    past what is written are never touched, so an over-estimate costs no memory.
    """

    def __init__(self, expected: int) -> None:
        self._data = np.empty(max(expected, SAMPLE_RATE), dtype=np.float32)
        self.size = 0

    def append(self, chunk: np.ndarray) -> None:
        end = self.size + chunk.size
        if end > self._data.size:
            grown = np.empty(max(end, self._data.size * 2), dtype=np.float32)
            grown[: self.size] = self._data[: self.size]
            self._data = grown
        self._data[self.size : end] = chunk
        self.size = end

    def samples(self) -> np.ndarray:
        return self._data[: self.size]


class _Resampler:
    """Frames to 16 kHz float32 sample arrays: the downmix (``channel`` ``None``) or one
    channel (resampled planar with the stream's layout, that channel's plane kept)."""

    def __init__(self, stream: av.audio.stream.AudioStream, channel: int | None) -> None:
        if channel is not None and not 0 <= channel < stream.channels:
            raise InvalidRequest(
                f"the audio has no channel {channel}", param="multichannel", code="no_channel"
            )
        self._channel = channel
        if channel is None:
            self._inner = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        else:
            self._inner = av.AudioResampler(format="fltp", rate=SAMPLE_RATE)

    def resample(self, frame: av.AudioFrame | None) -> list[np.ndarray]:
        outs = [out.to_ndarray() for out in self._inner.resample(frame)]
        if self._channel is None:
            return [data.reshape(-1) for data in outs]
        return [data[self._channel] for data in outs]


def _decode_stream(
    container: av.container.InputContainer,
    stream: av.audio.stream.AudioStream,
    resampler: _Resampler,
    max_duration_s: float,
    declared_s: float | None,
    setting: str,
) -> np.ndarray:
    limit = int(max_duration_s * SAMPLE_RATE)
    expected = min(declared_s or 60.0, max_duration_s + 1) * SAMPLE_RATE
    buffer = _SampleBuffer(int(expected * 1.01) + SAMPLE_RATE)
    try:
        for frame in container.decode(stream):
            raise_if_cancelled()
            frame.pts = None  # let the resampler ignore gaps/jitter in source timestamps
            for out in resampler.resample(frame):
                buffer.append(out)
            if buffer.size > limit:
                raise _too_long(buffer.size / SAMPLE_RATE, max_duration_s, setting)
        for out in resampler.resample(None):
            buffer.append(out)
    except av.FFmpegError as exc:
        raise AudioDecodeError(
            f"audio data is corrupt after {buffer.size / SAMPLE_RATE:.2f}s: {_reason(exc)}",
            param="file",
        ) from None
    return buffer.samples()
