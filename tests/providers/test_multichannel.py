"""``multichannel=true`` end to end with tiny.en: a generated stereo call (two voices, one per
channel, talking over each other) through the REST endpoint and as a chunked job with
``speaker_roles``; and the refusals through the API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from tests.conftest import SettingsFactory
from tests.support.audio import speech, wer
from tests.support.jobs import post_upload, wait_job
from tests.support.multichannel import multichannel_wav
from tests.support.server import running_server

VOICES = ("en+m3", "en-us+f4")
AGENT = "Thank you for calling the bank, how can I help you today?"
CUSTOMER = "My credit card was stolen yesterday evening at the train station."


def _call(path: Path) -> Path:
    """The agent on the left channel from 0 s, the customer on the right from 1.5 s: they
    overlap by about two seconds."""
    multichannel_wav(
        path,
        [[(0.0, speech(AGENT, voice=VOICES[0]))], [(1.5, speech(CUSTOMER, voice=VOICES[1]))]],
    )
    return path


def _channel_text(segments: list[dict[str, Any]], channel: int) -> str:
    return " ".join(s["text"] for s in segments if s["channel"] == channel)


def test_stereo_call_each_channel_is_its_own_sentence(
    make_settings: SettingsFactory, shared_data_dir: Path, tmp_path: Path
) -> None:
    call = _call(tmp_path / "call.wav")
    with running_server(make_settings(data_dir=shared_data_dir)) as url:

        def post(**data: Any) -> dict[str, Any]:
            with open(call, "rb") as f:
                reply = httpx.post(
                    f"{url}/v1/audio/transcriptions",
                    files={"file": ("call.wav", f, "audio/wav")},
                    data={"model": "tiny.en", "multichannel": "true", **data},
                    timeout=120,
                )
            assert reply.status_code == 200, reply.text
            return reply.json()  # type: ignore[no-any-return]

        body = post(
            response_format="verbose_json", **{"timestamp_granularities[]": ["word", "segment"]}
        )
        # segment timestamps only: the customer's segment must still start where the customer
        # does (1.5 s), not at 0.0 where Whisper's first timestamp token puts it across the
        # silence before, or it would be interleaved ahead of the agent
        plain = post(response_format="verbose_json")
    first = next(s for s in plain["segments"] if s["channel"] == 1)
    assert 1.0 <= first["start"] <= 2.0, plain["segments"]
    assert plain["segments"][0]["channel"] == 0
    assert "words" not in plain or not plain["words"]
    segments = body["segments"]
    assert wer(AGENT, _channel_text(segments, 0)) <= 0.25, segments
    assert wer(CUSTOMER, _channel_text(segments, 1)) <= 0.25, segments
    starts = [s["start"] for s in segments]
    assert starts == sorted(starts)
    assert [s["id"] for s in segments] == list(range(len(segments)))
    assert {(s["channel"], s["speaker"]) for s in segments} == {(0, "ch0"), (1, "ch1")}
    # the customer starts talking while the agent's first segment is still going
    first_customer = next(s for s in segments if s["channel"] == 1)
    assert first_customer["start"] < max(s["end"] for s in segments if s["channel"] == 0)
    assert body["text"] == " ".join(s["text"] for s in segments)
    assert body["metadata"]["channels"] == 2
    assert len(body["words"]) >= len(AGENT.split()) + len(CUSTOMER.split()) - 4


def test_multichannel_refusals_through_the_api(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    mono = speech("One two three four five.")
    three = tmp_path / "three.wav"
    multichannel_wav(three, [[(0.0, mono)]] * 3)
    settings = make_settings(max_audio_channels=2)
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=60) as client:

        def post(path: Path, route: str = "/v1/audio/transcriptions", **data: str) -> Any:
            with open(path, "rb") as f:
                return client.post(
                    route,
                    files={"file": (path.name, f, "audio/wav")},
                    data={"model": "mock", "multichannel": "true", **data},
                )

        for reply in (post(mono), post(mono, "/v1/audio/jobs")):
            assert reply.status_code == 400, reply.text
            error = reply.json()["error"]
            assert (error["param"], error["code"]) == ("multichannel", "mono_audio")
            assert "mono" in error["message"]
        too_many = post(three).json()["error"]
        assert too_many["code"] == "too_many_channels" and "3 channels" in too_many["message"]
        streamed = post(three, stream="true")
        assert streamed.status_code == 400 and streamed.json()["error"]["param"] == "multichannel"
        no_speakers = post(mono, multichannel="false", speaker_roles="agent,customer")
        assert no_speakers.status_code == 400
        assert no_speakers.json()["error"]["param"] == "speaker_roles"


def test_chunked_multichannel_job_with_roles(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """A 20 s stereo call as a job in 10 s chunks: each chunk's channels are decoded from the
    stored file and transcribed in turn, each channel is merged across the cuts on its own, and
    ``speaker_roles`` names the channels in order (the customer speaks first here)."""
    turns = [
        (1, 0.0, "Hello, I would like to ask about my electricity bill."),
        (0, 2.5, "Good afternoon, you are speaking with the billing office."),
        (1, 4.5, "Okay."),  # said over the agent, ending before the agent's segment does
        (1, 8.5, "The amount this month is twice as high as usual."),
        (0, 13.0, "Let me check the meter readings for your address."),
    ]
    call = tmp_path / "call.wav"
    multichannel_wav(
        call,
        [
            [(start, speech(text, voice=VOICES[ch])) for ch_, start, text in turns if ch_ == ch]
            for ch in (0, 1)
        ],
    )
    with running_server(make_settings()) as url, httpx.Client(base_url=url, timeout=60) as client:
        created = post_upload(
            client,
            call,
            model="tiny.en",
            multichannel="true",
            speaker_roles="agent,customer",
            chunk_seconds="10",
            response_format="diarized_json",
        )
        job = wait_job(client, created["id"], timeout=180, interval=0.1)
        assert job["status"] == "succeeded", job
        srt = client.get(f"/v1/media/{job['media_id']}/transcript", params={"format": "srt"})
        text = client.get(f"/v1/media/{job['media_id']}/transcript", params={"format": "text"})
        events = client.get(f"/v1/audio/jobs/{job['id']}/events").text
    assert job["progress"]["chunks_total"] >= 2
    segments = job["result"]["segments"]
    for channel, role in ((0, "agent"), (1, "customer")):
        said = " ".join(t for ch, _, t in turns if ch == channel)
        assert wer(said, _channel_text(segments, channel)) <= 0.3, segments
        assert {s["speaker"] for s in segments if s["channel"] == channel} == {role}
    starts = [s["start"] for s in segments]
    assert starts == sorted(starts)
    assert segments[0]["speaker"] == "customer"  # roles follow channels, not who spoke first
    cues = [line for line in srt.text.splitlines() if line.startswith("[")]
    assert {c.split("]")[0] + "]" for c in cues} == {"[agent]", "[customer]"}
    lines = text.text.splitlines()
    assert lines[0].startswith("customer: ") and any(x.startswith("agent: ") for x in lines)
    assert np.isclose(job["result"]["duration"], 17.0, atol=3.0)
    # the event stream merges each chunk's channels as the job's merge does
    chunks = [
        json.loads(line.removeprefix("data: "))
        for line in events.splitlines()
        if line.startswith('data: {"chunk"')
    ]
    assert len(chunks) == job["progress"]["chunks_total"]
    assert " ".join(c["text"] for c in chunks if c["text"]) == job["result"]["text"]
    streamed = [s for c in chunks for s in c["segments"]]
    assert [
        (s["id"], s["channel"], round(s["start"], 3), round(s["end"], 3)) for s in streamed
    ] == [(i, s["channel"], s["start"], s["end"]) for i, s in enumerate(segments)]
