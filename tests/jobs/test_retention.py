"""Deleting media, audio retention, the per-user job cap and the audit trail (both backends).

The audio store is content-addressed: identical uploads by different jobs and users share one
file, which is removed only when no queued/leased job and no media row references it any more.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.config import Settings
from app.db.database import Database
from app.db.media_repo import MediaRepository
from app.db.tables import unvectorized_media_chunks
from app.services.jobs.service import JobService
from schemas.errors import NotFound, RateLimited
from schemas.jobs import Job, JobStatus, Pool
from tests.jobs.support import count, submit_file, wait_for, worker, write_wav
from tests.support.jobs import stored_audio_path
from workers.sdk import JobQueue


def finish(service: JobService, *jobs: Job) -> list[Job]:
    def done() -> bool:
        return all(service.get(j.owner, j.id).status.terminal for j in jobs)

    wait_for(done, 30, "the jobs to finish")
    finished = [service.get(j.owner, j.id) for j in jobs]
    assert all(j.status is JobStatus.SUCCEEDED for j in finished), finished
    return finished


def stored(service: JobService, job: Job) -> Path:
    return stored_audio_path(service.store.root, job.payload["source"]["audio_ref"])


def test_delete_media_keeps_shared_audio_until_the_last_reference(
    job_settings: Settings, db: Database, service: JobService, tmp_path: Path
) -> None:
    audio = write_wav(tmp_path / "same.wav", 1.0)
    with worker(job_settings, db):
        alice, bob = finish(
            service,
            submit_file(service, audio, owner="alice"),
            submit_file(service, audio, owner="bob"),
        )
    assert alice.media_id and bob.media_id
    file = stored(service, alice)
    assert file.is_file() and stored(service, bob) == file
    carol = submit_file(service, audio, owner="carol")  # queued: it still needs the file
    chunks = unvectorized_media_chunks.c.media_id == alice.media_id
    assert count(db, unvectorized_media_chunks, chunks) > 0

    with pytest.raises(NotFound):
        service.delete_media("bob", alice.media_id)  # another tenant's id: not found
    assert service.delete_media("alice", alice.media_id).id == alice.media_id
    assert count(db, unvectorized_media_chunks, chunks) == 0
    with pytest.raises(NotFound):
        service.get_media("alice", alice.media_id)
    with pytest.raises(NotFound):
        service.delete_media("alice", alice.media_id)  # already gone
    assert file.is_file()  # bob's media and carol's queued job use the same bytes
    assert service.get("alice", alice.id).status is JobStatus.SUCCEEDED  # history stays
    assert service.result_of("alice", service.get("alice", alice.id)) is None

    service.delete_media("bob", bob.media_id)
    assert file.is_file()  # carol's job is still queued
    with worker(job_settings, db):
        (carol,) = finish(service, carol)
    assert carol.media_id is not None
    service.delete_media("carol", carol.media_id)
    assert not file.exists()  # the last reference is gone, and so is the file

    with db.read() as conn:
        kept = MediaRepository().events(conn, "alice", media_id=alice.media_id)[-1]
        gone = MediaRepository().events(conn, "carol", media_id=carol.media_id)[-1]
    assert (kept.event, kept.actor, kept.details) == (
        "deleted",
        "alice",
        {"source": "upload:same.wav", "audio": "kept"},
    )
    assert (gone.event, gone.actor) == ("deleted", "carol")
    assert gone.details is not None and gone.details["audio"] == "deleted"


def test_retention_deletes_audio_nobody_else_uses(
    job_settings: Settings, db: Database, service: JobService, tmp_path: Path
) -> None:
    retain = job_settings.model_copy(update={"delete_audio_after_transcription": True})
    shared, private = write_wav(tmp_path / "s.wav", 1.0, 1), write_wav(tmp_path / "p.wav", 1.0, 2)
    with worker(job_settings, db):  # retention off: bob's media keeps the shared audio
        (bob,) = finish(service, submit_file(service, shared, owner="bob"))
    with worker(retain, db):
        alice_shared, alice_private = finish(
            service,
            submit_file(service, shared, owner="alice"),
            submit_file(service, private, owner="alice"),
        )
    assert stored(service, alice_shared).is_file()  # bob's media still references it
    assert not stored(service, alice_private).exists()
    for job in (alice_shared, alice_private):
        assert job.media_id is not None
        media = service.get_media("alice", job.media_id)
        assert media.audio_ref is None and media.content_hash  # metadata stays
        result = service.result_of("alice", job)
        assert result is not None and result.transcript == media.transcript
    assert bob.media_id and service.get_media("bob", bob.media_id).audio_ref is not None


def test_job_cap_counts_queued_and_leased_jobs_per_user(
    job_settings: Settings, db: Database, service: JobService, queue: JobQueue, tmp_path: Path
) -> None:
    capped = JobService(
        job_settings.model_copy(update={"max_active_jobs_per_user": 2}), queue, service.store
    )
    audio = write_wav(tmp_path / "a.wav")
    first = submit_file(capped, audio, idempotency_key="k-1")
    second = submit_file(capped, audio)
    assert queue.lease("w", [Pool.ANY]) is not None  # leased jobs count too
    with pytest.raises(RateLimited) as refused:
        submit_file(capped, audio)
    assert refused.value.code == "too_many_active_jobs" and refused.value.retry_after
    assert submit_file(capped, audio, idempotency_key="k-1").id == first.id  # a replay is fine
    assert submit_file(capped, audio, owner="bob").owner == "bob"  # per user
    with db.read() as conn:
        assert queue.jobs.count_active(conn, "alice") == 2
    capped.cancel("alice", second.id)  # still queued: ends at once and frees a place
    submit_file(capped, audio)


def test_audit_trail_of_jobs_and_media(
    job_settings: Settings, db: Database, service: JobService, tmp_path: Path
) -> None:
    audio = write_wav(tmp_path / "a.wav")
    cancelled = submit_file(service, audio)
    service.cancel("alice", cancelled.id, "alice")
    with worker(job_settings, db) as worker_id:
        (done,) = finish(service, submit_file(service, audio))
    assert done.media_id is not None
    service.delete_media("alice", done.media_id, "alice")
    with db.read() as conn:
        events = MediaRepository().events(conn, "alice")
    trail = [(e.event, e.job_id, e.media_id, e.actor) for e in events]
    assert trail[:2] == [
        ("created", cancelled.id, None, "alice"),
        ("cancelled", cancelled.id, None, "alice"),
    ]
    assert trail[2] == ("created", done.id, None, "alice")
    event, job_id, media_id, actor = trail[3]
    assert (event, job_id, media_id) == ("created", done.id, done.media_id)
    assert actor is not None and actor.startswith(f"{worker_id}/")  # the worker wrote it
    assert trail[4] == ("deleted", None, done.media_id, "alice")
    assert events[1].details == {"status": "cancelled"}
