"""Encryption at rest for stored audio (``STT_STORAGE_ENCRYPTION_KEY``).

Streaming authenticated encryption with AES-256-GCM from ``cryptography``, in the style of
Tink's streaming AEAD, so hour-long recordings never sit in memory:

* header: ``MAGIC`` (8 bytes) + random salt (16) + chunk size (4, big-endian)
* per-file key: HKDF-SHA256(master key, salt, info=``stt-gateway audio v1``)
* body: chunks of ``chunk size`` plaintext bytes, each sealed with nonce = chunk counter
  (11 bytes) + last-chunk flag (1 byte) and the header as associated data.

Reordered, truncated, extended or tampered files and wrong keys all fail with
:class:`AudioIntegrityError`. The master key is 32 random bytes, URL-safe base64 encoded
(a Fernet key has the same shape): ``python -c "from app.core.crypto import generate_key;
print(generate_key())"``.

Workers and services read stored audio through :func:`plaintext_audio`, which decrypts to a
temporary file when needed and removes it afterwards; :func:`store_audio` writes a file into
storage, encrypted when a key is configured.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import struct
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.settings_checks import decode_key

MAGIC = b"STTENC1\n"
SALT_BYTES = 16
TAG_BYTES = 16
CHUNK_BYTES = 1024 * 1024
_HEADER = struct.Struct(">8s16sI")
_INFO = b"stt-gateway audio v1"


class AudioIntegrityError(ValueError):
    """Stored audio could not be decrypted: wrong key, tampering or truncation."""


def generate_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")


class AudioCipher:
    def __init__(self, master_key: bytes, *, chunk_bytes: int = CHUNK_BYTES) -> None:
        if len(master_key) != 32:
            raise ValueError("the master key must be 32 bytes")
        self._master = master_key
        self._chunk = chunk_bytes

    def _file_key(self, salt: bytes) -> AESGCM:
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO)
        return AESGCM(hkdf.derive(self._master))

    def encrypt_stream(self, src: BinaryIO, dst: BinaryIO) -> None:
        header = _HEADER.pack(MAGIC, os.urandom(SALT_BYTES), self._chunk)
        aead = self._file_key(header[8:24])
        dst.write(header)
        counter = 0
        current = src.read(self._chunk)
        while True:
            following = src.read(self._chunk) if len(current) == self._chunk else b""
            last = not following
            dst.write(aead.encrypt(_nonce(counter, last), current, header))
            if last:
                return
            counter, current = counter + 1, following

    def decrypt_stream(self, src: BinaryIO, dst: BinaryIO) -> None:
        header = src.read(_HEADER.size)
        if len(header) != _HEADER.size:
            raise AudioIntegrityError("not an encrypted audio file (short header)")
        magic, salt, chunk = _HEADER.unpack(header)
        if magic != MAGIC or not 0 < chunk <= 64 * CHUNK_BYTES:
            raise AudioIntegrityError("not an encrypted audio file (bad header)")
        aead = self._file_key(salt)
        sealed = chunk + TAG_BYTES
        counter = 0
        current = src.read(sealed)
        while True:
            following = src.read(sealed) if len(current) == sealed else b""
            last = not following
            try:
                dst.write(aead.decrypt(_nonce(counter, last), current, header))
            except InvalidTag:
                raise AudioIntegrityError(
                    f"encrypted audio chunk {counter} failed authentication "
                    "(wrong key, tampered or truncated file)"
                ) from None
            if last:
                return
            counter, current = counter + 1, following

    def encrypt_file(self, src: Path, dst: Path) -> None:
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            self.encrypt_stream(fin, fout)

    def decrypt_file(self, src: Path, dst: Path) -> None:
        with open(src, "rb") as fin, open(dst, "wb") as fout:
            self.decrypt_stream(fin, fout)


def cipher_from_key(value: str | None) -> AudioCipher | None:
    return AudioCipher(decode_key(value)) if value else None


def is_encrypted(path: Path) -> bool:
    with open(path, "rb") as handle:
        return handle.read(len(MAGIC)) == MAGIC


def store_audio(src: Path, dst: Path, cipher: AudioCipher | None) -> None:
    """Write ``src`` to ``dst`` (mode 0600), encrypted when ``cipher`` is given."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(src, "rb") as fin, os.fdopen(fd, "wb") as fout:
        if cipher is None:
            shutil.copyfileobj(fin, fout, CHUNK_BYTES)
        else:
            cipher.encrypt_stream(fin, fout)


@contextmanager
def plaintext_audio(path: Path, cipher: AudioCipher | None, tmp_dir: Path) -> Iterator[Path]:
    """A readable plaintext path for stored audio, decrypted into ``tmp_dir`` when needed."""
    if not is_encrypted(path):
        yield path
        return
    if cipher is None:
        raise AudioIntegrityError("the audio is encrypted but STT_STORAGE_ENCRYPTION_KEY is unset")
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="plain-", dir=tmp_dir)
    os.close(fd)
    plain = Path(name)
    try:
        cipher.decrypt_file(path, plain)
        yield plain
    finally:
        plain.unlink(missing_ok=True)
