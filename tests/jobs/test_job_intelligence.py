"""Jobs report quality, audio warnings and the enhancement, and the Media DB keeps them with
the transcript."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import SettingsFactory
from tests.support.audio import speech, varied_text
from tests.support.jobs import wait_job
from tests.support.server import running_server


def _quiet_8k(source: Path, out: Path) -> Path:
    quieter = ["-af", "volume=-35dB", "-ar", "8000"]
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), *quieter, str(out)], check=True
    )
    return out


@pytest.fixture
def quiet_8k(tmp_path: Path) -> Path:
    source = speech("Please call me back about the invoice tomorrow morning.", rate=16_000)
    return _quiet_8k(source, tmp_path / "phone.wav")


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
        # STT_ENHANCE=auto: the quiet recording was raised to the target level for the model
        assert metadata["enhancement"]["gain_db"] > 20
        assert metadata["enhancement"]["filters"].startswith("highpass=f=80,lowpass=f=7600,")
        quality = metadata["quality"]
        assert quality["confidence_source"] == "words"  # jobs always time words
        assert quality["confidence_buckets"]["high"] == 1.0  # the mock is always sure
        assert quality["real_time_factor"] is not None
        shown = client.get(
            f"/v1/media/{job['media_id']}/transcript", params={"format": "verbose_json"}
        ).json()
        assert shown["metadata"]["warnings"] == metadata["warnings"]


def test_each_chunk_of_a_quiet_job_is_enhanced(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """Chunks are enhanced one by one (gain from the chunk's own level, so the job's worker and
    a helper that decodes only the chunk give it the same samples); the merged transcript
    reports the largest gain."""
    audio = _quiet_8k(speech(varied_text(4), rate=16_000), tmp_path / "long.wav")
    settings = make_settings(
        default_provider="mock", default_model="mock", worker_poll_s=0.05, log_level="WARNING"
    )
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        with open(audio, "rb") as handle:
            reply = client.post(
                "/v1/audio/jobs",
                files={"file": ("long.wav", handle)},
                data={"model": "mock", "chunk_seconds": "10"},
            )
        job = wait_job(client, reply.json()["id"])
        assert job["status"] == "succeeded", job
        media = client.get(f"/v1/media/{job['media_id']}").json()
        metadata = media["analysis_details"]["metadata"]
        assert metadata["chunks"] >= 2
        assert 20 < metadata["enhancement"]["gain_db"] <= 40
        assert metadata["enhancement"]["level_dbfs"] < -40
        # the request's enhance=false wins over STT_ENHANCE=auto; other options, not a duplicate
        with open(audio, "rb") as handle:
            reply = client.post(
                "/v1/audio/jobs",
                files={"file": ("long.wav", handle)},
                data={"model": "mock", "chunk_seconds": "10", "enhance": "false"},
            )
        plain = wait_job(client, reply.json()["id"])
        assert plain["status"] == "succeeded" and plain["media_id"] != job["media_id"]
        media = client.get(f"/v1/media/{plain['media_id']}").json()
        assert media["analysis_details"]["metadata"].get("enhancement") is None
