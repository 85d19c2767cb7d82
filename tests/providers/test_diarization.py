"""Speaker diarization: a synthetic two-voice dialogue through the REST API (diarized_json),
plus the clustering rules with synthetic embeddings."""

from __future__ import annotations

import itertools
import json
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from app.services.transcription.pipeline import diarize_transcript
from providers.base import AudioInput
from providers.diarization import cluster
from providers.diarization.clustering import MAX_LINKAGE
from schemas.errors import CapabilityNotSupported
from schemas.options import DiarizationOptions
from schemas.transcript import Segment, TranscriptMetadata, build_transcript
from tests.conftest import SettingsFactory
from tests.providers.conftest import load_audio, silence
from tests.support.audio import speech
from tests.support.jobs import post_upload, wait_job
from tests.support.server import running_server

pytest.importorskip("resemblyzer")

# two clearly different espeak-ng voices: a low male and a high female variant
VOICES = ("en+m3", "en-us+f4")
TURNS = [
    "Good morning, thank you for calling the support line.",
    "Hello, my laptop will not turn on since yesterday.",
    "I am sorry to hear that. Have you tried charging it overnight?",
    "Yes, I left it plugged in all night and nothing happened.",
    "Please hold the power button for thirty seconds.",
    "Okay, I am holding it now and the light is blinking.",
    "Great, that means the battery is charging again.",
    "Wonderful, thank you so much for your help today.",
]
GAP_S = 0.8


def dialogue(path: Path) -> list[tuple[float, float, int]]:
    """Write the alternating dialogue to ``path``; returns (start, end, speaker) per turn."""
    pieces, truth, cursor = [], [], 0.0
    for index, text in enumerate(TURNS):
        samples = load_audio(speech(text, voice=VOICES[index % 2])).samples
        truth.append((cursor, cursor + len(samples) / 16_000, index % 2))
        pieces += [samples, silence(GAP_S)]
        cursor += len(samples) / 16_000 + GAP_S
    pcm = (np.clip(np.concatenate(pieces), -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes(pcm.tobytes())
    return truth


def best_permutation_accuracy(predicted: list[str], expected: list[int]) -> float:
    labels = sorted(set(predicted))
    best = 0
    for perm in itertools.permutations(range(max(len(labels), 2))):
        mapping = dict(zip(labels, perm, strict=False))
        best = max(best, sum(mapping[p] == e for p, e in zip(predicted, expected, strict=True)))
    return best / len(expected)


def assert_two_speakers_found(
    segments: list[dict[str, Any]], truth: list[tuple[float, float, int]]
) -> None:
    """Two speakers labelled, matching the truth (the turn each segment overlaps most) on at
    least 90% of the segments under the best mapping of labels to speakers."""
    expected = [
        max(truth, key=lambda t: min(t[1], s["end"]) - max(t[0], s["start"]))[2] for s in segments
    ]
    predicted = [s["speaker"] for s in segments]
    assert len(set(predicted)) == 2, predicted
    assert best_permutation_accuracy(predicted, expected) >= 0.9, (predicted, expected)


def test_two_voice_dialogue_is_diarized_with_the_speaker_count_found(
    make_settings: SettingsFactory, tmp_path: Path, shared_data_dir: Path
) -> None:
    audio = tmp_path / "dialogue.wav"
    truth = dialogue(audio)
    settings = make_settings(data_dir=shared_data_dir, enable_diarization=True)
    with running_server(settings) as url, open(audio, "rb") as f:
        response = httpx.post(
            f"{url}/v1/audio/transcriptions",
            files={"file": ("dialogue.wav", f, "audio/wav")},
            data={"model": "tiny.en", "response_format": "diarized_json"},
            timeout=120,
        )
    assert response.status_code == 200, response.text
    body = response.json()
    segments = body["segments"]
    assert len(segments) >= len(TURNS) - 1
    assert_two_speakers_found(segments, truth)  # found automatically, no hint given
    assert all(s["type"] == "transcript.text.segment" for s in segments)


def _transcript(n: int) -> tuple:
    segments = [Segment(id=i, start=i, end=i + 1, text=f"s{i}") for i in range(n)]
    transcript = build_transcript(
        segments=segments,
        language="en",
        duration=n,
        metadata=TranscriptMetadata(provider="mock", model="mock"),
    )
    return transcript, AudioInput(np.zeros(16_000 * n, dtype=np.float32))


def _voices(groups: list[int], seed: int = 0) -> np.ndarray:
    """Unit vectors around one random centre per group (cosine distance ~0.05 within)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(max(groups) + 1, 256))
    vectors = centres[groups] + rng.normal(scale=0.2, size=(len(groups), 256))
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def test_cluster_counts_speakers_and_honours_hints() -> None:
    groups = [0, 1, 0, 2, 1, 0, 2, 1]
    embeddings = _voices(groups)
    auto = cluster(embeddings, DiarizationOptions(), threshold=0.35, max_speakers=8)
    assert auto.tolist() == [0, 1, 0, 2, 1, 0, 2, 1]  # numbered by first appearance
    two = cluster(embeddings, DiarizationOptions(num_speakers=2), threshold=0.35, max_speakers=8)
    assert len(set(two.tolist())) == 2
    capped = cluster(embeddings, DiarizationOptions(max_speakers=2), threshold=0.35, max_speakers=8)
    assert len(set(capped.tolist())) == 2
    same = _voices([0, 0, 0, 0])
    assert cluster(same, DiarizationOptions(), threshold=0.35, max_speakers=8).tolist() == [0] * 4
    forced = cluster(same, DiarizationOptions(min_speakers=2), threshold=0.35, max_speakers=8)
    assert len(set(forced.tolist())) == 2
    assert cluster(same[:1], DiarizationOptions(), threshold=0.35, max_speakers=8).tolist() == [0]


def test_small_clusters_do_not_count_as_speakers() -> None:
    groups = [0] * 10 + [1] * 10 + [2]  # a third "voice" heard in one window only
    vectors = _voices(groups)
    kept = cluster(vectors, DiarizationOptions(), threshold=0.35, max_speakers=8, min_speaker_s=2)
    assert len(set(kept.tolist())) == 2 and kept[:10].tolist() == [0] * 10
    every = cluster(vectors, DiarizationOptions(), threshold=0.35, max_speakers=8)
    assert len(set(every.tolist())) == 3
    asked = cluster(
        vectors, DiarizationOptions(min_speakers=3), threshold=0.35, max_speakers=8, min_speaker_s=2
    )
    assert len(set(asked.tolist())) == 3


def test_long_recordings_cluster_on_a_bounded_sample() -> None:
    groups = [i // 500 % 3 for i in range(MAX_LINKAGE + 1500)]  # three voices taking turns
    labels = cluster(_voices(groups), DiarizationOptions(), threshold=0.35, max_speakers=8)
    assert labels.tolist() == groups


def test_hints_are_validated_and_a_missing_diarizer_is_a_typed_error() -> None:
    with pytest.raises(ValueError):
        DiarizationOptions(min_speakers=3, max_speakers=2)
    with pytest.raises(ValueError):
        DiarizationOptions(num_speakers=5, max_speakers=2)
    transcript, audio = _transcript(2)
    with pytest.raises(CapabilityNotSupported):
        diarize_transcript(transcript, audio, DiarizationOptions(), diarizer=None)


def test_speakers_through_the_api_and_diarized_json_needs_diarization(live_server: str) -> None:
    path = speech("One two three four five six seven eight nine ten eleven twelve.")
    with open(path, "rb") as f:
        response = httpx.post(
            f"{live_server}/v1/audio/transcriptions",
            files={"file": ("a.wav", f, "audio/wav")},
            data={
                "model": "mock",
                "response_format": "verbose_json",
                "timestamp_granularities[]": ["word", "segment"],
                "diarize": "true",
                "num_speakers": "1",
            },
            timeout=60,
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert {s["speaker"] for s in body["segments"]} == {"A"}
    assert body["words"]
    assert body["metadata"]["overlapped_speech"] == []  # one voice: listed, and nothing in it
    with open(path, "rb") as f:
        no = httpx.post(
            f"{live_server}/v1/audio/transcriptions",
            files={"file": ("a.wav", f, "audio/wav")},
            data={"model": "mock", "response_format": "diarized_json", "diarize": "false"},
            timeout=60,
        )
    assert no.status_code == 400 and no.json()["error"]["param"] == "response_format"


def test_diarized_chunked_job_keeps_speakers_across_chunks(
    make_settings: SettingsFactory, tmp_path: Path
) -> None:
    """A job with diarize=true is split into chunks, merged, then diarized once as a whole, so a
    speaker has one label in every chunk."""
    audio = tmp_path / "dialogue.wav"
    truth = dialogue(audio)
    with running_server(make_settings()) as url, httpx.Client(base_url=url, timeout=60) as client:
        created = post_upload(
            client,
            audio,
            model="tiny.en",
            diarize="true",
            chunk_seconds="15",
            response_format="diarized_json",
        )
        job = wait_job(client, created["id"], timeout=120, interval=0.1)
        events = client.get(f"/v1/audio/jobs/{job['id']}/events").text
    assert job["status"] == "succeeded", job
    assert job["progress"]["chunks_total"] >= 2
    segments = job["result"]["segments"]
    assert_two_speakers_found(segments, truth)
    stages = [line for line in events.splitlines() if line.startswith('data: {"stage"')]
    assert [json.loads(s.removeprefix("data: "))["stage"] for s in stages] == [
        "transcribing",
        "merging",
        "diarization",
        "saving",
    ]
    # the same voice keeps its label on both sides of the first chunk cut (within 11.25..15 s)
    before = {(s["speaker"], _true_speaker(s, truth)) for s in segments if s["end"] <= 11.25}
    after = {(s["speaker"], _true_speaker(s, truth)) for s in segments if s["start"] >= 15}
    assert before == after and len(before) == 2, (before, after)


def _true_speaker(segment: dict[str, Any], truth: list[tuple[float, float, int]]) -> int:
    return max(truth, key=lambda t: min(t[1], segment["end"]) - max(t[0], segment["start"]))[2]
