"""Media DB SQL: media rows, transcript chunks awaiting embedding, audit events.

Every query is scoped by owner: tenants never read each other's rows. The one exception is
:meth:`MediaRepository.audio_in_use`, which answers (yes/no, nothing else) whether a stored audio
file is still needed by anyone, because the content-addressed store shares identical files
across owners. Callers own transactions.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from app.db.ids import new_id
from app.db.tables import audit_events, job_chunks, jobs, media, unvectorized_media_chunks
from schemas.errors import NotFound
from schemas.jobs import ACTIVE
from schemas.media import AuditEvent, Media, MediaChunk


def _to_media(row: sa.Row[Any]) -> Media:
    return Media.model_validate(dict(row._mapping))


class MediaRepository:
    def get(self, conn: Connection, media_id: str, owner: str) -> Media | None:
        row = conn.execute(
            sa.select(media).where(media.c.id == media_id, media.c.owner == owner)
        ).first()
        return _to_media(row) if row else None

    def find(
        self, conn: Connection, owner: str, content_hash: str, options_hash: str
    ) -> Media | None:
        row = conn.execute(
            sa.select(media).where(
                media.c.owner == owner,
                media.c.content_hash == content_hash,
                media.c.options_hash == options_hash,
            )
        ).first()
        return _to_media(row) if row else None

    def list_owned(
        self, conn: Connection, owner: str, *, limit: int = 20, before: str | None = None
    ) -> list[Media]:
        query = sa.select(media).where(media.c.owner == owner)
        if before is not None:
            query = query.where(media.c.id < before)
        rows = conn.execute(query.order_by(media.c.id.desc()).limit(limit)).all()
        return [_to_media(r) for r in rows]

    def count(self, conn: Connection, owner: str | None = None) -> int:
        query = sa.select(sa.func.count()).select_from(media)
        if owner is not None:
            query = query.where(media.c.owner == owner)
        return int(conn.execute(query).scalar_one())

    def upsert(self, conn: Connection, values: dict[str, Any], now: datetime) -> tuple[Media, bool]:
        """Insert, or replace the transcript of the row with the same owner, hash and options.

        Returns the row and whether it was created. A concurrent insert of the same key (only
        possible on PostgreSQL) is caught in a savepoint and turned into an update.
        """
        key = (values["owner"], values["content_hash"], values["options_hash"])
        if self.find(conn, *key) is None:
            try:
                with conn.begin_nested():
                    row = conn.execute(
                        media.insert()
                        .values(id=new_id("med"), created_at=now, updated_at=now, **values)
                        .returning(*media.c)
                    ).one()
                return _to_media(row), True
            except IntegrityError:
                pass
        row = conn.execute(
            media.update()
            .where(
                media.c.owner == key[0],
                media.c.content_hash == key[1],
                media.c.options_hash == key[2],
            )
            .values(updated_at=now, **values)
            .returning(*media.c)
        ).one()
        return _to_media(row), False

    def set_summary(
        self,
        conn: Connection,
        media_id: str,
        owner: str,
        *,
        summary: dict[str, Any] | None,
        analysis_details: dict[str, Any],
        now: datetime,
    ) -> Media:
        """Store a summary made later (a deduplicated job, ``POST /v1/media/{id}/summary``) and
        the transcript details it changed (its warnings). Raises :class:`NotFound` when the
        owner has no such row (e.g. it was deleted meanwhile)."""
        values: dict[str, Any] = {"analysis_details": analysis_details, "updated_at": now}
        if summary is not None:
            values["summary"] = summary
        row = conn.execute(
            media.update()
            .where(media.c.id == media_id, media.c.owner == owner)
            .values(**values)
            .returning(*media.c)
        ).first()
        if row is None:
            raise NotFound(f"no media with id '{media_id}'", param="id", code="media_not_found")
        return _to_media(row)

    def delete(self, conn: Connection, media_id: str, owner: str) -> Media:
        """Delete the owner's media row, its embedding chunks and the chunk transcripts of the
        jobs that produced it. Raises :class:`NotFound` when the owner has no such row."""
        row = conn.execute(
            media.delete().where(media.c.id == media_id, media.c.owner == owner).returning(*media.c)
        ).first()
        if row is None:
            raise NotFound(f"no media with id '{media_id}'", param="id", code="media_not_found")
        conn.execute(
            unvectorized_media_chunks.delete().where(
                unvectorized_media_chunks.c.media_id == media_id
            )
        )
        producers = sa.select(jobs.c.id).where(jobs.c.media_id == media_id, jobs.c.owner == owner)
        conn.execute(job_chunks.delete().where(job_chunks.c.job_id.in_(producers)))
        return _to_media(row)

    def audio_in_use(self, conn: Connection, audio_ref: str, *, except_job: str | None) -> bool:
        """Whether a queued/leased job (other than ``except_job``) or any media row still
        references ``audio_ref``: one query over both tables, any owner."""
        active = sa.select(jobs.c.id).where(
            jobs.c.audio_ref == audio_ref, jobs.c.status.in_([s.value for s in ACTIVE])
        )
        if except_job is not None:
            active = active.where(jobs.c.id != except_job)
        kept = sa.select(media.c.id).where(media.c.audio_ref == audio_ref)
        return bool(conn.execute(sa.select(sa.or_(active.exists(), kept.exists()))).scalar_one())

    def replace_chunks(
        self, conn: Connection, media_id: str, chunks: Sequence[MediaChunk], now: datetime
    ) -> None:
        conn.execute(
            unvectorized_media_chunks.delete().where(
                unvectorized_media_chunks.c.media_id == media_id
            )
        )
        if chunks:
            conn.execute(
                unvectorized_media_chunks.insert(),
                [
                    {
                        "media_id": c.media_id,
                        "owner": c.owner,
                        "chunk_index": c.chunk_index,
                        "start_s": c.start,
                        "end_s": c.end,
                        "chunk_text": c.text,
                        "created_at": now,
                    }
                    for c in chunks
                ],
            )

    def chunks(self, conn: Connection, media_id: str, owner: str) -> list[MediaChunk]:
        t = unvectorized_media_chunks
        rows = conn.execute(
            sa.select(t)
            .where(t.c.media_id == media_id, t.c.owner == owner)
            .order_by(t.c.chunk_index)
        ).all()
        return [
            MediaChunk(
                media_id=r.media_id,
                owner=r.owner,
                chunk_index=r.chunk_index,
                start=r.start_s,
                end=r.end_s,
                text=r.chunk_text,
            )
            for r in rows
        ]

    def add_event(
        self,
        conn: Connection,
        *,
        owner: str,
        event: str,
        now: datetime,
        media_id: str | None = None,
        job_id: str | None = None,
        actor: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        conn.execute(
            audit_events.insert().values(
                owner=owner,
                event=event,
                media_id=media_id,
                job_id=job_id,
                actor=actor,
                details=details,
                created_at=now,
            )
        )

    def events(
        self,
        conn: Connection,
        owner: str,
        *,
        media_id: str | None = None,
        job_id: str | None = None,
    ) -> list[AuditEvent]:
        query = sa.select(audit_events).where(audit_events.c.owner == owner)
        if media_id is not None:
            query = query.where(audit_events.c.media_id == media_id)
        if job_id is not None:
            query = query.where(audit_events.c.job_id == job_id)
        rows = conn.execute(query.order_by(audit_events.c.id)).all()
        return [AuditEvent.model_validate(dict(r._mapping)) for r in rows]
