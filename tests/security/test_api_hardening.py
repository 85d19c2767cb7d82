"""Findings of an outside attack on the gateway: deeply nested client JSON is a 400 (never a
RecursionError 500), and a job upload that does not become a job leaves no stored audio."""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.core.json_input import MAX_JSON_DEPTH, loads
from app.services.jobs.service import JobService
from tests.security.conftest import API_KEY, ClientFactory
from tests.security.test_ws_auth import assert_refused

DEEP = "[" * 30_000  # 30 KB: far past the interpreter's recursion limit
BOUNDARY = "hardening-boundary"


def wav_bytes(seed: int = 0) -> bytes:
    """Half a second of noise; different seeds give different bytes (and content hashes)."""
    samples = (np.random.default_rng(seed).normal(0, 0.1, 8_000) * 32767).astype(np.int16)
    out = io.BytesIO()
    with wave.open(out, "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(16_000)
        handle.writeframes(samples.tobytes())
    return out.getvalue()


def assert_envelope(reply: Any, status: int, param: str | None = None) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    error: dict[str, Any] = reply.json()["error"]
    assert error["type"] == ("invalid_request_error" if status < 500 else "server_error")
    if param is not None:
        assert error["param"] == param
    return error


# -- finding 5: nesting depth ----------------------------------------------------------------


def test_depth_bound_counts_arrays_and_objects_not_brackets_in_strings() -> None:
    assert loads("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH) is not None
    assert loads('{"a": "' + "[{" * 100 + '", "b": "\\"[["}') == {"a": "[{" * 100, "b": '"[['}
    for deep in ("[" * 33 + "]" * 33, '{"a":' * 33 + "1" + "}" * 33, DEEP):
        with pytest.raises(ValueError, match="nested deeper"):
            loads(deep)
    with pytest.raises(ValueError):
        loads(b"\xff\xfe\xfd")


@pytest.fixture
def client(make_client: ClientFactory) -> Iterator[TestClient]:
    with make_client(embedded_worker=False, log_level="ERROR") as c:
        yield c


@pytest.mark.parametrize("field", ["chunking_strategy", "vocabulary"])
def test_deep_json_in_a_transcription_form_field_is_a_400(client: TestClient, field: str) -> None:
    reply = client.post(
        "/v1/audio/transcriptions",
        files={"file": ("a.wav", wav_bytes(), "audio/wav")},
        data={"model": "mock", field: DEEP},
    )
    assert_envelope(reply, 400, param=field)


@pytest.mark.parametrize(
    "body",
    [
        DEEP,
        '{"url": "https://example.com/a.wav", "chunking_strategy": '
        + '{"a": ' * 40
        + "1"
        + "}" * 41,
    ],
    ids=["bare", "in-a-field"],
)
def test_deep_json_job_body_is_a_400(client: TestClient, body: str) -> None:
    reply = client.post(
        "/v1/audio/jobs", content=body, headers={"Content-Type": "application/json"}
    )
    assert assert_envelope(reply, 400)["code"] == "invalid_json"


def test_deep_json_as_the_websocket_auth_message_is_refused(make_client: ClientFactory) -> None:
    with (
        make_client(auth_mode="api_key", api_key=API_KEY) as client,
        client.websocket_connect("/v1/audio/stream/transcribe") as ws,
    ):
        ws.send_text(DEEP)
        assert_refused(ws, "missing_credentials")


def test_a_recursion_error_anywhere_is_a_400_not_a_500(client: TestClient) -> None:
    """The backstop for input some other code walks recursively."""

    def walk() -> None:
        walk()

    @client.app.get("/deep")
    def deep() -> None:
        walk()

    error = assert_envelope(client.get("/deep"), 400)
    assert error["code"] == "nested_too_deeply"


# -- finding 6: no stored audio without a job -------------------------------------------------


def stored_files(client: TestClient) -> list[Path]:
    root: Path = client.app.state.settings.audio_store_dir
    return sorted(p for p in root.rglob("*") if p.is_file())


def multipart(*parts: tuple[str, bytes, str | None]) -> tuple[bytes, dict[str, str]]:
    """A multipart body with its parts in the given order: (name, value, filename or None)."""
    body = b""
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        body += value + b"\r\n"
    body += f"--{BOUNDARY}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def upload(client: TestClient, audio: bytes, key: str | None = None, **fields: str) -> Any:
    parts = [("file", audio, "a.wav"), *((k, v.encode(), None) for k, v in fields.items())]
    body, headers = multipart(*parts)  # the fields come after the file
    if key is not None:
        headers["Idempotency-Key"] = key
    return client.post("/v1/audio/jobs", content=body, headers=headers)


@pytest.mark.parametrize(
    ("key", "fields", "status", "param"),
    [
        ("", {}, 400, "idempotency-key"),
        ("k" * 201, {}, 400, "idempotency-key"),
        (None, {"priority": "999"}, 400, "priority"),
        (None, {"stream": "true"}, 400, "stream"),
        (None, {"model": "no-such-model"}, 404, None),
    ],
    ids=["empty-key", "long-key", "bad-field", "stream", "unknown-model"],
)
def test_a_refused_upload_leaves_no_stored_audio(
    client: TestClient, key: str | None, fields: dict[str, str], status: int, param: str | None
) -> None:
    """An empty Idempotency-Key is refused (400), not read as "no key"."""
    reply = upload(client, wav_bytes(), key, **{"model": "mock", **fields})
    assert reply.status_code == status, reply.text
    if param is not None:
        assert reply.json()["error"]["param"] == param
    assert stored_files(client) == []


def test_not_audio_leaves_no_stored_audio(client: TestClient) -> None:
    reply = upload(client, b"not audio at all" * 100, model="mock")
    assert reply.status_code == 415
    assert stored_files(client) == []


@pytest.fixture
def racing_cap(make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    """A cap of one active job, and the pre-read admission check always passing: as when
    another request of the same owner (or with the same key) commits its job while this
    request's upload is still arriving."""
    monkeypatch.setattr(JobService, "admit", lambda *_args, **_kw: None)
    with make_client(embedded_worker=False, max_active_jobs_per_user=1, log_level="ERROR") as c:
        yield c


def test_the_cap_reached_after_the_upload_removes_its_audio(racing_cap: TestClient) -> None:
    assert upload(racing_cap, wav_bytes(1), model="mock").status_code == 202
    kept = stored_files(racing_cap)
    assert len(kept) == 1
    refused = upload(racing_cap, wav_bytes(2), model="mock")
    assert refused.status_code == 429, refused.text
    assert stored_files(racing_cap) == kept


def test_a_refused_upload_keeps_audio_another_job_uses(racing_cap: TestClient) -> None:
    assert upload(racing_cap, wav_bytes(1), model="mock").status_code == 202
    kept = stored_files(racing_cap)
    assert upload(racing_cap, wav_bytes(1), model="mock").status_code == 429  # the same bytes
    assert stored_files(racing_cap) == kept


def test_a_key_replayed_during_the_upload_removes_the_second_audio(racing_cap: TestClient) -> None:
    first = upload(racing_cap, wav_bytes(1), "same-key", model="mock")
    assert first.status_code == 202
    kept = stored_files(racing_cap)
    replay = upload(racing_cap, wav_bytes(2), "same-key", model="mock")
    assert replay.status_code == 200 and replay.json()["id"] == first.json()["id"]
    assert stored_files(racing_cap) == kept


def test_a_failure_while_enqueuing_removes_the_audio(
    make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any, **_kw: Any) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(JobService, "submit", broken)
    with make_client(embedded_worker=False, log_level="ERROR") as client:
        reply = upload(client, wav_bytes(), model="mock")
        assert reply.status_code == 500
        assert stored_files(client) == []
