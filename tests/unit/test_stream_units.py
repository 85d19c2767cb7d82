"""Unit tests of the streaming building blocks: state machine, parsing, audio, VAD, leases."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from app.core.errors import websocket_close_code
from app.services.streaming.agreement import LocalAgreement, TimedWord
from app.services.streaming.audio import FrameConverter, samples_from_bytes
from app.services.streaming.inbox import AudioItem, ControlItem, Inbox
from app.services.streaming.manager import LeasePool
from app.services.streaming.protocol import decode_base64, parse_text
from app.services.streaming.state import (
    TRANSITIONS,
    InvalidSessionState,
    Message,
    SessionState,
    SessionStateMachine,
)
from app.services.streaming.vad import StreamingVad
from schemas.errors import (
    FatalProviderError,
    InvalidRequest,
    PayloadTooLarge,
    RetriableProviderError,
    ServiceUnavailable,
)
from schemas.streaming import ControlMessage, ControlType, Encoding, StartMessage


@pytest.mark.parametrize("state", list(SessionState))
@pytest.mark.parametrize("message", list(Message))
def test_state_machine_follows_the_table(state: SessionState, message: Message) -> None:
    machine = SessionStateMachine()
    machine.state = state
    target = TRANSITIONS.get((state, message))
    if target is None:
        with pytest.raises(InvalidSessionState) as caught:
            machine.apply(message)
        assert caught.value.code == "invalid_state" and machine.state is state
    else:
        assert machine.apply(message) is target


def test_parse_messages() -> None:
    start = parse_text('{"type": "start", "sample_rate": 8000, "encoding": "float32"}')
    assert isinstance(start, StartMessage) and start.sample_rate == 8000
    assert parse_text('{"type": "commit"}') == ControlMessage(type=ControlType.COMMIT)
    for text, code in [
        ("{", "invalid_json"),
        ("[" * 20_000 + "]" * 20_000, "invalid_json"),  # once a RecursionError: socket dropped
        ("42", "invalid_message"),
        ('{"type": 1}', "invalid_message"),
        ('{"type": "nope"}', "unknown_message_type"),
        ('{"type": "start", "sample_rate": 96000}', "invalid_message"),
        ('{"type": "start", "colour": "red"}', "invalid_message"),
    ]:
        with pytest.raises(InvalidRequest) as caught:
            parse_text(text)
        assert caught.value.code == code
    with pytest.raises(InvalidRequest):
        decode_base64("not base64!")


def test_samples_from_bytes_rejects_garbage() -> None:
    assert samples_from_bytes(b"\x00\x40" * 3, Encoding.PCM16).tolist() == [16384] * 3
    with pytest.raises(InvalidRequest):
        samples_from_bytes(b"\x00" * 3, Encoding.PCM16)
    with pytest.raises(InvalidRequest):
        samples_from_bytes(np.array([np.inf], dtype="<f4").tobytes(), Encoding.FLOAT32)


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 44100, 48000])
@pytest.mark.parametrize("encoding", list(Encoding))
def test_frame_converter_resamples_to_16k(rate: int, encoding: Encoding) -> None:
    t = np.arange(rate * 2) / rate
    wave = 0.5 * np.sin(2 * np.pi * 440 * t)
    raw = (wave * 32767).astype("<i2") if encoding is Encoding.PCM16 else wave.astype("<f4")
    converter = FrameConverter(rate, encoding)
    data = raw.tobytes()
    frame = len(data) // 37 // raw.itemsize * raw.itemsize  # odd-sized frames
    out = [converter.convert(data[i : i + frame]) for i in range(0, len(data), frame)]
    samples = np.concatenate([*out, converter.flush()])
    assert samples.dtype == np.float32
    assert len(samples) == pytest.approx(32_000, abs=64)
    assert float(np.abs(samples).max()) == pytest.approx(0.5, abs=0.05)


def test_vad_is_independent_of_chunking() -> None:
    rng = np.random.default_rng(0)
    audio = np.concatenate([np.zeros(8000), rng.normal(0, 0.3, 16000), np.zeros(16000)]).astype(
        np.float32
    )
    scores = iter(np.linspace(0, 1, 200))

    def fake(x: np.ndarray) -> np.ndarray:
        return np.array([next(scores) for _ in range(len(x) // 512)])

    vad = StreamingVad(0.5, score=fake)
    windows = []
    for first in range(0, len(audio), 1000):
        windows += vad.push(audio[first : first + 1000])
    assert [w.end for w in windows] == [512 * (i + 1) for i in range(len(audio) // 512)]
    assert [w.speech for w in windows] == [s >= 0.5 for s in np.linspace(0, 1, 200)][: len(windows)]


def test_agreement_commits_common_prefix_only() -> None:
    def words(*keys: str) -> list[TimedWord]:
        return [TimedWord(k, i * 0.5, i * 0.5 + 0.4) for i, k in enumerate(keys)]

    policy = LocalAgreement()
    assert policy.update(words("hello", "word")) == []
    assert [w.text for w in policy.update(words("Hello,", "world", "how"))] == ["Hello,"]
    assert [w.text for w in policy.update(words("hello", "world", "how", "are"))] == [
        "world",
        "how",
    ]
    assert [w.text for w in policy.tentative] == ["are"]
    assert [w.text for w in policy.flush(words("hello", "world", "how", "are", "you"))] == [
        "are",
        "you",
    ]


def test_lease_pool() -> None:
    pool = LeasePool(2)
    a, b = pool.acquire("u1"), pool.acquire("u2")
    with pytest.raises(ServiceUnavailable) as caught:
        pool.acquire("u3")
    assert caught.value.code == "too_many_sessions"
    a.release()
    a.release()  # idempotent
    assert pool.active == 1 and pool.holders() == ["u2"]
    pool.acquire("u3")
    b.release()
    assert pool.active == 1


def test_close_codes() -> None:
    assert websocket_close_code(ServiceUnavailable("busy")) == 1013
    assert websocket_close_code(RetriableProviderError("oom")) == 1013
    assert websocket_close_code(PayloadTooLarge("big")) == 1009
    assert websocket_close_code(InvalidRequest("bad")) == 1008
    assert websocket_close_code(FatalProviderError("boom")) == 1011


async def test_inbox_blocks_when_full_and_keeps_order() -> None:
    inbox = Inbox(max_samples=100)
    await inbox.put(AudioItem(np.zeros(150, dtype=np.float32)))
    blocked = asyncio.create_task(inbox.put(ControlItem(ControlType.COMMIT)))
    await asyncio.sleep(0.01)
    assert not blocked.done()  # backpressure: over the limit, the producer waits
    first = await inbox.get()
    await asyncio.wait_for(blocked, 1)
    assert isinstance(first, AudioItem)
    assert await inbox.get() == ControlItem(ControlType.COMMIT)
    assert inbox.samples == 0


def test_live_windows_drop_repetition_loops_and_text_over_silence() -> None:
    from providers.faster_whisper.provider import plausible_speech, stream_token_budget
    from schemas.transcript import Segment

    def seg(**kw: float) -> Segment:
        return Segment(id=0, start=0, end=1, text="x", **kw)

    assert plausible_speech(seg(compression_ratio=1.4, no_speech_prob=0.1, avg_logprob=-0.3))
    assert not plausible_speech(seg(compression_ratio=5.2, no_speech_prob=0.1, avg_logprob=-0.2))
    assert not plausible_speech(seg(compression_ratio=1.2, no_speech_prob=0.9, avg_logprob=-1.4))
    assert plausible_speech(seg(compression_ratio=1.2, no_speech_prob=0.9, avg_logprob=-0.4))
    assert stream_token_budget(12.0) >= 12 * 7  # room for fast speech
    assert stream_token_budget(600.0) == 440  # never past Whisper's context


def test_mid_speech_cut_prefers_the_latest_pause() -> None:
    from app.services.streaming.agreement import LocalAgreement, TimedWord

    agreement = LocalAgreement()
    words = [
        TimedWord("one", 0.0, 0.4),
        TimedWord("two", 0.4, 0.8),
        TimedWord("three", 1.3, 1.7),
        TimedWord("four", 1.7, 2.0),
        TimedWord("five", 2.5, 2.9),
        TimedWord("six", 2.9, 3.2),
    ]
    agreement.update(words)
    agreement.update(words)
    assert agreement.pause_before_end(0.2, not_before=0.0) == 4  # the pause before "five"
    assert agreement.pause_before_end(0.2, not_before=2.1) is None  # too early to cut there
    assert agreement.pause_before_end(0.6, not_before=0.0) is None  # no pause that long
    taken = agreement.take_committed(keep_context=True)
    assert [w.text for w in taken] == ["one", "two", "three", "four", "five", "six"]
    # the next window starts in the pause and re-hears "five six": nothing is committed twice
    agreement.update(
        [TimedWord("five", 2.52, 2.9), TimedWord("six", 2.9, 3.2), TimedWord("seven", 3.3, 3.6)]
    )
    assert agreement.committed == []
    assert [w.text for w in agreement.tentative] == ["seven"]


def test_engine_is_settled_only_when_more_audio_cannot_change_the_next_decode() -> None:
    from app.services.streaming.engine import Hypothesis, LiveEngineConfig, OnlineTranscriber
    from app.services.streaming.vad import StreamingVad

    def loudness(x: np.ndarray) -> np.ndarray:  # a stand-in for Silero: loud windows are speech
        return (np.abs(x.reshape(-1, 512)).max(axis=1) > 0.1).astype(np.float32)

    windows: list[int] = []

    def decoder(samples: np.ndarray, prompt: str | None) -> Hypothesis:
        windows.append(len(samples))
        return Hypothesis(words=[])

    engine = OnlineTranscriber(decoder, LiveEngineConfig(), StreamingVad(0.5, score=loudness))
    silence, voice = np.zeros(8000, np.float32), np.full(8000, 0.5, np.float32)
    engine.feed(silence)
    assert engine.settled and not windows  # nothing to decode
    engine.feed(voice)
    assert not engine.settled and len(windows) == 1  # speech is still arriving: full steps
    engine.feed(silence[:1600])  # a 0.1 s pause: the decode waits for the whole 0.3 s tail
    assert engine.settled and len(windows) == 1
    engine.feed(silence[:4000])  # the pause reaches 0.3 s: one decode hears speech + tail
    assert len(windows) == 2 and engine.settled
    engine.feed(voice)  # the speaker goes on: decodes resume at once
    assert len(windows) == 3 and not engine.settled
    assert not OnlineTranscriber(decoder, LiveEngineConfig(), None).settled  # no VAD: always decode


def test_a_provisional_hypothesis_neither_commits_nor_is_agreed_with() -> None:
    agreement = LocalAgreement()
    guess = [TimedWord("lets", 0.0, 0.3), TimedWord("go", 0.3, 0.5)]
    assert agreement.update(guess, provisional=True) == []
    assert agreement.update([*guess, TimedWord("tell", 0.5, 0.8)]) == []  # no base to agree with
    assert [w.text for w in agreement.tentative] == ["lets", "go", "tell"]
    assert [w.text for w in agreement.update(guess)] == ["lets", "go"]  # two full ones agree


def test_guesses_from_the_first_second_of_an_utterance_are_never_committed() -> None:
    from app.services.streaming.engine import Hypothesis, LiveEngineConfig, OnlineTranscriber

    def decoder(samples: np.ndarray, prompt: str | None) -> Hypothesis:
        if len(samples) < 32_000:  # too little audio: Whisper guesses, the same way each time
            return Hypothesis(words=[TimedWord("lets", 0.0, 0.3), TimedWord("go", 0.3, 0.5)])
        return Hypothesis(words=[TimedWord("the", 0.0, 0.3), TimedWord("hotel", 0.3, 0.6)])

    engine = OnlineTranscriber(decoder, LiveEngineConfig(), None)
    events = [e for _ in range(6) for e in engine.feed(np.zeros(8000, np.float32))]
    events += engine.finalize("stop")
    assert any(e.type == "partial" and "lets" in e.unstable_text for e in events)  # shown
    assert not any(e.type == "partial" and "lets" in e.stable_text for e in events)
    assert [e.segment.text for e in events if e.type == "final"] == ["the hotel"]
