"""``/metrics`` parsed with the Prometheus text parser after known traffic: the counters moved
by exactly the expected amounts, and no label carries a user id or a path."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from app.core import metrics
from tests.security.conftest import JWT_SECRET, ClientFactory, bearer, token
from tests.security.test_rate_limits import wav_bytes

TRANSCRIBE = "/v1/audio/transcriptions"
EXPECTED_FAMILIES = {
    "audio_stt_requests",
    "audio_stt_errors",
    "audio_stt_latency_seconds",
    "audio_stt_queue_wait_seconds",
    "audio_stt_processing_seconds",
    "audio_stt_audio_seconds",
    "audio_stt_real_time_factor",
    "audio_stt_fallbacks",
    "audio_stt_rate_limited",
    "audio_stt_streaming_sessions",
    "audio_stt_streaming_sessions_started",
    "audio_stt_streaming_sessions_ended",
    "audio_stt_streaming_token_latency_seconds",
    "audio_stt_jobs",
    "audio_stt_active_workers",
    "audio_stt_inference_in_flight",
    "audio_stt_gpu_memory_bytes",
}


def samples(client: TestClient) -> Iterator[tuple[str, Sample]]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            yield family.name, sample


def value(client: TestClient, name: str, **labels: str) -> float:
    total = 0.0
    for _, sample in samples(client):
        if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
            total += sample.value
    return total


def test_counters_move_by_the_traffic(make_client: ClientFactory) -> None:
    user = bearer(token("metrics-user", "transcribe stream"))
    probes = {
        "ok": (
            "audio_stt_requests_total",
            {"route": TRANSCRIBE, "method": "POST", "status": "200"},
        ),
        "415": ("audio_stt_requests_total", {"route": TRANSCRIBE, "status": "415"}),
        "401": ("audio_stt_requests_total", {"route": "/api/v1/models", "status": "401"}),
        "missing": ("audio_stt_errors_total", {"reason": "missing_credentials"}),
        "not_audio": ("audio_stt_errors_total", {"reason": "unsupported_media_type"}),
        "latency": ("audio_stt_latency_seconds_count", {"route": TRANSCRIBE, "method": "POST"}),
        "wait": ("audio_stt_queue_wait_seconds_count", {"queue": "inference"}),
        "processing": ("audio_stt_processing_seconds_count", {"provider": "mock", "model": "mock"}),
        "rtf": ("audio_stt_real_time_factor_count", {"provider": "mock", "model": "mock"}),
        "audio": ("audio_stt_audio_seconds_total", {"provider": "mock", "model": "mock"}),
        "fallback": (
            "audio_stt_fallbacks_total",
            {"from_provider": "faster-whisper", "to_provider": "mock", "reason": "oom"},
        ),
        "sessions": ("audio_stt_streaming_sessions_started_total", {}),
        "ended": ("audio_stt_streaming_sessions_ended_total", {"outcome": "closed"}),
        "active": ("audio_stt_streaming_sessions", {}),
    }
    with make_client(auth_mode="jwt", jwt_secret=JWT_SECRET) as client:
        before = {k: value(client, name, **labels) for k, (name, labels) in probes.items()}
        for _ in range(3):
            response = client.post(
                TRANSCRIBE,
                headers=user,
                files={"file": ("a.wav", wav_bytes(0.5), "audio/wav")},
                data={"model": "mock"},
            )
            assert response.status_code == 200
        response = client.post(
            TRANSCRIBE,
            headers=user,
            files={"file": ("a.wav", b"garbage" * 10)},
            data={"model": "mock"},
        )
        assert response.status_code == 415
        for _ in range(2):
            assert client.get("/api/v1/models").status_code == 401
        metrics.record_fallback("faster-whisper", "mock", "oom")
        with client.websocket_connect("/v1/audio/stream/transcribe", headers=user) as ws:
            ws.send_json({"type": "start", "model": "mock", "sample_rate": 16000})
            assert ws.receive_json()["type"] == "start"
            assert value(client, "audio_stt_streaming_sessions") == before["active"] + 1
            ws.send_json({"type": "stop"})
            while ws.receive_json()["type"] != "end":
                pass
        after = {k: value(client, name, **labels) for k, (name, labels) in probes.items()}
        families = {name for name, _ in samples(client)} | {
            f.name for f in text_string_to_metric_families(client.get("/metrics").text)
        }
        labels = [s.labels for _, s in samples(client) if s.name.startswith("audio_stt_")]

    delta = {k: round(after[k] - before[k], 6) for k in probes}
    assert delta == {
        "ok": 3,
        "415": 1,
        "401": 2,
        "missing": 2,
        "not_audio": 1,
        "latency": 4,
        "wait": 3,
        "processing": 3,
        "rtf": 3,
        "audio": 1.5,
        "fallback": 1,
        "sessions": 1,
        "ended": delta["ended"],  # the session ends after the socket closes (checked below)
        "active": delta["active"],
    }
    assert delta["ended"] in (0, 1) and delta["active"] in (0, 1)
    assert families >= EXPECTED_FAMILIES
    for label_set in labels:  # bounded labels: no user ids, no file system paths
        for name, label in label_set.items():
            assert "metrics-user" not in label
            assert name == "route" or "/" not in label, (name, label)


def test_latency_buckets_reach_tens_of_minutes() -> None:
    assert max(metrics.LONG_BUCKETS) >= 30 * 60
    assert metrics.bounded("/models/ggml/tiny.bin", fallback="custom") == "custom"
    assert metrics.bounded("tiny.en") == "tiny.en"
    assert metrics.bounded("x" * 65) == "other"


def test_streaming_token_latency_observed_per_partial_and_final(
    make_client: ClientFactory,
) -> None:
    user = bearer(token("metrics-user", "stream"))
    tone = wav_bytes(3.0)[44:]  # PCM16 at 16 kHz: the mock hears a word per half second
    frame = 3200  # 100 ms
    with make_client(auth_mode="jwt", jwt_secret=JWT_SECRET) as client:
        count = "audio_stt_streaming_token_latency_seconds_count"
        total = "audio_stt_streaming_token_latency_seconds_sum"
        before, before_s = value(client, count), value(client, total)
        with client.websocket_connect("/v1/audio/stream/transcribe", headers=user) as ws:
            ws.send_json({"type": "start", "model": "mock", "vad": {"enabled": False}})
            assert ws.receive_json()["type"] == "start"
            for first in range(0, len(tone), frame):
                ws.send_bytes(tone[first : first + frame])
            ws.send_json({"type": "stop"})
            kinds = []
            while (kind := ws.receive_json()["type"]) != "end":
                kinds.append(kind)
        after, after_s = value(client, count), value(client, total)
    transcripts = sum(kind in ("partial", "final") for kind in kinds)
    assert "final" in kinds and transcripts >= 2
    assert after - before == transcripts  # one observation per partial/final sent
    assert 0 < (after_s - before_s) / transcripts < 5.0  # seconds, audio arrival to event
