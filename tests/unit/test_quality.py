"""The quality report and the audio warnings on generated audio and hand-made transcripts."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from app.core.config import ConfigError
from app.services.transcription.audio import decode_file
from app.services.transcription.audio_warnings import WarningThresholds, audio_warnings
from app.services.transcription.quality import QualityThresholds, quality_report
from providers.base import AudioInput
from schemas.transcript import Segment, Transcript, TranscriptMetadata, Word, build_transcript
from tests.conftest import SettingsFactory
from tests.support.audio import speech

TEXT = "The quarterly report is ready. Please review the numbers before Friday."


def _codes(audio: AudioInput) -> list[str]:
    return [w.code for w in audio_warnings(audio, WarningThresholds())]


def test_a_clean_16khz_recording_has_no_warnings() -> None:
    audio = decode_file(speech(TEXT, rate=16_000), max_duration_s=60)
    assert audio.source_rate == 16_000
    assert _codes(audio) == []


def test_a_quiet_8khz_recording_warns(tmp_path: Path) -> None:
    quiet = tmp_path / "quiet.wav"
    src = speech(TEXT, rate=16_000)
    quieter = ["-af", "volume=-35dB", "-ar", "8000"]
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), *quieter, str(quiet)], check=True
    )
    audio = decode_file(quiet, max_duration_s=60)
    assert audio.source_rate == 8000 and audio.sample_rate == 16_000
    warnings = audio_warnings(audio, WarningThresholds())
    codes = [w.code for w in warnings]
    assert codes[:2] == ["low_sample_rate", "low_level"]
    assert all(w.message for w in warnings)


def test_clipping_silence_and_short_speech() -> None:
    rng = np.random.default_rng(0)
    clipped = np.clip(rng.normal(0, 0.8, 16_000 * 3), -1, 1).astype(np.float32)
    assert "clipping" in _codes(AudioInput(clipped))
    silence = np.zeros(16_000 * 10, dtype=np.float32)
    silence[:4000] = 0.3 * np.sin(np.arange(4000) / 5)  # a quarter second of tone
    assert _codes(AudioInput(silence)) == ["mostly_silence", "very_short_speech"]
    assert _codes(AudioInput(np.zeros(10, dtype=np.float32))) == []  # under one frame


def _transcript(
    probabilities: list[float], *, words: bool = True, duration: float = 60.0
) -> Transcript:
    timed = [
        Word(word=f"w{i}", start=i * 1.0, end=i * 1.0 + 0.5, probability=p)
        for i, p in enumerate(probabilities)
    ]
    segment = Segment(
        id=0,
        start=0.0,
        end=len(timed) * 1.0,
        text=" ".join(w.word for w in timed),
        confidence=0.4,
        words=timed if words else None,
    )
    return build_transcript(
        segments=[segment],
        language="en",
        duration=duration,
        metadata=TranscriptMetadata(provider="mock", model="mock"),
    )


def test_report_fields_from_word_probabilities() -> None:
    transcript = _transcript([0.95, 0.9, 0.7, 0.3, 0.2, 0.99])
    report = quality_report(transcript, 6.0, QualityThresholds(high=0.85, low=0.5))
    assert report.real_time_factor == pytest.approx(0.1)
    assert report.words_per_minute == pytest.approx(6.0)
    assert report.confidence_source == "words"
    assert report.avg_confidence == pytest.approx(0.6733, abs=1e-4)
    buckets = report.confidence_buckets
    assert buckets is not None
    assert (buckets.high, buckets.medium, buckets.low) == pytest.approx((0.5, 1 / 6, 1 / 3))
    [span] = report.low_confidence_spans
    assert (span.start, span.end, span.text) == (3.0, 4.5, "w3 w4")


def test_report_falls_back_to_segment_confidence_then_to_nothing() -> None:
    report = quality_report(_transcript([0.9, 0.9], words=False), 1.0, QualityThresholds())
    assert report.confidence_source == "segments"
    assert report.confidence_buckets is not None and report.confidence_buckets.low == 1.0
    assert report.words_per_minute == pytest.approx(2.0)
    empty = quality_report(_transcript([], duration=0.0), 0.1, QualityThresholds())
    assert empty.confidence_buckets is None and empty.avg_confidence is None
    assert empty.real_time_factor is None and empty.low_confidence_spans == []


def test_thresholds_are_validated(make_settings: SettingsFactory) -> None:
    with pytest.raises(ConfigError, match="STT_QUALITY_LOW_CONFIDENCE"):
        make_settings(quality_low_confidence=0.9, quality_high_confidence=0.8)
    with pytest.raises(ConfigError, match="not a language code"):
        make_settings(default_prompts={"russian": "Компания RUMA."})
    with pytest.raises(ConfigError, match="STT_MAX_PROMPT_CHARS"):
        make_settings(default_prompts={"ru": "x" * 20}, max_prompt_chars=10)
    assert make_settings(default_prompts='{"ru": "RUMA"}').default_prompts == {"ru": "RUMA"}
