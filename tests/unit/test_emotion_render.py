"""Segment emotions in the response formats: verbose_json and diarized_json show them (a gateway
extension next to OpenAI's fields); json, text and captions are the same with or without."""

from __future__ import annotations

from app.services.transcription.formats import render
from schemas.emotion import Emotion, EmotionSummary
from schemas.options import ResponseFormat
from schemas.transcript import (
    Diarization,
    Segment,
    Transcript,
    TranscriptMetadata,
    build_transcript,
)


def transcript(*, emotion: bool) -> Transcript:
    feelings = [Emotion(label="happy", score=0.8), Emotion(label="sad", score=0.6)]
    segments = [
        Segment(
            id=i,
            start=2.0 * i,
            end=2.0 * i + 1.5,
            text=text,
            speaker=speaker,
            emotion=feeling if emotion else None,
        )
        for i, (text, speaker, feeling) in enumerate(
            zip(["Hello there.", "Goodbye now."], ["A", "B"], feelings, strict=True)
        )
    ]
    built = build_transcript(
        segments=segments,
        language="en",
        duration=4.0,
        metadata=TranscriptMetadata(provider="mock", model="mock"),
        diarization=Diarization(enabled=True, speakers=2),
    )
    if emotion:
        summary = EmotionSummary(model="m", segments=2, distribution={"happy": 0.5, "sad": 0.5})
        built = built.with_metadata(emotion=summary)
    return built


def test_verbose_and_diarized_json_show_each_segments_emotion() -> None:
    labelled, plain = transcript(emotion=True), transcript(emotion=False)
    verbose = render(labelled, ResponseFormat.VERBOSE_JSON)
    assert isinstance(verbose, dict)
    assert [s["emotion"] for s in verbose["segments"]] == [
        {"label": "happy", "score": 0.8},
        {"label": "sad", "score": 0.6},
    ]
    assert verbose["metadata"]["emotion"]["distribution"] == {"happy": 0.5, "sad": 0.5}
    diarized = render(labelled, ResponseFormat.DIARIZED_JSON)
    assert isinstance(diarized, dict)
    assert [(s["speaker"], s["emotion"]["label"]) for s in diarized["segments"]] == [
        ("A", "happy"),
        ("B", "sad"),
    ]
    for fmt in (ResponseFormat.VERBOSE_JSON, ResponseFormat.DIARIZED_JSON):
        shown = render(plain, fmt)
        assert isinstance(shown, dict)
        assert all("emotion" not in s for s in shown["segments"])


def test_json_text_and_captions_are_unchanged_by_emotions() -> None:
    labelled, plain = transcript(emotion=True), transcript(emotion=False)
    for fmt in (ResponseFormat.TEXT, ResponseFormat.SRT, ResponseFormat.VTT):
        assert render(labelled, fmt) == render(plain, fmt)
    body = render(labelled, ResponseFormat.JSON)
    assert isinstance(body, dict) and "segments" not in body
    assert body["text"] == plain.text
