"""How live windows reach faster-whisper's encoder, and the CPU layout of the live model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from providers.faster_whisper.live_window import (
    CONTEXT_MARGIN_FRAMES,
    FULL_CONTEXT_FRAMES,
    content_frames,
    encoder_input,
    first_pass,
    live_window,
)
from providers.faster_whisper.provider import FasterWhisperConfig, live_cpu_layout


def padded(frames: int, seed: int = 0) -> np.ndarray:
    """Log-mel-like features of ``frames`` frames, zero-padded to 30 s as faster-whisper does."""
    rng = np.random.default_rng(seed)
    features = np.zeros((80, FULL_CONTEXT_FRAMES), dtype=np.float32)
    features[:, :frames] = rng.uniform(-1.5, 1.5, size=(80, frames))
    return features


@settings(max_examples=50, deadline=None)
@given(frames=st.integers(1, FULL_CONTEXT_FRAMES), context_s=st.floats(5, 30))
def test_live_encoder_input_keeps_the_audio_and_stays_even(frames: int, context_s: float) -> None:
    features = padded(frames)
    assert content_frames(features) == frames
    with live_window(context_s):
        cut = encoder_input(features)
    assert cut.shape[-1] % 2 == 0
    assert frames <= cut.shape[-1] <= FULL_CONTEXT_FRAMES
    assert cut.shape[-1] >= min(FULL_CONTEXT_FRAMES, round(context_s * 100))
    np.testing.assert_array_equal(cut, features[:, : cut.shape[-1]])


def test_outside_a_live_window_features_are_untouched() -> None:
    features = padded(400)
    assert encoder_input(features) is features


def test_live_context_is_cut_to_the_setting_or_the_speech_plus_a_margin() -> None:
    with live_window(15):
        assert encoder_input(padded(400)).shape[-1] == 1500
    with live_window(15):
        assert encoder_input(padded(2000)).shape[-1] == 2000 + CONTEXT_MARGIN_FRAMES
    with live_window(30):
        assert encoder_input(padded(400)).shape[-1] == FULL_CONTEXT_FRAMES


def test_a_pass_over_a_short_remainder_ends_the_decode() -> None:
    def decode() -> Iterator[str]:
        encoder_input(padded(600))  # language detection encodes the window ...
        encoder_input(padded(600))  # ... and the first pass encodes it again: allowed
        yield "first pass"
        encoder_input(padded(30))  # the remainder after the last word: 0.3 s
        yield "second pass"

    with live_window(30):
        assert list(first_pass(decode())) == ["first pass"]
    assert list(decode()) == ["first pass", "second pass"]  # batch decodes run every pass


def test_a_long_remainder_is_still_decoded() -> None:
    def decode() -> Iterator[str]:
        encoder_input(padded(1200))
        yield "first pass"
        encoder_input(padded(400))  # Whisper stopped 4 s early: real speech may be left
        yield "second pass"

    with live_window(30):
        assert list(first_pass(decode())) == ["first pass", "second pass"]


@pytest.mark.parametrize(
    ("workers", "threads", "cores", "expected"),
    [(2, 0, 2, (2, 1)), (2, 0, 16, (2, 8)), (3, 0, 2, (3, 1)), (2, 4, 2, (2, 4))],
)
def test_live_cpu_layout_gives_each_decode_worker_its_share(
    workers: int, threads: int, cores: int, expected: tuple[int, int]
) -> None:
    config = FasterWhisperConfig(
        model_dir=None, cache_dir=Path("/tmp"), live_workers=workers, live_cpu_threads=threads
    )
    assert live_cpu_layout(config, cores) == expected
