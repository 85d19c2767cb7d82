"""Encryption at rest of stored audio, sanitised storage paths, and the debug dump switch."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import pytest

from app.core.crypto import (
    MAGIC,
    AudioCipher,
    AudioIntegrityError,
    cipher_from_key,
    decode_key,
    generate_key,
    is_encrypted,
    plaintext_audio,
    store_audio,
)
from app.core.paths import contained, safe_component
from app.services.transcription.debug_dump import dump_debug_audio


@pytest.mark.parametrize("size", [0, 1, 99, 100, 101, 250, 1000])
def test_round_trip_any_size(size: int) -> None:
    cipher = AudioCipher(decode_key(generate_key()), chunk_bytes=100)
    plain = os.urandom(size)
    sealed, opened = io.BytesIO(), io.BytesIO()
    cipher.encrypt_stream(io.BytesIO(plain), sealed)
    assert sealed.getvalue().startswith(MAGIC)
    assert size < 16 or plain not in sealed.getvalue()
    cipher.decrypt_stream(io.BytesIO(sealed.getvalue()), opened)
    assert opened.getvalue() == plain


def test_tampering_truncation_reordering_and_wrong_keys_fail() -> None:
    key = decode_key(generate_key())
    cipher = AudioCipher(key, chunk_bytes=100)
    sealed = io.BytesIO()
    cipher.encrypt_stream(io.BytesIO(os.urandom(350)), sealed)
    data = sealed.getvalue()
    header, body = data[:28], data[28:]
    chunks = [body[i : i + 116] for i in range(0, len(body), 116)]
    flipped = bytearray(data)
    flipped[40] ^= 1
    variants = {
        "bit flip": bytes(flipped),
        "truncated to whole chunks": header + b"".join(chunks[:2]),
        "last chunk dropped": header + b"".join(chunks[:-1]),
        "reordered": header + chunks[1] + chunks[0] + b"".join(chunks[2:]),
        "extended": data + chunks[0],
        "header changed": data[:24] + (200).to_bytes(4, "big") + body,
    }
    for name, variant in variants.items():
        with pytest.raises(AudioIntegrityError):
            cipher.decrypt_stream(io.BytesIO(variant), io.BytesIO())
        assert name
    with pytest.raises(AudioIntegrityError):
        AudioCipher(decode_key(generate_key())).decrypt_stream(io.BytesIO(data), io.BytesIO())
    with pytest.raises(AudioIntegrityError):
        cipher.decrypt_stream(io.BytesIO(b"RIFF...."), io.BytesIO())


def test_store_and_read_back_transparently(tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    source.write_bytes(b"RIFF" + os.urandom(5000))
    cipher = cipher_from_key(generate_key())
    stored = tmp_path / "store" / "media_1" / "audio"
    store_audio(source, stored, cipher)
    assert is_encrypted(stored) and stored.stat().st_mode & 0o077 == 0
    with plaintext_audio(stored, cipher, tmp_path / "tmp") as plain:
        assert plain.read_bytes() == source.read_bytes()
        temporary = plain
    assert not temporary.exists()
    with pytest.raises(AudioIntegrityError), plaintext_audio(stored, None, tmp_path / "tmp"):
        pass
    unencrypted = tmp_path / "plain.wav"
    store_audio(source, unencrypted, None)
    with plaintext_audio(unencrypted, cipher, tmp_path / "tmp") as plain:
        assert plain == unencrypted  # files stored before encryption was enabled still read


def test_keys_are_validated() -> None:
    assert len(decode_key(generate_key())) == 32
    for bad in ("", "not base64!", "c2hvcnQ="):
        with pytest.raises(ValueError):
            decode_key(bad)


@pytest.mark.parametrize(
    "user_id", ["alice", "../../etc", "/abs/path", "a/b", "..", ".", "", "x" * 300, "ünï cödé"]
)
def test_storage_paths_come_from_sanitised_ids(tmp_path: Path, user_id: str) -> None:
    segment = safe_component(user_id)
    assert segment not in ("", ".", "..") and "/" not in segment and len(segment) <= 90
    path = contained(tmp_path, user_id, "media_1")
    assert path.resolve().is_relative_to(tmp_path.resolve())
    assert safe_component("../../etc") != safe_component("__etc")  # distinct ids stay distinct


def test_debug_dump_is_off_by_default_and_per_user(make_settings: Any, tmp_path: Path) -> None:
    source = tmp_path / "in.wav"
    source.write_bytes(b"RIFF" + b"\x00" * 100)
    assert dump_debug_audio(make_settings(), "alice", source, "a.wav") is None
    key = generate_key()
    settings = make_settings(debug_dump_audio=True, storage_encryption_key=key)
    dumped = dump_debug_audio(settings, "../bob", source, "../../x.WAV")
    assert dumped is not None and dumped.suffix == ".wav"
    assert dumped.parent.parent == settings.debug_audio_dir
    assert dumped.parent.name == safe_component("../bob")
    assert is_encrypted(dumped)  # stored audio is encrypted when a key is configured
