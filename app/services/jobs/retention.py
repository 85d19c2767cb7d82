"""Removing stored audio nobody needs any more: media deletion and
``STT_DELETE_AUDIO_AFTER_TRANSCRIPTION``.

The audio store is content-addressed, so identical uploads (from any jobs and any owners) share
one file. A file is removed only when, inside the transaction that dropped a reference, no
queued/leased job and no media row references it any more (one query); the file itself is
unlinked after that transaction commits, so a rolled-back change never loses audio.
"""

from __future__ import annotations

from loguru import logger
from sqlalchemy.engine import Connection

from app.db.media_repo import MediaRepository
from app.services.jobs.audio_store import AudioStore


class AudioJanitor:
    def __init__(self, store: AudioStore, repo: MediaRepository) -> None:
        self.store = store
        self.repo = repo

    def orphaned(
        self, conn: Connection, audio_ref: str | None, *, except_job: str | None = None
    ) -> str | None:
        """``audio_ref`` if nothing references it any more (call after dropping a reference,
        in the same transaction), else None. Pass the ref to :meth:`remove` after commit."""
        if audio_ref is None or self.repo.audio_in_use(conn, audio_ref, except_job=except_job):
            return None
        return audio_ref

    def remove(self, audio_ref: str | None) -> bool:
        """Unlink an orphaned file (after the transaction committed). True if it was removed."""
        if audio_ref is None:
            return False
        try:
            self.store.delete(audio_ref)
        except OSError as exc:  # the rows are gone already; an operator can sweep the file
            logger.warning("could not delete stored audio {}: {}", audio_ref[:19], exc)
            return False
        logger.info("deleted stored audio {}", audio_ref[:19])
        return True
