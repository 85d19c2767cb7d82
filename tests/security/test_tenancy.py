"""Tenant isolation over jobs and media (another user's ids answer 404, never 403, so ids do not
leak), stored job audio encrypted at rest while workers read it transparently, and deleting
media over HTTP."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from app.core.crypto import generate_key, is_encrypted
from tests.security.conftest import JWT_SECRET, ClientFactory, bearer, token
from tests.security.test_rate_limits import wav_bytes
from tests.support.jobs import stored_audio_path, wait_job

ALICE = bearer(token("alice", "jobs transcribe"))
BOB = bearer(token("bob", "jobs transcribe"))


def finished_job(
    client: TestClient, headers: dict[str, str], seconds: float = 1.0
) -> dict[str, Any]:
    created = client.post(
        "/v1/audio/jobs",
        headers=headers,
        files={"file": ("a.wav", wav_bytes(seconds), "audio/wav")},
        data={"model": "mock"},
    )
    assert created.status_code == 202, created.text
    job = wait_job(client, created.json()["id"], headers=headers, timeout=30, interval=0.1)
    assert job["status"] == "succeeded", job
    return job


def test_other_tenants_resources_are_invisible(make_client: ClientFactory) -> None:
    key = generate_key()
    overrides = {"auth_mode": "jwt", "jwt_secret": JWT_SECRET, "storage_encryption_key": key}
    with make_client(**overrides) as client:
        job = finished_job(client, ALICE)
        job_id, media_id = job["id"], job["media_id"]
        for prefix in ("/v1", "/api/v1"):
            mine = (
                ("GET", f"{prefix}/audio/jobs/{job_id}"),
                ("GET", f"{prefix}/audio/jobs/{job_id}/result"),
                ("GET", f"{prefix}/audio/jobs/{job_id}/events"),
                ("POST", f"{prefix}/audio/jobs/{job_id}/cancel"),
                ("GET", f"{prefix}/media/{media_id}"),
                ("GET", f"{prefix}/media/{media_id}/transcript"),
                ("GET", f"{prefix}/media/{media_id}/events"),
                ("POST", f"{prefix}/media/{media_id}/summary"),
                ("DELETE", f"{prefix}/media/{media_id}"),
            )
            for method, path in mine:
                response = client.request(method, path, headers=BOB)
                assert response.status_code == 404, (path, response.text)
                assert response.json()["error"]["type"] == "invalid_request_error"
            assert client.get(f"{prefix}/audio/jobs", headers=BOB).json()["data"] == []
            assert client.get(f"{prefix}/media", headers=BOB).json()["data"] == []
        assert client.get(f"/v1/media/{media_id}", headers=ALICE).status_code == 200
        stored = [p for p in client.app.state.settings.audio_store_dir.rglob("*") if p.is_file()]  # type: ignore[attr-defined]
    assert stored, "the job's audio is kept in the store"
    assert all(is_encrypted(p) for p in stored if not p.name.startswith("."))


def test_delete_media_over_http(make_client: ClientFactory) -> None:
    with make_client(auth_mode="jwt", jwt_secret=JWT_SECRET) as client:
        store = client.app.state.settings.audio_store_dir  # type: ignore[attr-defined]
        for prefix, seconds in (("/v1", 1.0), ("/api/v1", 1.5)):
            job = finished_job(client, ALICE, seconds)
            ref = client.get(f"{prefix}/media/{job['media_id']}", headers=ALICE).json()["audio_ref"]
            audio = stored_audio_path(store, ref)
            assert audio.is_file()
            deleted = client.delete(f"{prefix}/media/{job['media_id']}", headers=ALICE)
            assert deleted.status_code == 200, deleted.text
            assert deleted.json() == {
                "id": job["media_id"],
                "object": "media.deleted",
                "deleted": True,
            }
            assert not audio.exists()  # nothing else used these bytes
            for path in (f"/media/{job['media_id']}", f"/media/{job['media_id']}/transcript"):
                assert client.get(prefix + path, headers=ALICE).status_code == 404
            again = client.delete(f"{prefix}/media/{job['media_id']}", headers=ALICE)
            assert again.status_code == 404
            assert again.json()["error"]["code"] == "media_not_found"
            kept = client.get(f"{prefix}/audio/jobs/{job['id']}", headers=ALICE).json()
            assert kept["status"] == "succeeded" and kept["result"] is None
