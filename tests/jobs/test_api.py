"""The job and media APIs on a live server with the embedded worker (SQLite and PostgreSQL)."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.config import Settings
from tests.jobs.support import write_wav
from tests.support.audio import SAMPLE_TEXT, speech, wer
from tests.support.jobs import wait_job
from tests.support.server import running_server

# a passage, not one short sentence: on nine words a single misheard word is a WER of 0.11-0.33,
# and which word tiny.en mishears varies with the CPU's instruction set
URL_TEXT = SAMPLE_TEXT


def test_upload_job_result_formats_and_media(client: httpx.Client, tmp_path: Path) -> None:
    audio = write_wav(tmp_path / "a.wav", 3.0)
    with open(audio, "rb") as handle:
        reply = client.post(
            "/v1/audio/jobs",
            files={"file": ("a.wav", handle, "audio/wav")},
            data={"model": "mock", "response_format": "verbose_json", "priority": "5"},
            headers={"Idempotency-Key": "upload-1"},
        )
    assert reply.status_code == 202, reply.text
    created = reply.json()
    assert created["status"] == "queued" and created["priority"] == 5
    job = wait_job(client, created["id"])
    assert job["status"] == "succeeded" and job["attempts"] == 1
    assert job["progress"] == {"fraction": 1.0, "chunks_done": 1, "chunks_total": 1}
    assert job["result"]["task"] == "transcribe" and job["result"]["segments"]
    srt = client.get(f"/v1/audio/jobs/{job['id']}/result", params={"response_format": "srt"})
    assert srt.headers["content-type"].startswith("application/x-subrip")
    assert srt.text.startswith("1\n00:00:00,000 --> ")
    # the same key returns the same job
    with open(audio, "rb") as handle:
        again = client.post(
            "/v1/audio/jobs",
            files={"file": ("a.wav", handle)},
            data={"model": "mock"},
            headers={"Idempotency-Key": "upload-1"},
        )
    assert again.status_code == 200 and again.json()["id"] == job["id"]
    media_id = job["media_id"]
    media = client.get(f"/v1/media/{media_id}").json()
    assert media["transcript"] == job["result"]["text"]
    assert media["analysis_details"]["language"] == "en"
    assert len(media["content_hash"]) == 64
    for fmt, check in {
        "text": lambda r: r.text.strip() == media["transcript"],
        "vtt": lambda r: r.text.startswith("WEBVTT"),
        "json": lambda r: r.json()["text"] == media["transcript"],
        "verbose_json": lambda r: r.json()["duration"] == pytest.approx(3.0, abs=0.01),
        "srt": lambda r: "-->" in r.text,
    }.items():
        response = client.get(f"/v1/media/{media_id}/transcript", params={"format": fmt})
        assert response.status_code == 200 and check(response), fmt
    events = client.get(f"/v1/media/{media_id}/events").json()["data"]
    assert [e["event"] for e in events] == ["created"]
    listed = client.get("/v1/audio/jobs", params={"status": "succeeded", "limit": 1}).json()
    assert [j["id"] for j in listed["data"]] == [job["id"]]
    assert client.get("/v1/media/med_nope").status_code == 404


def test_a_replayed_key_is_answered_at_the_job_cap_and_its_upload_not_stored(
    job_settings: Settings, tmp_path: Path
) -> None:
    capped = job_settings.model_copy(
        update={"embedded_worker": False, "max_active_jobs_per_user": 1}  # jobs stay queued
    )
    first_audio, other_audio = write_wav(tmp_path / "a.wav"), write_wav(tmp_path / "b.wav", seed=3)
    with running_server(capped) as url, httpx.Client(base_url=url, timeout=30) as client:

        def post(path: Path, key: str | None = None) -> httpx.Response:
            with open(path, "rb") as handle:
                return client.post(
                    "/v1/audio/jobs",
                    files={"file": (path.name, handle, "audio/wav")},
                    data={"model": "mock"},
                    headers={"Idempotency-Key": key} if key else {},
                )

        first = post(first_audio, "k-1")
        assert first.status_code == 202, first.text
        refused = post(other_audio)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_active_jobs"
        stored = sorted(p for p in capped.audio_store_dir.rglob("*") if p.is_file())
        replay = post(other_audio, "k-1")  # at the cap, and other bytes under the same key
        assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
        assert sorted(p for p in capped.audio_store_dir.rglob("*") if p.is_file()) == stored


def test_same_audio_is_not_transcribed_twice_unless_forced(
    client: httpx.Client, tmp_path: Path
) -> None:
    audio = write_wav(tmp_path / "a.wav", 1.0, seed=7)
    ids = []
    for force in ("false", "false", "true"):
        with open(audio, "rb") as handle:
            reply = client.post(
                "/v1/audio/jobs",
                files={"file": ("a.wav", handle)},
                data={"model": "mock", "force": force},
            )
        ids.append(wait_job(client, reply.json()["id"]))
    assert len({j["media_id"] for j in ids}) == 1
    assert [j["result"]["text"] == ids[0]["result"]["text"] for j in ids] == [True] * 3
    events = client.get(f"/v1/media/{ids[0]['media_id']}/events").json()["data"]
    assert [e["event"] for e in events] == ["created", "updated"]  # only the forced one ran


def test_sse_progress_stream_and_errors(client: httpx.Client, tmp_path: Path) -> None:
    with open(write_wav(tmp_path / "a.wav"), "rb") as handle:
        job = client.post(
            "/v1/audio/jobs", files={"file": ("a.wav", handle)}, data={"model": "mock"}
        ).json()
    with client.stream("GET", f"/v1/audio/jobs/{job['id']}/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        body = stream.read().decode()
    events = [
        line.removeprefix("event: ") for line in body.splitlines() if line.startswith("event: ")
    ]
    assert events[-2:] == ["job", "done"]
    assert '"status":"succeeded"' in body.split("event: done")[1]
    assert client.get("/v1/audio/jobs/job_missing").status_code == 404
    bad = client.post(
        "/v1/audio/jobs", files={"file": ("x.wav", b"not audio at all")}, data={"model": "mock"}
    )
    assert bad.status_code == 415
    unknown = client.post(
        "/v1/audio/jobs", json={"url": "http://example.invalid/a.wav", "model": "nope"}
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"
    cancel = client.post(f"/v1/audio/jobs/{job['id']}/cancel")
    assert cancel.status_code == 409 and cancel.json()["error"]["code"] == "invalid_transition"


@pytest.fixture
def media_server(tmp_path: Path) -> Iterator[str]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "speech.wav").write_bytes(speech(URL_TEXT).read_bytes())

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.model
def test_url_job_downloads_and_transcribes(job_settings: Settings, media_server: str) -> None:
    guarded = job_settings.model_copy(update={"embedded_worker": True})
    with running_server(guarded) as url, httpx.Client(base_url=url, timeout=30) as c:
        refused = c.post("/v1/audio/jobs", json={"url": f"{media_server}/speech.wav"})
        assert refused.status_code == 400
        assert refused.json()["error"]["code"] == "url_not_allowed"
    allowed = job_settings.model_copy(
        update={
            "embedded_worker": True,
            "url_allowlist": "127.0.0.1/32",
            "default_provider": "faster-whisper",
            "default_model": "tiny.en",
        }
    )
    with running_server(allowed) as url, httpx.Client(base_url=url, timeout=30) as c:
        reply = c.post(
            "/v1/audio/jobs",
            json={"url": f"{media_server}/speech.wav", "model": "whisper-1", "language": "en"},
        )
        assert reply.status_code == 202, reply.text
        job = wait_job(c, reply.json()["id"])
        assert job["status"] == "succeeded", job
        assert wer(URL_TEXT, job["result"]["text"]) <= 0.2
        media = c.get(f"/v1/media/{job['media_id']}").json()
        assert media["source"] == f"{media_server}/speech.wav"
        missing = c.post(
            "/v1/audio/jobs", json={"url": f"{media_server}/missing.wav", "model": "mock"}
        )
        failed = wait_job(c, missing.json()["id"])
        assert failed["status"] == "failed" and failed["attempts"] == 1
        assert failed["error"]["code"] == "download_failed"
