"""The emotion stage on a tiny random wav2vec2 classifier: clips, batches, labels, refusals."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.services.transcription.pipeline import TranscriptionPipeline
from app.services.vocabulary import Vocabulary
from providers.base import AudioInput
from providers.emotion import (
    MAX_CLIP_S,
    MIN_CLIP_S,
    EmotionClassifier,
    EmotionConfig,
    clip_span,
    segment_clip,
)
from providers.mock import MockProvider
from providers.registry import ProviderRegistry
from schemas.errors import CapabilityNotSupported
from schemas.options import TranscriptionOptions
from schemas.transcript import Segment, Transcript, TranscriptMetadata, build_transcript
from tests.providers.tiny_models import EMOTION_LABELS

RATE = 16_000


def tones(seconds: float) -> AudioInput:
    """A recording whose pitch and level change every second, so clips differ."""
    t = np.arange(int(seconds * RATE)) / RATE
    pitch = 100 + 400 * (np.floor(t) % 7)
    level = 0.05 + 0.1 * (np.floor(t) % 3)
    return AudioInput(samples=(level * np.sin(2 * np.pi * pitch * t)).astype(np.float32))


def transcript_of(spans: list[tuple[float, float]], duration: float) -> Transcript:
    segments = [Segment(id=i, start=s, end=e, text=f"part {i}") for i, (s, e) in enumerate(spans)]
    return build_transcript(
        segments=segments,
        language="en",
        duration=duration,
        metadata=TranscriptMetadata(provider="mock", model="mock"),
    )


@pytest.fixture(scope="module")
def classifier(tiny_emotion_dir: Path) -> EmotionClassifier:
    return EmotionClassifier(EmotionConfig(model=str(tiny_emotion_dir), batch_size=3))


# -- clips ------------------------------------------------------------------------------------


def test_clip_spans_widen_short_segments_and_narrow_long_ones_inside_the_recording() -> None:
    assert clip_span(2.0, 4.5, 60.0) == (2.0, 4.5)  # a usual segment: itself
    assert clip_span(10.0, 10.2, 60.0) == pytest.approx((9.6, 10.6))  # widened around its centre
    assert clip_span(0.0, 0.1, 60.0) == (0.0, MIN_CLIP_S)  # shifted to start at 0
    assert clip_span(59.9, 60.0, 60.0) == (60.0 - MIN_CLIP_S, 60.0)  # ... or to end at the end
    assert clip_span(5.0, 5.0, 60.0) == pytest.approx((4.5, 5.5))  # zero length too
    low, high = clip_span(0.0, 50.0, 60.0)
    assert (low, high) == (10.0, 10.0 + MAX_CLIP_S)  # the central 30 s
    assert clip_span(0.1, 0.2, 0.4) == (0.0, 0.4)  # the whole of a short recording


def test_a_clip_is_a_view_of_the_recording_and_a_short_recording_is_padded() -> None:
    audio = tones(5.0)
    clip = segment_clip(audio, Segment(id=0, start=1.0, end=3.0, text="x"))
    assert clip.size == 2 * RATE and np.shares_memory(clip, audio.samples)
    short = AudioInput(samples=np.ones(RATE // 4, dtype=np.float32))
    padded = segment_clip(short, Segment(id=0, start=0.0, end=0.25, text="x"))
    assert padded.size == round(MIN_CLIP_S * RATE) and padded.sum() == RATE // 4


# -- the tiny model ---------------------------------------------------------------------------


def test_emotion_on_the_tiny_model_labels_every_segment(classifier: EmotionClassifier) -> None:
    audio = tones(12.0)
    spans = [(0.0, 2.5), (2.5, 2.55), (3.0, 6.0), (6.0, 6.0), (6.5, 11.0), (11.0, 12.0)]
    transcript = transcript_of(spans, audio.duration)
    labelled = classifier.label(transcript, audio)

    assert len(labelled.segments) == len(transcript.segments)
    for before, after in zip(transcript.segments, labelled.segments, strict=True):
        assert after.emotion is not None
        assert after.emotion.label in EMOTION_LABELS
        assert 0.0 <= after.emotion.score <= 1.0
        assert after.emotion.score >= 1 / len(EMOTION_LABELS)  # the top class of a softmax
        assert after.model_copy(update={"emotion": None}) == before  # nothing else changes
    assert labelled.text == transcript.text
    summary = labelled.metadata.emotion
    assert summary is not None and summary.model == "tiny-emotion"  # not the server's path
    assert summary.segments == len(spans)
    assert set(summary.distribution) == {s.emotion.label for s in labelled.segments if s.emotion}
    assert sum(summary.distribution.values()) == pytest.approx(1.0, abs=1e-3)


def test_batches_are_sorted_by_length_and_results_come_back_in_order(
    classifier: EmotionClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    audio = tones(10.0)
    clips = [audio.samples[: int(n * RATE)] for n in (3.0, 1.0, 2.0, 1.5, 2.5)]
    one_by_one = [classifier.classify([clip])[0] for clip in clips]
    assert len({e.score for e in one_by_one}) > 1  # the clips are told apart

    pipe = classifier._load()
    calls: list[list[int]] = []

    def spy(inputs: list[np.ndarray], **kwargs: Any) -> Any:
        calls.append([clip.size for clip in inputs])
        assert kwargs["batch_size"] == 3
        return pipe(inputs, **kwargs)

    monkeypatch.setattr(classifier, "_load", lambda: spy)
    batched = classifier.classify(clips)
    sizes = sorted(clip.size for clip in clips)
    assert calls == [sizes[:3], sizes[3:]]  # two batches, shortest first
    assert [e.label for e in batched] == [e.label for e in one_by_one]
    assert [e.score for e in batched] == pytest.approx([e.score for e in one_by_one], abs=1e-4)


def test_equal_clips_get_equal_labels_whatever_their_batch(classifier: EmotionClassifier) -> None:
    audio = tones(8.0)
    clips = [audio.samples[i * RATE : (i + 2) * RATE] for i in range(6)]
    batched = classifier.classify(clips)
    alone = [classifier.classify([clip])[0] for clip in clips]
    assert [e.label for e in batched] == [e.label for e in alone]
    assert [e.score for e in batched] == pytest.approx([e.score for e in alone], abs=1e-4)


def test_the_model_loads_once_for_concurrent_requests(
    tiny_emotion_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import transformers

    built: list[str] = []
    build = transformers.pipeline

    def slow_build(*args: Any, **kwargs: Any) -> Any:
        built.append(kwargs["model"])
        time.sleep(0.3)  # every request arrives while the first is still loading
        return build(*args, **kwargs)

    monkeypatch.setattr(transformers, "pipeline", slow_build)
    classifier = EmotionClassifier(EmotionConfig(model=str(tiny_emotion_dir)))
    clip = tones(2.0).samples
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: classifier.classify([clip])[0], range(4)))
    assert built == [str(tiny_emotion_dir)]
    assert len(set(results)) == 1


def test_a_transcript_without_segments_loads_nothing(
    classifier: EmotionClassifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail() -> None:
        raise AssertionError("no model is needed")

    monkeypatch.setattr(classifier, "_load", fail)
    empty = classifier.label(transcript_of([], 1.0), tones(1.0))
    assert empty.segments == [] and empty.metadata.emotion is not None
    assert (empty.metadata.emotion.segments, empty.metadata.emotion.distribution) == (0, {})


# -- refusals ---------------------------------------------------------------------------------


def pipeline_with(classifier: EmotionClassifier | None) -> TranscriptionPipeline:
    registry = ProviderRegistry(
        {"mock": MockProvider()},
        default_provider="mock",
        default_model="mock",
        translation_model="mock",
    )
    return TranscriptionPipeline(registry, Vocabulary(), emotion=classifier)


def test_the_pipeline_labels_after_transcription_and_says_so(
    classifier: EmotionClassifier,
) -> None:
    pipeline = pipeline_with(classifier)
    audio = tones(9.0)
    transcript = pipeline.transcribe(audio, pipeline.registry.chain("mock"), TranscriptionOptions())
    steps: list[str] = []
    options = TranscriptionOptions(emotion=True)
    final = pipeline.finalize(transcript, audio, options, on_step=steps.append)
    assert steps == ["emotion"]
    assert all(s.emotion is not None for s in final.segments) and final.metadata.emotion
    plain = pipeline.finalize(transcript, audio, TranscriptionOptions(), on_step=steps.append)
    assert steps == ["emotion"] and plain.metadata.emotion is None
    assert all(s.emotion is None for s in plain.segments)


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        (EmotionConfig(), "no emotion model is configured (STT_EMOTION_MODEL)"),
        (
            EmotionConfig(model="superb/wav2vec2-base-superb-er"),
            "'superb/wav2vec2-base-superb-er' is not a local directory and "
            "STT_ALLOW_MODEL_DOWNLOADS is off",
        ),
    ],
)
def test_emotion_without_a_usable_model_is_refused_before_transcription(
    config: EmotionConfig, reason: str
) -> None:
    classifier = EmotionClassifier(config)
    assert not classifier.available and reason in str(classifier.missing)
    with pytest.raises(CapabilityNotSupported) as refused:
        pipeline_with(classifier).check(TranscriptionOptions(emotion=True))
    assert refused.value.param == "emotion" and reason in refused.value.message
    pipeline_with(classifier).check(TranscriptionOptions())  # not asked: fine
    with pytest.raises(CapabilityNotSupported):
        pipeline_with(None).check(TranscriptionOptions(emotion=True))


def test_a_hub_id_is_accepted_where_downloads_are_allowed() -> None:
    config = EmotionConfig(model="superb/wav2vec2-base-superb-er", allow_downloads=True)
    classifier = EmotionClassifier(config)
    assert classifier.available and classifier.model_name == "superb/wav2vec2-base-superb-er"


def test_a_missing_extra_is_named(monkeypatch: pytest.MonkeyPatch, tiny_emotion_dir: Path) -> None:
    reason = (
        "python package 'transformers' is not installed (pip install 'stt-gateway[transformers]')"
    )
    monkeypatch.setattr("providers.emotion.missing_modules", lambda *_: reason)
    classifier = EmotionClassifier(EmotionConfig(model=str(tiny_emotion_dir)))
    with pytest.raises(CapabilityNotSupported, match="is not installed"):
        pipeline_with(classifier).check(TranscriptionOptions(emotion=True))
