"""Speech clips for the batched pipeline, found with bounded memory.

faster-whisper's batched pipeline runs the Silero VAD over the whole recording in one call, and
that call copies the audio twice (padding, then windows with context): two hours of audio cost
about 1 GB on top of the 450 MB of decoded samples, whether it holds speech or silence. Here the
same VAD runs over pieces of ``PIECE_S`` seconds, so its working memory is bounded by the piece,
and the speech spans are grouped into clips of at most ``chunk_length`` seconds that the
pipeline decodes as given (``clip_timestamps``). A clip keeps the short pauses inside it, so
timestamps within a clip are the audio's own.

Everything here is lazy, and the first piece is short (``FIRST_PIECE_S``): decoding starts once
the first clip is found, not after the VAD has run over the whole recording, so the first text
of a long file (SSE) comes after a minute's VAD and one clip's decode.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from providers.base import SAMPLE_RATE
from providers.cancellation import raise_if_cancelled

#: seconds of audio per VAD call (a multiple of the VAD's 512-sample window); the first is short
FIRST_PIECE_S = 60
PIECE_S = 600
_WINDOW = 512


def vad_options(parameters: dict[str, Any] | None, chunk_length: float) -> Any:
    """The batched pipeline's own VAD defaults: spans no longer than a chunk, and a short
    minimum silence so that long speech still splits at pauses."""
    from faster_whisper.vad import VadOptions

    if parameters is None:
        return VadOptions(max_speech_duration_s=chunk_length, min_silence_duration_ms=160)
    chosen = {k: v for k, v in parameters.items() if k != "max_speech_duration_s"}
    return VadOptions(**chosen, max_speech_duration_s=chunk_length)


def _pieces(total: int) -> Iterator[tuple[int, int]]:
    """``(offset, length)`` of the VAD pieces: ``FIRST_PIECE_S``, then ``PIECE_S`` each."""
    offset, seconds = 0, FIRST_PIECE_S
    while offset < total:
        length = seconds * SAMPLE_RATE // _WINDOW * _WINDOW
        yield offset, length
        offset, seconds = offset + length, PIECE_S


def speech_spans(samples: np.ndarray, options: Any) -> Iterator[tuple[int, int]]:
    """``(start, end)`` sample offsets of speech, found piece by piece, lazily."""
    from faster_whisper.vad import get_speech_timestamps

    for offset, length in _pieces(len(samples)):
        raise_if_cancelled()
        found = get_speech_timestamps(samples[offset : offset + length], options)
        yield from ((offset + s["start"], offset + s["end"]) for s in found)


def group_clips(
    spans: Iterable[tuple[int, int]], chunk_length: float
) -> Iterator[dict[str, float]]:
    """Consecutive spans grouped into clips (seconds) of at most ``chunk_length`` each."""
    limit = int(chunk_length * SAMPLE_RATE)
    start = end = -1
    for span_start, span_end in spans:
        if start >= 0 and span_end - start <= limit:
            end = span_end
            continue
        if start >= 0:
            yield {"start": start / SAMPLE_RATE, "end": end / SAMPLE_RATE}
        start, end = span_start, min(span_end, span_start + limit)
    if start >= 0:
        yield {"start": start / SAMPLE_RATE, "end": end / SAMPLE_RATE}


def clip_batches(
    clips: Iterable[dict[str, float]], batch_size: int, *, first_alone: bool = False
) -> Iterator[list[dict[str, float]]]:
    """``clips`` in batches of ``batch_size``, lazily. ``first_alone``: the first clip is a
    batch of its own, so the first text comes after one clip's decode instead of a full
    batch's (a streaming client's first delta); that costs one more decoder call, about 9 %
    of a 5-minute clip's time on a 2-core CPU, so only streaming asks for it."""
    source = iter(clips)
    size = 1 if first_alone else max(1, batch_size)
    while batch := list(itertools.islice(source, size)):
        yield batch
        size = max(1, batch_size)
