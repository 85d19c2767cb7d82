"""Streaming voice activity detection with faster-whisper's Silero VAD model.

Silero scores 512-sample (32 ms) windows. Windows are cut on the session timeline, so the
speech/silence decisions do not depend on how the client chunks its frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

WINDOW = 512
_CONTEXT = 64

ScoreFn = Callable[[np.ndarray], np.ndarray]


class SileroScorer:
    """Silero over consecutive windows, carrying the LSTM state and the 64-sample context
    across calls, so scores equal those of one pass over the whole stream (faster-whisper's
    wrapper starts from a blank state on every call, which blurs short chunks)."""

    def __init__(self) -> None:
        from faster_whisper.vad import get_vad_model

        self._session = get_vad_model().session  # shared; ONNX Runtime sessions are thread-safe
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(_CONTEXT, dtype=np.float32)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        windows = audio.reshape(-1, WINDOW).astype(np.float32, copy=False)
        contexts = np.concatenate([self._context[None, :], windows[:-1, -_CONTEXT:]])
        batch = np.concatenate([contexts, windows], axis=1)
        out, self._h, self._c = self._session.run(
            None, {"input": batch, "h": self._h, "c": self._c}
        )
        self._context = windows[-1, -_CONTEXT:].copy()
        return np.asarray(out).reshape(-1)


@dataclass(frozen=True)
class VadWindow:
    end: int  # session sample index just after the window
    speech: bool


class StreamingVad:
    """Scores incoming audio window by window, with Silero's hysteresis.

    A window is speech when its probability reaches ``threshold``; once in speech, it stays
    speech until the probability drops below ``threshold - 0.15``.
    """

    def __init__(self, threshold: float, score: ScoreFn | None = None) -> None:
        self._threshold = threshold
        self._neg_threshold = max(threshold - 0.15, 0.01)
        self._score = score or SileroScorer()
        self._pending = np.zeros(0, dtype=np.float32)
        self._position = 0  # session sample index of _pending[0]
        self._in_speech = False

    def push(self, samples: np.ndarray) -> list[VadWindow]:
        audio = np.concatenate([self._pending, samples])
        whole = len(audio) // WINDOW * WINDOW
        self._pending = audio[whole:]
        if whole == 0:
            return []
        probs = self._score(audio[:whole])
        windows = []
        for i, p in enumerate(probs):
            if p >= self._threshold:
                self._in_speech = True
            elif p < self._neg_threshold:
                self._in_speech = False
            windows.append(VadWindow(end=self._position + (i + 1) * WINDOW, speech=self._in_speech))
        self._position += whole
        return windows

    def skip(self, samples: int) -> None:
        """Audio that is not analysed (paused): move the timeline on, forget the state."""
        self._position += len(self._pending) + samples
        self._pending = np.zeros(0, dtype=np.float32)
        self._in_speech = False
