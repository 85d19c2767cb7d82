"""The official ``openai`` SDK's Realtime client (``client.realtime.connect(extra_query=
{"intent": "transcription"})``) against a live uvicorn gateway.

The model tests share the session's real-model server (tiny.en) and feed espeak-ng speech
faster than real time where the behaviour allows; the protocol tests use the mock provider.
"""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.core.config import load_settings
from tests.support.audio import speech, wer
from tests.support.realtime import (
    COMPLETED,
    DELTA,
    append_audio,
    mulaw_encode,
    realtime_session,
)
from tests.support.server import running_server
from tests.support.stream import read_wav

#: two turns long enough (about 5 s each) for words to commit while they are spoken at 1.5x speed
TURNS = (
    "Please remember to bring your umbrella and your warm coat tomorrow morning. "
    "The weather today is sunny with a light breeze from the west and a few clouds."
)
FIRST, SECOND = "Our team will meet at the station.", "My sister likes to read books in the garden."
KEY = "sk-realtime-test-key"
PCM_BYTES_PER_S = 24_000 * 2


def transcription_session(**audio_input: Any) -> dict[str, Any]:
    return {
        "type": "transcription",
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
                **audio_input,
            }
        },
    }


def pcm24(text: str, gap_ms: int = 0) -> bytes:
    pcm, rate = read_wav(speech(text, rate=24_000, gap_ms=gap_ms))
    assert rate == 24_000
    return pcm


@pytest.fixture(scope="module")
def mock_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Auth on (API key), one live session at a time, the deterministic mock provider."""
    settings = load_settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("realtime"),
        auth_mode="api_key",
        api_key=KEY,
        stream_max_sessions=1,
        stream_max_protocol_errors=50,
    )
    with running_server(settings) as url:
        yield url


@pytest.mark.model
async def test_server_vad_turns_stream_deltas_then_completions(model_server: str) -> None:
    pcm = pcm24(TURNS, gap_ms=1200)
    async with realtime_session(f"{model_server}/v1") as (connection, rec):
        created = await rec.expect_type("session.created")
        assert created["session"]["type"] == "transcription"
        # warm up (the first decode loads the live model), then re-configure for server VAD
        await connection.session.update(session=transcription_session(turn_detection=None))
        await append_audio(connection, pcm24(FIRST), bytes_per_s=PCM_BYTES_PER_S, speed=0)
        await connection.input_audio_buffer.commit()
        warm = await rec.expect_type(COMPLETED)
        mark = len(rec.events)
        await connection.session.update(
            session=transcription_session(
                turn_detection={"type": "server_vad", "silence_duration_ms": 500}
            )
        )
        updated = await rec.expect_type("session.updated", after=mark)
        vad = updated["session"]["audio"]["input"]["turn_detection"]
        assert vad["silence_duration_ms"] == 500
        await append_audio(
            connection, pcm + bytes(PCM_BYTES_PER_S), bytes_per_s=PCM_BYTES_PER_S, speed=1.5
        )
        await rec.expect(lambda e: e["type"] == COMPLETED and len(rec.of(COMPLETED)) >= 3)

    warmup, *completed = rec.of(COMPLETED)
    assert warmup == warm and len(completed) == 2
    order = [e["type"] for e in rec.events]
    previous = warm["item_id"]
    heard_ms = (len(pcm24(FIRST)) + len(pcm)) / 48  # the timeline spans both configurations
    early = 0  # turns whose first words arrived while they were still spoken
    for done in completed:
        item = done["item_id"]
        events = [e for e in rec.events if e.get("item_id") == item]
        kinds = [e["type"] for e in events]
        assert kinds[0] == "input_audio_buffer.speech_started"
        # words arrive while the turn is spoken, before the VAD hears its end
        assert DELTA in kinds and kinds.index(DELTA) < kinds.index(COMPLETED)
        early += kinds.index(DELTA) < kinds.index("input_audio_buffer.speech_stopped")
        assert kinds[-1] == COMPLETED
        assert "".join(e["delta"] for e in events if e["type"] == DELTA) == done["transcript"]
        committed = next(e for e in events if e["type"] == "input_audio_buffer.committed")
        assert committed["previous_item_id"] == previous
        previous = item
        assert done["usage"]["type"] == "duration" and done["usage"]["seconds"] > 1
        started = next(e for e in events if e["type"] == "input_audio_buffer.speech_started")
        stopped = next(e for e in events if e["type"] == "input_audio_buffer.speech_stopped")
        assert 0 <= started["audio_start_ms"] < stopped["audio_end_ms"] <= heard_ms
    assert early >= 1, [
        (round(t, 2), e["type"], e.get("delta"))
        for e, t in zip(rec.events, rec.arrivals, strict=True)
    ]
    assert order.count("error") == 0

    batch = openai.OpenAI(base_url=f"{model_server}/v1", api_key="unused", max_retries=0)
    text = batch.audio.transcriptions.create(
        model="whisper-1", file=speech(TURNS, gap_ms=1200).open("rb")
    ).text
    joined = " ".join(e["transcript"] for e in completed)
    assert wer(text, joined) <= 0.05, (text, joined)


@pytest.mark.model
async def test_manual_commit_clear_and_mulaw(model_server: str) -> None:
    async with realtime_session(f"{model_server}/api/v1") as (connection, rec):
        await connection.session.update(session=transcription_session(turn_detection=None))
        updated = await rec.expect_type("session.updated")
        assert updated["session"]["audio"]["input"]["turn_detection"] is None

        # cleared audio is never transcribed
        await append_audio(connection, pcm24(SECOND), bytes_per_s=PCM_BYTES_PER_S, speed=0)
        await connection.input_audio_buffer.clear()
        await rec.expect_type("input_audio_buffer.cleared")
        await append_audio(connection, pcm24(FIRST), bytes_per_s=PCM_BYTES_PER_S, speed=0)
        await connection.input_audio_buffer.commit()
        first = await rec.expect_type(COMPLETED)
        assert wer(FIRST, first["transcript"]) <= 0.15, first
        assert "sister" not in first["transcript"].lower()

        # G.711 mu-law at 8 kHz, configured with the beta event
        await connection.send(
            {  # type: ignore[arg-type]
                "type": "transcription_session.update",
                "session": {"input_audio_format": "g711_ulaw", "turn_detection": None},
            }
        )
        beta = await rec.expect_type("transcription_session.updated")
        assert beta["session"]["input_audio_format"] == "g711_ulaw"
        pcm8, rate = read_wav(speech(SECOND, rate=8000))
        mark = len(rec.events)
        await append_audio(connection, mulaw_encode(pcm8), bytes_per_s=rate, speed=0)
        await connection.input_audio_buffer.commit()
        second = await rec.expect_type(COMPLETED, after=mark)
        assert wer(SECOND, second["transcript"]) <= 0.2, second

    assert not rec.of("input_audio_buffer.speech_started")  # no VAD events without VAD
    committed = rec.of("input_audio_buffer.committed")
    assert [c["previous_item_id"] for c in committed] == [None, first["item_id"]]
    assert not rec.of("error")


async def test_malformed_events_get_errors_and_the_session_survives(mock_server: str) -> None:
    async with realtime_session(f"{mock_server}/v1", api_key=KEY) as (connection, rec):
        await rec.expect_type("session.created")
        raw = connection._connection  # the SDK's socket: send what the SDK would not
        await raw.send("not json")
        await connection.send({"type": "response.create", "event_id": "evt_1"})  # type: ignore[arg-type]
        await connection.input_audio_buffer.append(audio="***", event_id="evt_2")
        await connection.input_audio_buffer.commit(event_id="evt_3")
        await connection.send(
            {"type": "session.update", "session": {"type": "realtime"}}  # type: ignore[arg-type]
        )
        await connection.send(
            {  # type: ignore[arg-type]
                "type": "session.update",
                "session": {
                    "type": "transcription",
                    "audio": {"input": {"transcription": {"model": "no-such-model"}}},
                },
            }
        )
        await raw.send(b"\x00\x01")
        await rec.expect(lambda _: len(rec.of("error")) >= 7)
        details = [e["error"] for e in rec.of("error")]
        assert len(details) == 7, details
        assert [d["code"] for d in details[:4]] == [
            "invalid_json",
            "unknown_message_type",
            "invalid_audio",
            "input_audio_buffer_commit_empty",
        ]
        assert [d["event_id"] for d in details[1:4]] == ["evt_1", "evt_2", "evt_3"]
        assert all(d["type"] == "invalid_request_error" for d in details[:6])
        assert details[4]["param"] == "session.type"
        assert details[5]["param"] == "model"

        # still alive: a valid update and a commit of real audio are answered
        await connection.session.update(
            session=transcription_session(turn_detection=None)
            | {"audio": {"input": {"transcription": {"model": "mock"}, "turn_detection": None}}}
        )
        await rec.expect_type("session.updated")
        silence = base64.b64encode(bytes(PCM_BYTES_PER_S // 2)).decode()
        await connection.input_audio_buffer.append(audio=silence)
        await connection.input_audio_buffer.commit()
        done = await rec.expect_type(COMPLETED)
        assert done["transcript"] == ""


async def test_wrong_key_is_refused(mock_server: str) -> None:
    client = openai.AsyncOpenAI(base_url=f"{mock_server}/v1", api_key="wrong", max_retries=0)
    events = []
    try:
        async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
            async for event in conn:
                events.append(event.to_dict())
    except (ConnectionClosed, InvalidStatus):
        pass
    assert [e["type"] for e in events] == ["error"]
    assert events[0]["error"]["code"] == "invalid_api_key"
    assert events[0]["error"]["type"] == "authentication_error"


async def test_dropped_client_releases_its_lease(mock_server: str) -> None:
    async with realtime_session(f"{mock_server}/v1", api_key=KEY) as (connection, rec):
        await rec.expect_type("session.created")
        async with realtime_session(f"{mock_server}/v1", api_key=KEY) as (_, refused):
            error = await refused.expect_type("error")
            assert error["error"]["code"] == "too_many_sessions"
        connection._connection.transport.abort()  # vanish: no close frame
    deadline = time.monotonic() + 10
    while True:
        async with realtime_session(f"{mock_server}/v1", api_key=KEY) as (_, again):
            first = await again.expect(lambda e: True)
        if first["type"] == "session.created":
            break
        assert first["error"]["code"] == "too_many_sessions" and time.monotonic() < deadline
        await asyncio.sleep(0.1)
    metrics = httpx.get(f"{mock_server}/metrics").text
    assert 'audio_stt_streaming_sessions_started_total{protocol="realtime"}' in metrics
