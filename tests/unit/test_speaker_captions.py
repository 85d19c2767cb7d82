"""Diarized captions name the speaker: ``[A] text`` in SRT, a ``<v A>`` voice span in WebVTT;
captions without diarization are unchanged."""

from __future__ import annotations

from app.services.transcription.formats import render_diarized_json, render_srt, render_vtt
from schemas.transcript import (
    Diarization,
    Segment,
    Transcript,
    TranscriptMetadata,
    build_transcript,
)


def _transcript(speakers: list[str | None]) -> Transcript:
    return build_transcript(
        segments=[
            Segment(id=i, start=i, end=i + 1, text=f"line {i}", speaker=s)
            for i, s in enumerate(speakers)
        ],
        language="en",
        duration=len(speakers),
        metadata=TranscriptMetadata(provider="test", model="test"),
        diarization=Diarization(enabled=any(speakers), speakers=len(set(speakers) - {None})),
    )


def test_srt_and_vtt_cues_carry_the_speaker() -> None:
    diarized = _transcript(["A", "B"])
    assert "1\n00:00:00,000 --> 00:00:01,000\n[A] line 0\n" in render_srt(diarized)
    assert "00:00:01.000 --> 00:00:02.000\n<v B>line 1\n" in render_vtt(diarized)
    assert [s["speaker"] for s in render_diarized_json(diarized)["segments"]] == ["A", "B"]
    plain = _transcript([None])
    assert render_srt(plain).endswith("\nline 0\n")
    assert "<v" not in render_vtt(plain)
