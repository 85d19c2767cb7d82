"""Realtime adapter pieces without a socket: config merging, turn rendering, G.711."""

from __future__ import annotations

import numpy as np
import pytest

from app.services.streaming.engine import SpeechBoundary
from app.services.streaming.realtime import g711
from app.services.streaming.realtime.config import RealtimeConfig
from app.services.streaming.realtime.turns import TurnTracker
from schemas.realtime import BetaSessionUpdate, SessionUpdate
from schemas.streaming import FinalEvent, PartialEvent, StreamSegment
from schemas.transcript import Word
from tests.support.realtime import mulaw_encode


def _segment(*words: str) -> StreamSegment:
    timed = [
        Word(word=w, start=i * 0.5, end=i * 0.5 + 0.4, probability=0.9) for i, w in enumerate(words)
    ]
    return StreamSegment(id=0, start=0.0, end=timed[-1].end, text=" ".join(words), words=timed)


def _partial(stable: int, *words: str) -> PartialEvent:
    return PartialEvent(
        segment=_segment(*words),
        stable_text=" ".join(words[:stable]),
        unstable_text=" ".join(words[stable:]),
        stable_words=stable,
    )


def test_deltas_only_grow_and_concatenate_to_the_transcript() -> None:
    turns = TurnTracker()
    turns.logprobs = True
    out = turns.render([SpeechBoundary(started=True, sample=8000)], 16000)
    assert out[0].type == "input_audio_buffer.speech_started" and out[0].audio_start_ms == 1500
    out += turns.render([_partial(1, "hello", "word")], 0)
    out += turns.render([_partial(1, "hello", "world", "again")], 0)  # nothing new is stable
    out += turns.render([_partial(2, "hello", "world", "again")], 0)
    final = FinalEvent(segment=_segment("hello", "world", "again"), reason="silence")
    out += turns.render([SpeechBoundary(started=False, sample=40000), final], 0)
    kinds = [e.type.rsplit(".", 1)[-1] for e in out]
    assert kinds == [
        "speech_started", "delta", "delta", "speech_stopped", "committed", "delta", "completed",
    ]  # fmt: skip
    deltas = [e.delta for e in out if e.type.endswith("delta")]  # type: ignore[attr-defined]
    assert deltas == ["hello", " world", " again"]
    completed = out[-1]
    assert completed.transcript == "hello world again"  # type: ignore[attr-defined]
    assert len({e.item_id for e in out}) == 1  # type: ignore[attr-defined]
    assert completed.logprobs[0].logprob == pytest.approx(np.log(0.9), abs=1e-3)  # type: ignore[attr-defined]


def test_turns_chain_and_a_wordless_turn_completes_empty() -> None:
    turns = TurnTracker()
    first = turns.render([SpeechBoundary(True, 0), SpeechBoundary(False, 8000)], 0)
    assert [e.type.rsplit(".", 1)[-1] for e in first] == [
        "speech_started", "speech_stopped", "committed", "completed",
    ]  # fmt: skip
    assert first[-1].transcript == ""  # type: ignore[attr-defined]
    second = turns.complete([], 0.0)
    assert second[0].previous_item_id == first[0].item_id  # type: ignore[attr-defined]
    turns.render([_partial(1, "gone")], 0)
    turns.discard()
    third = turns.complete([], 0.0)
    assert third[0].previous_item_id == second[0].item_id  # type: ignore[attr-defined]


def test_updates_merge_and_null_turn_detection_means_manual() -> None:
    config = RealtimeConfig.new()
    assert config.start_message().vad.enabled and config.start_message().sample_rate == 24000
    manual = config.updated(
        SessionUpdate.model_validate(
            {
                "type": "session.update",
                "session": {
                    "type": "transcription",
                    "audio": {"input": {"format": {"type": "audio/pcma"}, "turn_detection": None}},
                    "include": ["item.input_audio_transcription.logprobs"],
                },
            }
        )
    )
    assert manual.format == "audio/pcma" and manual.turn_detection is None and manual.logprobs
    assert not manual.start_message().vad.enabled and manual.start_message().sample_rate == 8000
    untouched = manual.updated(
        SessionUpdate.model_validate(
            {"type": "session.update", "session": {"type": "transcription"}}
        )
    )
    assert untouched == manual
    beta = manual.updated(
        BetaSessionUpdate.model_validate(
            {
                "type": "transcription_session.update",
                "session": {
                    "input_audio_format": "g711_ulaw",
                    "input_audio_transcription": {"model": "gpt-4o-mini-transcribe"},
                    "turn_detection": {"type": "server_vad", "silence_duration_ms": 700},
                },
            }
        )
    )
    start = beta.start_message()
    assert beta.format == "audio/pcmu" and start.model == "whisper-1"
    assert start.vad.enabled and start.vad.silence_ms == 700


def test_g711_tables_match_the_standard() -> None:
    assert (g711.ULAW[0x00], g711.ULAW[0x80], g711.ULAW[0xFF]) == (-32124, 32124, 0)
    assert (g711.ALAW[0xD5], g711.ALAW[0x55], g711.ALAW[0xAA]) == (8, -8, 32256)
    wave = (np.sin(np.arange(800) / 7) * 12000).astype("<i2")
    back = np.frombuffer(g711.decode(mulaw_encode(wave.tobytes()), g711.ULAW), dtype="<i2")
    assert np.abs(back.astype(int) - wave).max() <= 400  # mu-law steps are 256 near 12000
