"""The deployment's custom vocabulary corrects live finals (our WebSocket protocol) and
Realtime ``completed`` transcripts, with the deterministic mock provider (NATO words)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from app.core.config import load_settings
from tests.support.audio import speech
from tests.support.realtime import COMPLETED, DELTA, append_audio, realtime_session
from tests.support.server import running_server
from tests.support.stream import read_wav, stream

#: every mock word, in angle brackets: a regex rule with group references
RULES = {r"re:\b([a-z])([a-z]+)\b": r"<\1\2>", "re:<zulu>": "ZULU"}
BRACKETED = re.compile(r"^(<[a-z]+>|ZULU)$")
TEXT = "Streaming keeps the words in order. Nothing is lost between the windows."


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = load_settings(
        _env_file=None,
        data_dir=tmp_path_factory.mktemp("vocab-stream"),
        vocabulary=RULES,
        stream_max_step_ms=500,
    )
    with running_server(settings) as url:
        yield url


def _corrected(text: str) -> bool:
    return bool(text) and all(BRACKETED.match(word) for word in text.split())


async def test_live_finals_are_corrected(server: str) -> None:
    pcm, rate = read_wav(speech(TEXT, gap_ms=700))
    result = await stream(server, pcm, rate, speed=0, start={"model": "mock"})
    finals = [e["segment"] for e in result.of("final")]
    assert finals
    for segment in finals:
        assert _corrected(segment["text"]), segment["text"]
        assert " ".join(w["word"] for w in segment["words"]) == segment["text"]
    assert result.of("end")[0]["summary"]["text"] == result.final_text
    partial_words = {w for e in result.of("partial") for w in e["segment"]["text"].split()}
    assert not any(BRACKETED.match(w) for w in partial_words)  # partials show raw words


def _session(rate: int) -> dict[str, Any]:
    audio_input = {
        "format": {"type": "audio/pcm", "rate": rate},
        "transcription": {"model": "mock"},
        "turn_detection": None,
    }
    return {"type": "transcription", "audio": {"input": audio_input}}


async def test_realtime_completed_transcripts_are_corrected(server: str) -> None:
    pcm, rate = read_wav(speech(TEXT, rate=24_000))
    async with realtime_session(f"{server}/v1") as (connection, rec):
        await connection.session.update(session=_session(rate))
        await rec.expect_type("session.updated")
        await append_audio(connection, pcm, bytes_per_s=rate * 2, speed=0)
        await connection.input_audio_buffer.commit()
        done = await rec.expect_type(COMPLETED)
        deltas = [e["delta"] for e in rec.of(DELTA)]
    assert _corrected(done["transcript"]), done["transcript"]
    assert deltas and not any(BRACKETED.match(w) for d in deltas for w in d.split())  # raw words
    assert len(" ".join(deltas).split()) == len(done["transcript"].split())  # one per word here
