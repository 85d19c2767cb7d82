"""The official openai SDK against a live gateway with the real tiny.en / base models."""

from __future__ import annotations

import re
import time
from pathlib import Path

import openai
import pytest

from tests.support.audio import SAMPLE_TEXT, speech, varied_text, wer

pytestmark = pytest.mark.model

TEXT = SAMPLE_TEXT


@pytest.fixture(scope="module")
def client(model_server: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{model_server}/v1", api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def clip() -> Path:
    return speech(TEXT, fmt="mp3")


def test_json_format(client: openai.OpenAI, clip: Path) -> None:
    result = client.audio.transcriptions.create(model="whisper-1", file=clip.open("rb"))
    assert wer(TEXT, result.text) <= 0.15
    assert result.usage is not None and result.usage.type == "duration"
    assert result.usage.seconds == pytest.approx(10, abs=3)


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt"])
def test_text_formats(client: openai.OpenAI, clip: Path, fmt: str) -> None:
    body = client.audio.transcriptions.create(
        model="whisper-1", file=clip.open("rb"), response_format=fmt
    )
    assert isinstance(body, str)
    stamp = r"\d\d:\d\d:\d\d[,.]\d\d\d --> \d\d:\d\d:\d\d[,.]\d\d\d"
    if fmt == "srt":
        assert re.match(rf"1\n{stamp}\n", body)
        assert "," in body.splitlines()[1]
    elif fmt == "vtt":
        assert body.startswith("WEBVTT\n\n")
        assert re.search(stamp, body) and "." in body.splitlines()[2]
    else:
        assert "\n" not in body.strip()
    spoken = " ".join(
        line
        for line in body.splitlines()
        if line and not re.match(rf"^(\d+|WEBVTT|{stamp})$", line)
    )
    assert wer(TEXT, spoken) <= 0.15


def test_verbose_json_segments_and_words(client: openai.OpenAI, clip: Path) -> None:
    result = client.audio.transcriptions.create(
        model="tiny.en",
        file=clip.open("rb"),
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert result.language == "english"
    assert result.duration == pytest.approx(10, abs=3)
    assert result.segments and result.words
    assert all(s.end >= s.start for s in result.segments)
    starts = [w.start for w in result.words]
    assert starts == sorted(starts)
    assert all(0 <= w.start <= w.end <= result.duration for w in result.words)
    assert wer(TEXT, " ".join(w.word for w in result.words)) <= 0.15
    seg = result.segments[0]
    assert isinstance(seg.tokens, list) and seg.tokens
    assert -5 < seg.avg_logprob <= 0 and 0 <= seg.no_speech_prob <= 1


def test_word_granularity_alone_omits_segments(client: openai.OpenAI, clip: Path) -> None:
    result = client.audio.transcriptions.create(
        model="whisper-1",
        file=clip.open("rb"),
        response_format="verbose_json",
        timestamp_granularities=["word"],
    )
    assert result.words and not result.segments


def test_translation_with_multilingual_model(client: openai.OpenAI) -> None:
    german = speech("Guten Morgen. Wie geht es dir heute?", voice="de")
    with pytest.deprecated_call():  # the SDK marks translations deprecated; the API still has it
        result = client.audio.translations.create(
            model="whisper-1", file=german.open("rb"), response_format="verbose_json"
        )
    assert result.language == "german"
    assert re.search(r"\b(morning|how|you|today)\b", result.text.lower()), result.text


def test_translation_refuses_english_only_model(client: openai.OpenAI, clip: Path) -> None:
    with pytest.raises(openai.BadRequestError) as info, pytest.deprecated_call():
        client.audio.translations.create(model="tiny.en", file=clip.open("rb"))
    assert info.value.code == "capability_not_supported"


def test_stream_sends_deltas_before_decoding_finishes(client: openai.OpenAI) -> None:
    text = varied_text(14)  # ~55 s: two 30 s decoding windows
    started = time.perf_counter()
    stream = client.audio.transcriptions.create(
        model="whisper-1", file=speech(text, fmt="ogg").open("rb"), stream=True
    )
    deltas, arrivals, done = [], [], None
    for event in stream:
        if event.type == "transcript.text.delta":
            deltas.append(event.delta)
            arrivals.append(time.perf_counter())
        else:
            done = event
            finished = time.perf_counter()
    assert done is not None and done.type == "transcript.text.done"
    assert len(deltas) >= 2
    assert "".join(deltas) == done.text
    assert (finished - arrivals[0]) > 0.2 * (finished - started)
    assert done.usage is not None and done.usage.seconds >= 30
    assert wer(text, done.text) <= 0.2


def test_api_v1_prefix(model_server: str, clip: Path) -> None:
    alt = openai.OpenAI(base_url=f"{model_server}/api/v1", api_key="unused", max_retries=0)
    assert alt.audio.transcriptions.create(model="mock", file=clip.open("rb")).text


@pytest.mark.parametrize(
    ("kwargs", "error", "code"),
    [
        ({"response_format": "docx"}, openai.BadRequestError, "invalid_value"),
        ({"model": "no-such-model"}, openai.NotFoundError, "model_not_found"),
        ({"timestamp_granularities": ["word"]}, openai.BadRequestError, "invalid_value"),
        ({"temperature": 3}, openai.BadRequestError, "invalid_value"),
        ({"language": "klingon"}, openai.BadRequestError, "unsupported_language"),
    ],
)
def test_parameter_errors(
    client: openai.OpenAI, clip: Path, kwargs: dict, error: type, code: str
) -> None:
    kwargs = {"model": "whisper-1", **kwargs}
    with pytest.raises(error) as info:
        client.audio.transcriptions.create(file=clip.open("rb"), **kwargs)
    assert info.value.code == code
    assert info.value.body["type"] == "invalid_request_error"


def test_non_audio_is_415(client: openai.OpenAI, tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp3"
    fake.write_text("this is not audio at all\n" * 50)
    with pytest.raises(openai.APIStatusError) as info:
        client.audio.transcriptions.create(model="whisper-1", file=fake.open("rb"))
    assert info.value.status_code == 415
    assert info.value.code == "unsupported_media_type"


def test_oversize_is_413(client: openai.OpenAI, tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    big.write_bytes(b"RIFF" + b"\0" * (3 * 1024 * 1024))  # server cap is 2 MB
    with pytest.raises(openai.APIStatusError) as info:
        client.audio.transcriptions.create(model="whisper-1", file=big.open("rb"))
    assert info.value.status_code == 413
    assert info.value.code == "file_too_large"
