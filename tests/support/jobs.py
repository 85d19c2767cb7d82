"""Jobs seen from outside: submitting and polling one over HTTP, where the audio store keeps a
job's audio."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

import httpx

TERMINAL = ("succeeded", "failed", "dead", "cancelled")


class HttpClient(Protocol):
    """What :func:`wait_job` needs: an ``httpx.Client`` or Starlette's ``TestClient``
    (built on ``httpx2``, so not an ``httpx.Client`` subclass)."""

    def get(self, url: str, *, headers: dict[str, str] | None = None) -> Any: ...


def wait_job(
    client: HttpClient,
    job_id: str,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 60,
    interval: float = 0.05,
) -> dict[str, Any]:
    """Poll ``GET /v1/audio/jobs/{job_id}`` until the job is terminal; returns its last state.

    ``client`` carries the server's base URL. Fails (``AssertionError``) after ``timeout``.
    """
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = client.get(f"/v1/audio/jobs/{job_id}", headers=headers).json()
        if job["status"] in TERMINAL:
            return job
        assert time.monotonic() < deadline, f"job {job_id} not finished after {timeout}s: {job}"
        time.sleep(interval)


def stored_audio_path(store_root: Path, audio_ref: str) -> Path:
    """Where the content-addressed store keeps ``sha256:<hex>``: ``<root>/<hex[:2]>/<hex>``."""
    assert audio_ref.startswith("sha256:"), audio_ref
    digest = audio_ref.removeprefix("sha256:")
    return store_root / digest[:2] / digest


def post_upload(client: httpx.Client, audio: Path, **fields: str) -> dict[str, Any]:
    """Submit ``audio`` as an upload job over HTTP (mock model unless ``fields`` name one;
    ``fields`` add form fields);
    returns the created job (202)."""
    with open(audio, "rb") as handle:
        reply = client.post(
            "/v1/audio/jobs",
            files={"file": (audio.name, handle, "audio/wav")},
            data={"model": "mock", **fields},
        )
    assert reply.status_code == 202, reply.text
    return reply.json()  # type: ignore[no-any-return]
