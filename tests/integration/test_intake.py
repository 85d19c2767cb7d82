"""Upload intake against a live server: limits, sniffing, form semantics, temp-file hygiene."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.core.config import Settings
from tests.conftest import SettingsFactory
from tests.support.audio import speech
from tests.support.server import running_server

URL = "/v1/audio/transcriptions"


@pytest.fixture
def small_settings(make_settings: SettingsFactory) -> Settings:
    return make_settings(max_file_size_mb=0.5, max_audio_duration_s=20)


@pytest.fixture
def server(small_settings: Settings) -> Iterator[str]:
    with running_server(small_settings) as url:
        yield url


def _post(
    server: str, files: dict | None = None, data: dict | list | None = None, **kw: object
) -> httpx.Response:
    return httpx.post(server + URL, files=files, data=data, timeout=60, **kw)  # type: ignore[arg-type]


def _wav() -> bytes:
    return speech("Hello there, general test.").read_bytes()


def _tmp_files(settings: Settings) -> list[Path]:
    return list(settings.tmp_dir.iterdir())


def test_mock_transcription_json(server: str) -> None:
    r = _post(server, files={"file": ("a.wav", _wav(), "audio/wav")}, data={"model": "mock"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["text"] and body["usage"]["type"] == "duration"
    assert body["metadata"]["provider"] == "mock"


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("empty.wav", b"", 400, "empty_file"),
        ("garbage.wav", bytes(range(256)) * 40, 415, "unsupported_media_type"),
        ("page.mp3", b"<html><body>not audio</body></html>" * 20, 415, "unsupported_media_type"),
        ("picture.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 500, 415, "unsupported_media_type"),
    ],
)
def test_bad_files(
    server: str, small_settings: Settings, name: str, content: bytes, status: int, code: str
) -> None:
    r = _post(server, files={"file": (name, content, "audio/wav")}, data={"model": "mock"})
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["param"] == "file"
    assert _tmp_files(small_settings) == []


def test_truncated_wav(server: str, small_settings: Settings) -> None:
    data = _wav()
    r = _post(
        server,
        files={"file": ("cut.wav", data[: len(data) // 3], "audio/wav")},
        data={"model": "mock"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "truncated_audio"
    assert _tmp_files(small_settings) == []


def test_oversize_rejected_while_streaming(server: str, small_settings: Settings) -> None:
    """The cap trips mid-upload even without a Content-Length header (chunked body)."""

    def body() -> Iterator[bytes]:
        yield (
            b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nmock\r\n'
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.wav"\r\n'
            b"Content-Type: audio/wav\r\n\r\nRIFF"
        )
        for _ in range(64):
            yield b"\0" * 16384

    r = httpx.post(
        server + URL,
        content=body(),
        timeout=60,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
    )
    assert r.status_code == 413
    assert r.json()["error"]["code"] == "file_too_large"
    assert _tmp_files(small_settings) == []


def test_oversize_declared_length(server: str) -> None:
    r = _post(
        server,
        files={"file": ("big.wav", b"RIFF" + b"\0" * 900_000, "audio/wav")},
        data={"model": "mock"},
    )
    assert r.status_code == 413


def test_too_long_audio(server: str, small_settings: Settings, tmp_path: Path) -> None:
    long_silence = tmp_path / "silence.ogg"
    subprocess.run(
        ["sox", "-n", "-r", "8000", "-c", "1", str(long_silence), "trim", "0", "30"], check=True
    )
    r = _post(
        server,
        files={"file": ("s.ogg", long_silence.read_bytes(), "audio/ogg")},
        data={"model": "mock"},
    )
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "audio_too_long"


def test_client_disconnect_mid_upload_leaves_no_temp_file(
    server: str, small_settings: Settings
) -> None:
    host, port = server.removeprefix("http://").split(":")
    head = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.wav"\r\n'
        b"Content-Type: audio/wav\r\n\r\nRIFF" + b"\0" * 50_000
    )
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(
            b"POST " + URL.encode() + b" HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: multipart/form-data; boundary=b\r\n"
            b"Content-Length: 400000\r\n\r\n" + head
        )
    # the server notices the disconnect and cleans up; poll briefly
    for _ in range(100):
        if not _tmp_files(small_settings):
            break
        httpx.get(server + "/health")
    assert _tmp_files(small_settings) == []


@pytest.mark.parametrize(
    ("data", "status", "param"),
    [
        ({"model": "mock", "response_format": ""}, 200, None),  # empty string means unset
        ({"model": "mock", "bogus": "1"}, 400, "bogus"),
        ({"model": ""}, 400, "model"),
        ({"model": "mock", "temperature": "hot"}, 400, "temperature"),
        ({"model": "mock", "beam_size": "50"}, 400, "beam_size"),
        ({"model": "mock", "prompt": "x" * 1500}, 400, "prompt"),
        ({"model": "mock", "chunking_strategy": "sometimes"}, 400, "chunking_strategy"),
        ({"model": "mock", "include[]": "everything"}, 400, "include.0"),
    ],
)
def test_form_validation(server: str, data: dict, status: int, param: str | None) -> None:
    r = _post(server, files={"file": ("a.wav", _wav(), "audio/wav")}, data=data)
    assert r.status_code == status, r.text
    if status != 200:
        assert r.json()["error"]["type"] == "invalid_request_error"
        assert r.json()["error"]["param"] == param


@pytest.mark.parametrize("field", ["timestamp_granularities[]", "timestamp_granularities"])
def test_granularity_field_with_and_without_brackets(server: str, field: str) -> None:
    r = _post(
        server,
        files={"file": ("a.wav", _wav(), "audio/wav")},
        data={"model": "mock", "response_format": "verbose_json", field: ["word", "segment"]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["words"] and r.json()["segments"]


def test_missing_file_and_wrong_content_type(server: str) -> None:
    r = _post(server, data={"model": "mock"}, files={"other": ("a.txt", b"x", "text/plain")})
    assert r.status_code == 400
    r = httpx.post(server + URL, json={"model": "mock"})
    assert r.status_code == 415
    assert r.json()["error"]["type"] == "invalid_request_error"


def test_unknown_route_and_method_use_the_envelope(server: str) -> None:
    r = httpx.get(server + "/v1/nothing-here")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = httpx.get(server + URL)
    assert r.status_code == 405 and "error" in r.json()


def test_models_endpoints(server: str) -> None:
    listing = httpx.get(server + "/v1/models").json()
    ids = {m["id"] for m in listing["data"]}
    assert {"whisper-1", "tiny.en", "base", "mock"} <= ids
    card = httpx.get(server + "/v1/models/whisper-1").json()
    assert card["aliases"] == ["faster-whisper:tiny.en"]
    missing = httpx.get(server + "/v1/models/nope")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "model_not_found"


def test_health_and_ready(server: str) -> None:
    assert httpx.get(server + "/health").json() == {"status": "ok"}
    ready = httpx.get(server + "/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["storage"]["ok"]
