"""Jobs take hour-long recordings: their own size and duration caps, apart from the synchronous
endpoint's 25 MB; over a cap, the precise error and nothing left on disk.

The large file is cheap: a short spoken passage padded with silence to 140 s of 48 kHz stereo
PCM (27 MB), so the real model decodes a few seconds of speech.
"""

from __future__ import annotations

import functools
import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.config import Settings
from tests.conftest import SettingsFactory
from tests.support.audio import SAMPLE_TEXT, speech, wer
from tests.support.jobs import wait_job
from tests.support.server import running_server

MB = 1024 * 1024


@functools.cache
def _large_wav() -> Path:
    """SAMPLE_TEXT spoken, then silence to 140 s; 48 kHz stereo s16: about 27 MB."""
    out = speech(SAMPLE_TEXT).with_name("caps-large-140s.wav")
    if not out.exists():
        subprocess.run(
            ["ffmpeg", "-loglevel", "error", "-y", "-i", str(speech(SAMPLE_TEXT)),
             "-af", "apad=whole_dur=140", "-ar", "48000", "-ac", "2", "-c:a", "pcm_s16le",
             str(out)],
            check=True,
        )
    return out


def _settings(make_settings: SettingsFactory, tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": f"sqlite:///{tmp_path / 'jobs.db'}",
        "default_provider": "mock",
        "default_model": "mock",
        "embedded_worker": True,
        "worker_poll_s": 0.05,
        "log_level": "WARNING",
        "url_allowlist": "127.0.0.1/32",
        **overrides,
    }
    return make_settings(**values)


def _files_left(settings: Settings) -> list[Path]:
    """Files under the tmp and audio-store directories (uploads in flight, stored audio)."""
    roots = [settings.tmp_dir, settings.audio_store_dir]
    return [p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()]


@pytest.fixture
def media_server() -> Iterator[str]:
    root = _large_wav().parent

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{_large_wav().name}"
    server.shutdown()
    server.server_close()


def _upload(client: httpx.Client, path: Path, route: str = "/v1/audio/jobs") -> httpx.Response:
    with path.open("rb") as audio:
        return client.post(
            route, files={"file": (path.name, audio, "audio/wav")}, data={"model": "whisper-1"}
        )


@pytest.mark.model
def test_job_upload_and_download_over_25_mb_finish(
    make_settings: SettingsFactory, tmp_path: Path, media_server: str
) -> None:
    large = _large_wav()
    assert large.stat().st_size > 25 * MB
    settings = _settings(
        make_settings, tmp_path, default_provider="faster-whisper", default_model="tiny.en"
    )
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=120) as client:
        refused = _upload(client, large, "/v1/audio/transcriptions")
        assert refused.status_code == 413
        assert "STT_MAX_FILE_SIZE_MB" in refused.json()["error"]["message"]
        uploaded = _upload(client, large)
        assert uploaded.status_code == 202, uploaded.text
        downloaded = client.post(
            "/v1/audio/jobs", json={"url": media_server, "model": "whisper-1", "language": "en"}
        )
        assert downloaded.status_code == 202, downloaded.text
        for reply in (uploaded, downloaded):
            job = wait_job(client, reply.json()["id"], timeout=240)
            assert job["status"] == "succeeded", job
            text = client.get(f"/v1/audio/jobs/{job['id']}/result?response_format=text").text
            assert wer(SAMPLE_TEXT, text) < 0.15, text
            assert job["result"]["usage"]["seconds"] == 140


def test_job_upload_over_the_size_cap_is_refused_and_nothing_is_kept(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = _settings(make_settings, tmp_path, job_max_file_size_mb=20)
    large = _large_wav()

    def chunked() -> Iterator[bytes]:  # no Content-Length: caught while the bytes arrive
        boundary = b"--cap"
        disposition = b'Content-Disposition: form-data; name="file"; filename="a.wav"'
        yield boundary + b"\r\n" + disposition + b"\r\n\r\n"
        with large.open("rb") as handle:
            while block := handle.read(MB):
                yield block
        yield b"\r\n" + boundary + b"--\r\n"

    with running_server(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        declared = _upload(client, large)
        streamed = client.post(
            "/v1/audio/jobs",
            content=chunked(),
            headers={"Content-Type": "multipart/form-data; boundary=cap"},
        )
        for reply in (declared, streamed):
            assert reply.status_code == 413, reply.text
            error = reply.json()["error"]
            assert error["code"] == "file_too_large"
            assert "20 MB" in error["message"] and "STT_JOB_MAX_FILE_SIZE_MB" in error["message"]
        assert client.get("/v1/audio/jobs").json()["data"] == []
    assert _files_left(settings) == []


def test_job_over_the_duration_cap_is_refused_before_it_is_queued(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = _settings(make_settings, tmp_path, job_max_audio_duration_s=100)
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        reply = _upload(client, _large_wav())
        assert reply.status_code == 400
        error = reply.json()["error"]
        assert error["code"] == "audio_too_long"
        assert "STT_JOB_MAX_AUDIO_DURATION_S" in error["message"], error
        assert client.get("/v1/audio/jobs").json()["data"] == []
    assert _files_left(settings) == []


def test_url_download_over_the_size_cap_fails_the_job_and_keeps_nothing(
    make_settings: SettingsFactory, tmp_path: Path, media_server: str
) -> None:
    settings = _settings(make_settings, tmp_path, job_max_file_size_mb=20, job_max_attempts=1)
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        reply = client.post("/v1/audio/jobs", json={"url": media_server})
        assert reply.status_code == 202, reply.text
        job = wait_job(client, reply.json()["id"], timeout=60)
        assert job["status"] in ("failed", "dead"), job
        assert job["error"]["code"] == "file_too_large"
        assert "STT_JOB_MAX_FILE_SIZE_MB" in job["error"]["message"]
    assert _files_left(settings) == []


def test_upload_that_would_fill_the_disk_gets_507(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    settings = _settings(make_settings, tmp_path, min_free_disk_mb=10_000_000)
    with running_server(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        reply = _upload(client, speech(SAMPLE_TEXT))
        assert reply.status_code == 507
        assert reply.json()["error"]["code"] == "insufficient_storage"
        assert "STT_MIN_FREE_DISK_MB" in reply.json()["error"]["message"]
        assert "Retry-After" in reply.headers
    assert _files_left(settings) == []
