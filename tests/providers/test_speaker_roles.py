"""``speaker_roles`` on the espeak two-voice dialogue: diarized speakers named by order of first
appearance, in ``diarized_json`` and the stored transcript's SRT, WebVTT and text."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.conftest import SettingsFactory
from tests.providers.test_diarization import TURNS, _true_speaker, dialogue
from tests.support.jobs import post_upload, wait_job
from tests.support.server import running_server

ROLES = ("agent", "customer")  # the dialogue's first voice answers the support line


def test_roles_name_the_two_voices_of_the_dialogue(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    audio = tmp_path / "dialogue.wav"
    truth = dialogue(audio)
    with running_server(make_settings()) as url, httpx.Client(base_url=url, timeout=60) as client:
        created = post_upload(
            client,
            audio,
            model="tiny.en",
            diarize="true",
            speaker_roles=",".join(ROLES),
            response_format="diarized_json",
        )
        job = wait_job(client, created["id"], timeout=120, interval=0.1)
        assert job["status"] == "succeeded", job
        stored = f"/v1/media/{job['media_id']}/transcript"
        srt = client.get(stored, params={"format": "srt"}).text
        vtt = client.get(stored, params={"format": "vtt"}).text
        text = client.get(stored, params={"format": "text"}).text
    segments = job["result"]["segments"]
    assert len(segments) >= len(TURNS) - 1
    assert segments[0]["speaker"] == "agent"  # the first to talk gets the first role
    right = [s["speaker"] == ROLES[_true_speaker(s, truth)] for s in segments]
    assert sum(right) >= 0.9 * len(segments), segments
    cue_speakers = {line.split("]")[0] + "]" for line in srt.splitlines() if line.startswith("[")}
    assert cue_speakers == {"[agent]", "[customer]"}
    assert "<v agent>" in vtt and "<v customer>" in vtt
    lines = text.splitlines()
    assert lines[0].startswith("agent: Good morning") and lines[1].startswith("customer: ")
    assert len(lines) >= len(TURNS) - 1  # one line per turn
