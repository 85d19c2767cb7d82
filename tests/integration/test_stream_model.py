"""Live streaming with the real tiny.en model: accuracy against batch, joins, concurrency."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.config import load_settings
from tests.support.audio import speech, wer
from tests.support.server import running_server
from tests.support.stream import StreamResult, assert_never_retracted, read_wav, stream

pytestmark = pytest.mark.model

SPOKEN = (
    "We will walk to the park after lunch. My sister likes to read books in the garden. "
    "Please close the window before you go to sleep."
)
OTHER = "The train leaves the station at nine in the morning."
# no long pauses: one utterance longer than the buffer cap, so the buffer is cut mid-speech.
# Five sentences (57 words): with the 37-word version, one word misheard at a join under load
# ("near" as "here in", two errors) was already over the bound (seen in 2 of 4 CI runs).
CONTINUOUS = (
    SPOKEN
    + " The children are playing with a red ball near the river. "
    + OTHER
    + " Our neighbours painted their fence a bright shade of green."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # a 6 s buffer cap (default 12 s) makes the continuous clip cross buffer cuts mid-speech
    settings = load_settings(
        _env_file=None, data_dir=tmp_path_factory.mktemp("stream-model"), stream_max_buffer_s=6.0
    )
    with running_server(settings) as url:
        yield url


def batch_text(server: str, clip: Path) -> str:
    with clip.open("rb") as handle:
        response = httpx.post(
            f"{server}/v1/audio/transcriptions",
            files={"file": (clip.name, handle, "audio/wav")},
            data={"model": "whisper-1", "response_format": "json"},
            timeout=120,
        )
    response.raise_for_status()
    return str(response.json()["text"])


def _words(text: str) -> list[str]:
    return re.sub(r"[^\w' ]+", " ", text.lower()).split()


def assert_no_duplicates_at_joins(result: StreamResult, reference: str) -> None:
    """No word repeats across a final boundary (the reference never repeats a word)."""
    finals = [_words(e["segment"]["text"]) for e in result.of("final")]
    ref = _words(reference)
    assert all(a != b for a, b in itertools.pairwise(ref))
    for before, after in itertools.pairwise(finals):
        if before and after:
            assert before[-1] != after[0], f"duplicated at a join: {before[-3:]} | {after[:3]}"
            assert before[-2:] != after[:2]
    words = [w for f in finals for w in f]
    assert all(a != b for a, b in itertools.pairwise(words)), words


def assert_segments_valid(result: StreamResult, duration: float) -> None:
    previous_end = 0.0
    for event in result.of("final"):
        segment = event["segment"]
        assert previous_end - 0.01 <= segment["start"] <= segment["end"] <= duration + 0.01
        assert segment["text"] == " ".join(w["word"] for w in segment["words"])
        assert 0.0 <= segment["confidence"] <= 1.0
        previous_end = segment["end"]


@pytest.mark.parametrize(
    ("text", "speed", "gap_ms"), [(SPOKEN, 1.0, 700), (CONTINUOUS, 4.0, 0)], ids=["1x", "4x"]
)
def test_stream_matches_batch(server: str, text: str, speed: float, gap_ms: int) -> None:
    clip = speech(text, gap_ms=gap_ms)
    pcm, rate = read_wav(clip)
    result = asyncio.run(stream(server, pcm, rate, speed=speed, timeout=120))
    assert result.close_code == 1000, result.events[-3:]
    streamed = result.final_text
    batch = batch_text(server, clip)
    assert wer(text, streamed) <= wer(text, batch) + 0.05, (streamed, batch)
    assert_no_duplicates_at_joins(result, text)
    assert_never_retracted(result.events)
    assert_segments_valid(result, len(pcm) / 2 / rate)
    assert result.of("end")[0]["summary"]["text"] == streamed
    reasons = [e["reason"] for e in result.of("final")]
    if gap_ms:
        assert reasons.count("silence") >= 2  # the pauses between sentences end utterances
    else:
        assert "max_buffer" in reasons  # a join inside continuous speech


def test_concurrent_sessions_are_independent(server: str) -> None:
    clips = [read_wav(speech(SPOKEN, gap_ms=700)), read_wav(speech(OTHER, voice="en-gb"))]

    async def both() -> list[StreamResult]:
        return list(
            await asyncio.gather(
                *(stream(server, pcm, rate, speed=2.0, timeout=120) for pcm, rate in clips)
            )
        )

    first, second = asyncio.run(both())
    assert first.close_code == second.close_code == 1000
    assert wer(SPOKEN, first.final_text) <= 0.2, first.final_text
    assert wer(OTHER, second.final_text) <= 0.25, second.final_text
    assert not {"train", "station", "morning"} & set(_words(first.final_text))
    assert not {"park", "sister", "window"} & set(_words(second.final_text))
    assert first.of("start")[0]["session_id"] != second.of("start")[0]["session_id"]
    for result in (first, second):
        assert_never_retracted(result.events)
