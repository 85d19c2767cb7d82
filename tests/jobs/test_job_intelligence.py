"""Jobs report quality and audio warnings, and the Media DB keeps them with the transcript."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import SettingsFactory
from tests.support.audio import speech
from tests.support.jobs import wait_job
from tests.support.server import running_server


@pytest.fixture
def quiet_8k(tmp_path: Path) -> Path:
    out = tmp_path / "phone.wav"
    source = speech("Please call me back about the invoice tomorrow morning.", rate=16_000)
    quieter = ["-af", "volume=-35dB", "-ar", "8000"]
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), *quieter, str(out)], check=True
    )
    return out


def test_job_media_stores_quality_and_warnings(
    make_settings: SettingsFactory, quiet_8k: Path
) -> None:
    settings = make_settings(
        default_provider="mock", default_model="mock", worker_poll_s=0.05, log_level="WARNING"
    )
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        with open(quiet_8k, "rb") as handle:
            reply = client.post(
                "/v1/audio/jobs", files={"file": ("phone.wav", handle)}, data={"model": "mock"}
            )
        assert reply.status_code == 202, reply.text
        job = wait_job(client, reply.json()["id"])
        assert job["status"] == "succeeded", job
        media = client.get(f"/v1/media/{job['media_id']}").json()
        metadata = media["analysis_details"]["metadata"]
        assert [w["code"] for w in metadata["warnings"]][:2] == ["low_sample_rate", "low_level"]
        quality = metadata["quality"]
        assert quality["confidence_source"] == "words"  # jobs always time words
        assert quality["confidence_buckets"]["high"] == 1.0  # the mock is always sure
        assert quality["real_time_factor"] is not None
        shown = client.get(
            f"/v1/media/{job['media_id']}/transcript", params={"format": "verbose_json"}
        ).json()
        assert shown["metadata"]["warnings"] == metadata["warnings"]
