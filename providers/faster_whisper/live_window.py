"""How faster-whisper's encoder is called for a live window (a few seconds of speech).

Two changes to ``transcribe``'s 30 s-window loop, both scoped to :func:`live_window` (a
context variable, so batch decodes in other threads are untouched):

* **One pass.** With word timestamps on, when the first pass's last word ends before the audio
  does, faster-whisper seeks to that word's end and runs another pass over the remainder: one
  more encoder call, the bulk of a CPU decode. A live window ends 0.3 s after the VAD's last
  speech, so that remainder is nearly always a sliver of trailing silence: decoding it doubled
  the cost of a step and tended to invent a word ("you") over the silence. A remainder shorter
  than :data:`MIN_REMAINDER_FRAMES` now ends the decode; a longer one (Whisper stopped early on
  real speech) is still decoded.
* **A shorter encoder context.** Whisper pads every window to 30 s, and the encoder's cost
  grows with that length, not with the speech. A live window's features are cut to
  ``context_s`` (or the speech plus a margin, if longer) before encoding. Measured with tiny.en
  on 2 CPU cores over ten espeak-ng clips (``Helper_Scripts/bench_live_context.py``): see
  Docs/Streaming.md for the speed and word error rates at 30, 15 and 10 s.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

T = TypeVar("T")

#: mel frames per second of audio (Whisper's 10 ms hop)
FRAMES_PER_S = 100
#: Whisper's full input: 30 s of mel frames
FULL_CONTEXT_FRAMES = 3000
#: a remainder shorter than this after the first pass is not decoded (frames)
MIN_REMAINDER_FRAMES = 100
#: padding kept after the speech when it is longer than the context (frames)
CONTEXT_MARGIN_FRAMES = 100


@dataclass
class _LiveDecode:
    context_frames: int
    window_frames: int = 0  # audio frames of the first encoder input: the whole window


_live: ContextVar[_LiveDecode | None] = ContextVar("live_window", default=None)


class _WindowDone(Exception):
    """Raised from the encoder to end a live decode before a pass it does not need."""


def content_frames(features: np.ndarray) -> int:
    """Frames of audio in an encoder input (faster-whisper zero-pads the features to 30 s;
    a real log-mel frame is never all zeros)."""
    voiced = np.flatnonzero(np.any(features.reshape(-1, features.shape[-1]) != 0, axis=0))
    return int(voiced[-1]) + 1 if len(voiced) else 0


def encoder_input(features: np.ndarray) -> np.ndarray:
    """The features to encode: unchanged outside :func:`live_window`; inside, cut to the
    live context, or :class:`_WindowDone` for a pass over a short remainder."""
    live = _live.get()
    if live is None:
        return features
    frames = content_frames(features)
    if live.window_frames and frames < min(live.window_frames, MIN_REMAINDER_FRAMES):
        raise _WindowDone
    live.window_frames = live.window_frames or frames
    keep = min(features.shape[-1], max(live.context_frames, frames + CONTEXT_MARGIN_FRAMES))
    keep += keep % 2  # the encoder's strided convolution halves the frames
    return np.ascontiguousarray(features[..., :keep])


@functools.cache
def model_class() -> type[Any]:
    """faster-whisper's ``WhisperModel`` calling :func:`encoder_input` (imported on first use:
    faster-whisper loads CTranslate2 and ONNX Runtime)."""
    from faster_whisper import WhisperModel

    class GatewayWhisperModel(WhisperModel):  # type: ignore[misc]  # untyped library
        def encode(self, features: np.ndarray) -> Any:
            return super().encode(encoder_input(features))

    return GatewayWhisperModel


@contextlib.contextmanager
def live_window(context_s: float) -> Iterator[None]:
    """Decodes in this block (and this thread) are live-window decodes."""
    frames = min(FULL_CONTEXT_FRAMES, round(context_s * FRAMES_PER_S))
    token = _live.set(_LiveDecode(context_frames=frames))
    try:
        yield
    finally:
        _live.reset(token)


def first_pass(segments: Iterable[T]) -> Iterator[T]:
    """The segments of a decode, up to where :func:`encoder_input` ended it."""
    with contextlib.suppress(_WindowDone):
        yield from segments
