"""stream=true honours the custom vocabulary and refuses diarization it cannot deliver."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from tests.conftest import SettingsFactory
from tests.support.audio import speech
from tests.support.server import running_server


def _events(body: str) -> list[dict]:
    return [json.loads(line[6:]) for line in body.splitlines() if line.startswith("data: ")]


def test_stream_applies_vocabulary_and_refuses_diarization(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    fixture = tmp_path / "fixture.txt"
    fixture.write_text("we shipped the new acme widget to every customer today " * 3)
    settings = make_settings(mock_fixture=fixture, embedded_worker=False)
    audio = speech("Hello there, general test.").read_bytes()
    with running_server(settings) as url:
        r = httpx.post(
            f"{url}/v1/audio/transcriptions",
            data={"model": "mock", "stream": "true", "vocabulary": '{"acme widget": "AcmeWidget"}'},
            files={"file": ("a.wav", audio, "audio/wav")},
            timeout=60,
        )
        assert r.status_code == 200
        events = _events(r.text)
        deltas = "".join(e["delta"] for e in events if e["type"] == "transcript.text.delta")
        done = events[-1]
        assert done["type"] == "transcript.text.done"
        assert deltas == done["text"]
        assert "AcmeWidget" in done["text"] and "acme widget" not in done["text"]

        r = httpx.post(
            f"{url}/v1/audio/transcriptions",
            data={"model": "mock", "stream": "true", "diarize": "true"},
            files={"file": ("a.wav", audio, "audio/wav")},
            timeout=60,
        )
        assert r.status_code == 400
        assert r.json()["error"]["param"] == "stream"
