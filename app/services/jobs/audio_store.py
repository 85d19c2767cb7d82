"""Where job audio lives between upload/download and transcription: one small module.

Files are content-addressed (``sha256:<hex>`` refs) under ``STT_DATA_DIR/audio``, so the same
bytes are stored once and the hash doubles as the Media DB's content hash. Everything that reads
or writes stored audio goes through :class:`AudioStore`: encryption at rest plugs in here
(``put`` encrypts, ``local_path`` yields a decrypted temporary file) without touching callers.
Worker fleets on several machines need ``STT_DATA_DIR`` on shared storage, or URL jobs.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from app.core.config import Settings
from app.core.crypto import AudioCipher, cipher_from_key, plaintext_audio
from schemas.errors import NotFound

_PREFIX = "sha256:"
_BLOCK = 1 << 20


@dataclass(frozen=True)
class StoredAudio:
    ref: str
    sha256: str
    size: int
    created: bool  # this put wrote the file (the bytes were not stored already)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_BLOCK):
            digest.update(block)
    return digest.hexdigest()


class AudioStore:
    def __init__(self, root: Path, cipher: AudioCipher | None = None) -> None:
        self.root = root
        self.cipher = cipher  # STT_STORAGE_ENCRYPTION_KEY: files are AES-GCM sealed at rest

    @classmethod
    def from_settings(cls, settings: Settings) -> AudioStore:
        key = settings.storage_encryption_key
        return cls(
            settings.audio_store_dir, cipher_from_key(key.get_secret_value() if key else None)
        )

    def _path(self, ref: str) -> Path:
        if not ref.startswith(_PREFIX) or len(ref) != len(_PREFIX) + 64:
            raise NotFound(f"unknown audio reference '{ref}'")
        digest = ref.removeprefix(_PREFIX)
        if not all(c in "0123456789abcdef" for c in digest):
            raise NotFound(f"unknown audio reference '{ref}'")
        return self.root / digest[:2] / digest

    def put(self, source: Path) -> StoredAudio:
        """Copy ``source`` into the store (atomically; a no-op when the bytes are there)."""
        digest = file_sha256(source)
        ref = _PREFIX + digest
        target = self._path(ref)
        created = not target.exists()
        if created:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".incoming-")
            os.close(fd)
            try:
                if self.cipher is None:
                    shutil.copyfile(source, tmp)
                else:
                    self.cipher.encrypt_file(source, Path(tmp))
                os.replace(tmp, target)
            finally:
                Path(tmp).unlink(missing_ok=True)
        return StoredAudio(ref=ref, sha256=digest, size=target.stat().st_size, created=created)

    @contextmanager
    def local_path(self, ref: str) -> Iterator[Path]:
        """A readable local file with the audio, valid inside the ``with`` block."""
        path = self._path(ref)
        if not path.is_file():
            raise NotFound(f"stored audio {ref} is missing")
        with plaintext_audio(path, self.cipher, self.root / ".plain") as plain:
            yield plain

    def delete(self, ref: str) -> None:
        self._path(ref).unlink(missing_ok=True)
