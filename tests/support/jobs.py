"""Jobs seen from outside: polling one over HTTP, where the audio store keeps a job's audio."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Protocol

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
