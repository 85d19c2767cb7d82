"""Broken audio gets a 4xx whose message names the problem and never a server path."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path

from tests.security.conftest import ClientFactory
from tests.security.test_rate_limits import wav_bytes

URL = "/v1/audio/transcriptions"


def _encoded(tmp: Path, suffix: str) -> bytes:
    src, out = tmp / "a.wav", tmp / f"a.{suffix}"
    src.write_bytes(wav_bytes(2.0))
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), str(out)], check=True)
    return out.read_bytes()


def _wav_with_rate(rate: int) -> bytes:
    body = wav_bytes(1.0)
    return body[:24] + struct.pack("<II", rate, rate * 2) + body[32:]


def _variants(tmp: Path) -> list[tuple[str, bytes]]:
    cases = [("wav-rate-0", _wav_with_rate(0))]
    for suffix in ("mp3", "ogg", "flac", "mp4"):
        data = _encoded(tmp, suffix)
        cases.append((f"{suffix}-head-only", data[:64]))
        cases.append((f"{suffix}-garbage-after-signature", data[:12] + b"\x13\x37" * 4000))
    return cases


def test_broken_audio_messages_hold_no_server_path(
    make_client: ClientFactory, tmp_path: Path
) -> None:
    with make_client() as client:
        tmp_dir = client.app.state.gateway.settings.tmp_dir  # type: ignore[attr-defined]
        for name, data in _variants(tmp_path):
            response = client.post(
                URL, data={"model": "mock"}, files={"file": (f"a.{name}", data, "audio/x")}
            )
            assert 400 <= response.status_code < 500, (name, response.text)
            message = response.json()["error"]["message"]
            assert str(tmp_dir) not in message, (name, message)
            assert "upload-" not in message, (name, message)
            assert str(tmp_path) not in message, (name, message)


def test_wav_with_rate_zero_is_a_clear_400(make_client: ClientFactory) -> None:
    with make_client() as client:
        response = client.post(
            URL,
            data={"model": "mock"},
            files={"file": ("a.wav", _wav_with_rate(0), "audio/wav")},
        )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_audio"
