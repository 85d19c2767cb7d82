"""The job commands behind ``stt-gateway worker``, ``db upgrade`` and ``transcribe --job``.

``transcribe FILE --job`` has two modes:

* default: enqueue straight into the configured database (``STT_DATABASE_URL``) as the local
  user and, unless ``--no-worker``, run a worker in this process too, so one command does the
  whole job on the embedded default; with ``--no-worker`` a running ``serve``/``worker`` picks it
  up.
* ``--server URL``: submit over HTTP to a running gateway (``POST /v1/audio/jobs``) and follow it.

Both show a progress bar (chunks done) and print the transcript when the job is done.
"""

from __future__ import annotations

import json
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from loguru import logger
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from app.core.config import Settings
from app.db.database import Database
from app.db.migrate import upgrade
from app.services.transcription.formats import FORMATS, RenderOptions
from schemas.jobs import JobPublic, Pool
from schemas.options import ResponseFormat

POLL_S = 0.5
CLI_OWNER = "local"


def db_upgrade(settings: Settings) -> str:
    db = Database(settings.resolved_database_url)
    try:
        upgrade(db)
        return db.display_url
    finally:
        db.dispose()


def _install_signals(stop: Callable[[], None]) -> None:
    def handler(signum: int, _frame: object) -> None:
        logger.info("signal {} received: finishing current work", signum)
        stop()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_worker(settings: Settings, pool: Pool, concurrency: int) -> None:
    """A fleet member: lease jobs of ``pool`` until SIGTERM/SIGINT, then stop gracefully."""
    from app.bootstrap import build_pipeline, build_worker, check_gpu, open_database
    from workers.runner import run_until_signalled

    if pool is Pool.CPU and not settings.force_cpu:
        settings = settings.model_copy(update={"force_cpu": True})
    check_gpu(settings, pool)
    db, listener = open_database(settings)
    pipeline = build_pipeline(settings)
    runner = build_worker(settings, db, pipeline, pool=pool, concurrency=concurrency)
    try:
        run_until_signalled(runner, _install_signals)
    finally:
        if listener is not None:
            listener.stop()
        db.dispose()


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} chunks"),
        TimeElapsedColumn(),
        transient=True,
    )


def _follow(fetch: Callable[[], JobPublic]) -> JobPublic:
    with _bar() as bar:
        task = bar.add_task("queued", total=1)
        while True:
            job = fetch()
            bar.update(
                task,
                description=job.status.value,
                completed=job.progress.chunks_done,
                total=max(1, job.progress.chunks_total),
            )
            if job.status.terminal:
                return job
            time.sleep(POLL_S)


def _emit(body: str | dict[str, Any]) -> None:
    sys.stdout.write(body if isinstance(body, str) else json.dumps(body, indent=2) + "\n")


def transcribe_local(
    settings: Settings, file: Path, fields: dict[str, list[str]], *, worker: bool
) -> int:
    """Enqueue into the configured database, optionally working on it here; print the result."""
    from app.api.forms import build_options, parse_form
    from app.bootstrap import build_pipeline, open_jobs_runtime, start_local_worker
    from app.services.jobs.service import JobRequest
    from app.services.transcription.formats import render
    from schemas.jobs import AudioSource, TranscriptionPayload
    from schemas.options import Task

    runtime = open_jobs_runtime(settings)
    try:
        form = parse_form(fields)
        payload = TranscriptionPayload(
            source=AudioSource(kind="upload", filename=file.name),
            model=form.model,
            options=build_options(form, Task.TRANSCRIBE, settings),
            response_format=form.response_format,
            audit={"actor": CLI_OWNER},
        )
        job, _ = runtime.service.submit_upload(CLI_OWNER, JobRequest(payload), file)
        if worker:
            start_local_worker(runtime, build_pipeline(settings), concurrency=1)
        done = _follow(lambda: JobPublic.of(runtime.service.get(CLI_OWNER, job.id)))
        if done.error is not None or done.status.value != "succeeded":
            message = done.error.message if done.error else done.status.value
            sys.stderr.write(f"error: job {done.id} {done.status.value}: {message}\n")
            return 1
        full = runtime.service.get(CLI_OWNER, job.id)
        transcript = runtime.service.transcript(CLI_OWNER, full)
        _emit(render(transcript, form.response_format, RenderOptions.of(runtime.settings)))
        return 0
    finally:
        runtime.close()


def transcribe_remote(
    server: str,
    file: Path,
    fields: dict[str, list[str]],
    fmt: ResponseFormat,
    api_key: str | None,
) -> int:
    """Submit to a running gateway over HTTP and follow the job until it ends."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    data = {k: v[-1] for k, v in fields.items() if v and v[-1]}
    with httpx.Client(base_url=server.rstrip("/"), headers=headers, timeout=60) as client:
        with open(file, "rb") as handle:
            reply = client.post("/v1/audio/jobs", data=data, files={"file": (file.name, handle)})
        if reply.status_code >= 400:
            sys.stderr.write(f"error: {reply.status_code} {reply.text}\n")
            return 1
        job_id = reply.json()["id"]

        def fetch() -> JobPublic:
            response = client.get(f"/v1/audio/jobs/{job_id}")
            response.raise_for_status()
            return JobPublic.model_validate(response.json())

        done = _follow(fetch)
        if done.status.value != "succeeded":
            message = done.error.message if done.error else done.status.value
            sys.stderr.write(f"error: job {job_id} {done.status.value}: {message}\n")
            return 1
        result = client.get(
            f"/v1/audio/jobs/{job_id}/result", params={"response_format": fmt.value}
        )
        result.raise_for_status()
        sys.stdout.write(
            json.dumps(result.json(), indent=2) + "\n"
            if FORMATS[fmt].is_json
            else result.text
        )
        return 0
