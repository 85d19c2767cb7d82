"""A table of hostile or broken uploads, each answered with a precise 4xx in OpenAI's envelope
and no temporary file left behind."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.security.conftest import ClientFactory
from tests.security.test_rate_limits import wav_bytes

URL = "/v1/audio/transcriptions"
WAV = wav_bytes(1.0)


def mp3_bytes(tmp: Path) -> bytes:
    src, out = tmp / "a.wav", tmp / "a.mp3"
    src.write_bytes(WAV)
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), str(out)], check=True)
    return out.read_bytes()


def multipart(file: tuple[str, bytes, str] | None = None, **fields: Any) -> dict[str, Any]:
    return {"files": {"file": file} if file else None, "data": {"model": "mock", **fields}}


# (case id, request kwargs or a builder, status, error code, param)
def cases(mp3: bytes) -> list[tuple[str, dict[str, Any], int, str, str | None]]:
    wav = ("a.wav", WAV, "audio/wav")
    huge_header = bytearray(WAV)
    huge_header[40:44] = (0x7FFFFFF0).to_bytes(4, "little")  # data chunk claims ~2 GB
    return [
        (
            "garbage-bytes",
            multipart(("a.wav", b"\x13\x37" * 500, "audio/wav")),
            415,
            "unsupported_media_type",
            "file",
        ),
        ("zero-length", multipart(("a.wav", b"", "audio/wav")), 400, "empty_file", "file"),
        (
            "truncated-wav",
            multipart(("a.wav", WAV[: len(WAV) // 2], "audio/wav")),
            400,
            "truncated_audio",
            "file",
        ),
        (
            "wav-header-only",
            multipart(("a.wav", WAV[:44], "audio/wav")),
            400,
            "invalid_audio",
            "file",
        ),
        (
            "truncated-mp3",
            multipart(("a.mp3", mp3[:60], "audio/mpeg")),
            400,
            "invalid_audio",
            "file",
        ),
        (
            "huge-declared-wav",
            multipart(("a.wav", bytes(huge_header), "audio/wav")),
            400,
            "truncated_audio",
            "file",
        ),
        (
            "text-as-audio",
            multipart(("a.wav", b"hello, I am not audio\n" * 20, "audio/wav")),
            415,
            "unsupported_media_type",
            "file",
        ),
        ("json-body", {"json": {"model": "mock"}}, 415, "unsupported_media_type", None),
        ("urlencoded-body", {"data": {"model": "mock"}}, 415, "unsupported_media_type", None),
        ("no-model", {"files": {"file": wav}}, 400, "missing_required_parameter", "model"),
        (
            "two-files",
            {"files": [("file", wav), ("file", wav)], "data": {"model": "mock"}},
            400,
            "invalid_value",
            "file",
        ),
        (
            "file-in-wrong-field",
            {"files": {"prompt": wav}, "data": {"model": "mock"}},
            400,
            "invalid_value",
            "prompt",
        ),
        (
            "temperature-huge",
            multipart(wav, temperature="1e308"),
            400,
            "invalid_value",
            "temperature",
        ),
        ("temperature-nan", multipart(wav, temperature="nan"), 400, "invalid_value", "temperature"),
        (
            "beam-size-absurd",
            multipart(wav, beam_size="1000000000"),
            400,
            "invalid_value",
            "beam_size",
        ),
        (
            "response-format-xml",
            multipart(wav, response_format="xml"),
            400,
            "invalid_value",
            "response_format",
        ),
        (
            "language-bogus",
            multipart(wav, language="xx-klingon"),
            400,
            "unsupported_language",
            "language",
        ),
        (
            "chunk-length-negative",
            multipart(wav, chunk_length="-5"),
            400,
            "invalid_value",
            "chunk_length",
        ),
        ("unknown-field", multipart(wav, evil="1"), 400, "unknown_parameter", "evil"),
        ("prompt-too-long", multipart(wav, prompt="word " * 400), 400, "prompt_too_long", "prompt"),
        (
            "model-unknown",
            multipart(wav, model="../../etc/passwd"),
            404,
            "model_not_found",
            "model",
        ),
    ]


def raw_multipart(client: TestClient, body: bytes, boundary: str = "XyZ", **headers: str):  # type: ignore[no-untyped-def]
    return client.post(
        URL,
        content=body,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", **headers},
    )


def part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
    return b"--XyZ\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n" + value + b"\r\n"


def assert_error(response, status: int, code: str, param: str | None) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code, error
    assert error["param"] == param, error
    assert error["type"] == "invalid_request_error"


def leftovers(tmp_dir: Path) -> list[Path]:
    return [p for p in tmp_dir.rglob("*") if p.is_file()] if tmp_dir.exists() else []


def test_bad_inputs_table(make_client: ClientFactory, tmp_path: Path) -> None:
    mp3 = mp3_bytes(tmp_path)
    with make_client(max_file_size_mb=1, max_prompt_chars=1000) as client:
        tmp_dir = client.app.state.settings.tmp_dir  # type: ignore[attr-defined]
        for case, request, status, code, param in cases(mp3):
            response = client.post(URL, **request)
            try:
                assert_error(response, status, code, param)
            except AssertionError as exc:
                raise AssertionError(f"case {case}: {exc}") from None
            assert leftovers(tmp_dir) == [], case


def test_raw_multipart_abuse(make_client: ClientFactory) -> None:
    model = part("model", b"mock")
    with make_client(max_file_size_mb=1) as client:
        tmp_dir = client.app.state.settings.tmp_dir  # type: ignore[attr-defined]
        # a multipart form without the file
        response = raw_multipart(client, model + b"--XyZ--\r\n")
        assert_error(response, 400, "missing_required_parameter", "file")
        # non-UTF-8 prompt
        response = raw_multipart(client, model + part("prompt", b"\xff\xfe\xfa") + b"--XyZ--\r\n")
        assert_error(response, 400, "invalid_value", "prompt")
        # a declared Content-Length far beyond the cap is refused before reading the body
        response = raw_multipart(client, model, **{"Content-Length": str(10**12)})
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "file_too_large"
        # a real body over the cap is cut off while streaming
        big = part("file", b"RIFF" + b"\x00" * (2 * 1024 * 1024), "big.wav")
        response = raw_multipart(client, model + big + b"--XyZ--\r\n")
        assert_error(response, 413, "file_too_large", "file")
        # malformed multipart framing
        response = raw_multipart(client, b"--XyZ\r\nthis is not a header block\r\n\r\n")
        assert response.status_code == 400
        response = raw_multipart(client, b"", boundary="")
        assert response.status_code == 415
        # a field that is far too long
        response = raw_multipart(client, model + part("prompt", b"a" * 70_000) + b"--XyZ--\r\n")
        assert_error(response, 400, "invalid_value", "prompt")
        # a file name longer than python-multipart's header limit
        huge_name = part("file", WAV, "x" * 5000 + ".wav")
        response = raw_multipart(client, model + huge_name + b"--XyZ--\r\n")
        assert response.status_code == 400
        assert leftovers(tmp_dir) == []


@pytest.mark.parametrize(
    "filename",
    [
        "../../../../tmp/evil.wav",
        "..\\..\\evil.wav",
        "/etc/passwd",
        "a/../../b.wav",
        "\u202etxt.wav",
        "x" * 300 + ".wav",
        "..",
    ],
)
def test_path_traversal_file_names(
    make_client: ClientFactory, tmp_path: Path, filename: str
) -> None:
    before = set(Path("/tmp").iterdir())
    overrides = {"debug_dump_audio": True}
    with make_client(**overrides) as client:
        settings = client.app.state.settings  # type: ignore[attr-defined]
        response = client.post(
            URL, files={"file": (filename, WAV, "audio/wav")}, data={"model": "mock"}
        )
        assert response.status_code == 200, response.text
        assert leftovers(settings.tmp_dir) == []
        dumps = [p for p in settings.debug_audio_dir.rglob("*") if p.is_file()]
    assert len(dumps) == 1  # the debug copy is named by time and request id, in the user's dir
    assert dumps[0].parent == settings.debug_audio_dir / "local"
    assert dumps[0].resolve().is_relative_to(settings.debug_audio_dir.resolve())
    assert dumps[0].stat().st_mode & 0o077 == 0
    assert {p for p in Path("/tmp").iterdir() if p.name.startswith("evil")} <= before
