"""The Media DB as the job pipeline and the media API use it.

A finished transcription becomes one ``media`` row keyed by (owner, content hash, options
hash): the plain ``transcript`` text plus ``analysis_details`` (the canonical transcript minus its
text: segments, words, language, duration, diarization, provider metadata), transcript slices
for embedding pipelines (``UnvectorizedMediaChunks``) and an audit event (``created`` or
``updated``; ``failed`` when a job ends without a transcript), whose actor is the worker id.
A meeting summary, when one was asked for and made, is stored in ``summary`` (with a
``summarized`` audit event), with the transcript or later (:meth:`MediaWriter.save_summary`).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime

from sqlalchemy.engine import Connection

from app.db.media_repo import MediaRepository
from schemas.jobs import Job, TranscriptionPayload
from schemas.media import Media, MediaChunk
from schemas.options import TranscriptionOptions
from schemas.summary import Summary
from schemas.transcript import Segment, Transcript

EMBEDDING_CHUNK_CHARS = 1000


# options added after media was first stored: left out of the hash while unset, so audio
# transcribed before them is still found again
LATER_OPTIONS = ("multichannel", "speaker_roles", "emotion", "enhance")


def options_hash(payload: TranscriptionPayload, model_label: str) -> str:
    """What makes two transcriptions of the same audio the same (rendering excluded)."""
    options = payload.options.model_dump(mode="json")  # diarization included
    for name in LATER_OPTIONS:
        if options[name] == TranscriptionOptions.model_fields[name].default:
            del options[name]
    data = {"model": model_label, "options": options}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def transcript_of(media: Media) -> Transcript:
    return Transcript.model_validate({"text": media.transcript, **media.analysis_details})


def embedding_chunks(
    transcript: Transcript, media_id: str, owner: str, max_chars: int = EMBEDDING_CHUNK_CHARS
) -> list[MediaChunk]:
    """Consecutive segments grouped into slices of at most ``max_chars`` characters."""
    chunks: list[MediaChunk] = []
    group: list[Segment] = []

    def flush() -> None:
        chunks.append(
            MediaChunk(
                media_id=media_id,
                owner=owner,
                chunk_index=len(chunks),
                start=group[0].start,
                end=group[-1].end,
                text=" ".join(seg.text for seg in group),
            )
        )
        group.clear()

    for seg in transcript.segments:
        if group and sum(len(g.text) + 1 for g in group) + len(seg.text) > max_chars:
            flush()
        group.append(seg)
    if group:
        flush()
    return chunks


def _source(payload: TranscriptionPayload) -> str:
    if payload.source.kind == "url" and payload.source.url:
        return payload.source.url
    return f"upload:{payload.source.filename or 'audio'}"


class MediaWriter:
    """Writes inside the caller's transaction (the job's completion transaction)."""

    def __init__(self, repo: MediaRepository | None = None) -> None:
        self.repo = repo or MediaRepository()

    def save(
        self,
        conn: Connection,
        *,
        job: Job,
        payload: TranscriptionPayload,
        transcript: Transcript,
        options_digest: str,
        actor: str,
        now: datetime,
        keep_audio: bool = True,
        summary: Summary | None = None,
    ) -> str:
        """Upsert the media row, its embedding chunks and a ``created``/``updated`` audit event
        by ``actor`` (the worker). Without ``keep_audio`` the row does not reference the stored
        audio (``STT_DELETE_AUDIO_AFTER_TRANSCRIPTION``)."""
        assert payload.source.content_hash is not None
        media, created = self.repo.upsert(
            conn,
            {
                "owner": job.owner,
                "source": _source(payload)[:2048],
                "filename": payload.source.filename,
                "content_hash": payload.source.content_hash,
                "options_hash": options_digest,
                "audio_ref": payload.source.audio_ref if keep_audio else None,
                "duration": transcript.duration,
                "language": transcript.language,
                "provider": transcript.metadata.provider,
                "model": transcript.metadata.model,
                "transcript": transcript.text,
                "analysis_details": transcript.model_dump(mode="json", exclude={"text"}),
                "summary": summary.model_dump(mode="json") if summary else None,
                "job_id": job.id,
            },
            now,
        )
        self.repo.replace_chunks(
            conn, media.id, embedding_chunks(transcript, media.id, job.owner), now
        )
        self.repo.add_event(
            conn,
            owner=job.owner,
            event="created" if created else "updated",
            media_id=media.id,
            job_id=job.id,
            actor=actor,
            details={"source": media.source, "duration": transcript.duration},
            now=now,
        )
        if summary is not None:
            self._summarized(conn, media, summary, actor, job.id, now)
        return media.id

    def save_summary(
        self,
        conn: Connection,
        *,
        media_id: str,
        owner: str,
        transcript: Transcript,
        summary: Summary | None,
        actor: str | None,
        now: datetime,
        job_id: str | None = None,
    ) -> Media:
        """Store ``summary`` on an existing row (or, with ``None``, only the transcript's
        ``summary_failed`` warning), with a ``summarized`` audit event by ``actor``."""
        stored = self.repo.set_summary(
            conn,
            media_id,
            owner,
            summary=summary.model_dump(mode="json") if summary else None,
            analysis_details=transcript.model_dump(mode="json", exclude={"text"}),
            now=now,
        )
        if summary is not None:
            self._summarized(conn, stored, summary, actor, job_id, now)
        return stored

    def _summarized(
        self,
        conn: Connection,
        media: Media,
        summary: Summary,
        actor: str | None,
        job_id: str | None,
        now: datetime,
    ) -> None:
        self.repo.add_event(
            conn,
            owner=media.owner,
            event="summarized",
            media_id=media.id,
            job_id=job_id,
            actor=actor,
            details={"model": summary.model, "chunks": summary.chunks},
            now=now,
        )

    def record_failure(self, conn: Connection, job: Job, now: datetime) -> None:
        """A ``failed`` audit event by the worker that ended the job (``dead`` or ``failed``)."""
        self.repo.add_event(
            conn,
            owner=job.owner,
            event="failed",
            job_id=job.id,
            actor=job.worker_id,
            details=job.error.model_dump() if job.error else None,
            now=now,
        )
