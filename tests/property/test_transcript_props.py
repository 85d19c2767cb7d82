"""Invariants of the canonical transcript and its renderings (hypothesis)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from app.services.transcription.captions import CaptionRules, cues
from app.services.transcription.formats import render, render_srt, render_vtt, timestamp
from schemas.options import ResponseFormat
from schemas.transcript import Segment, TranscriptMetadata, Word, build_transcript

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
times = st.floats(min_value=-5, max_value=5000, allow_nan=False, allow_infinity=False)
texts = st.text(max_size=40)
words = st.builds(
    Word, word=texts, start=times, end=times, probability=st.floats(min_value=0, max_value=1)
)
segments = st.lists(
    st.builds(
        Segment,
        id=st.integers(0, 10),
        start=times,
        end=times,
        text=texts,
        words=st.none() | st.lists(words, max_size=5),
    ),
    max_size=12,
)
durations = st.floats(min_value=0, max_value=4000, allow_nan=False)


def _build(segs: list[Segment], duration: float):
    return build_transcript(
        segments=segs,
        language="en",
        duration=duration,
        metadata=TranscriptMetadata(provider="p", model="m"),
    )


@given(segments, durations)
def test_build_transcript_invariants(segs: list[Segment], duration: float) -> None:
    t = _build(segs, duration)
    assert t.text == " ".join(s.text for s in t.segments)
    assert [s.id for s in t.segments] == list(range(len(t.segments)))
    previous_start = previous_end = 0.0
    for s in t.segments:
        assert s.text and s.text == s.text.strip() and not CONTROL.search(s.text)
        assert 0 <= s.start <= s.end <= t.duration
        assert s.start >= previous_start and s.end >= previous_end
        previous_start, previous_end = s.start, s.end
        assert s.words is None or len(s.words) > 0
        word_start = s.start
        for w in s.words or ():
            assert w.word and not CONTROL.search(w.word)
            assert s.start <= word_start <= w.start <= w.end <= s.end
            word_start = w.start
    assert t.usage.duration_ms == round(t.duration * 1000)


@given(st.floats(min_value=0, max_value=360_000, allow_nan=False))
def test_timestamp_round_trip(seconds: float) -> None:
    for sep in (",", "."):
        stamp = timestamp(seconds, sep)
        match = re.fullmatch(rf"(\d\d+):([0-5]\d):([0-5]\d){re.escape(sep)}(\d\d\d)", stamp)
        assert match, stamp
        h, m, s, ms = (int(g) for g in match.groups())
        assert h * 3_600_000 + m * 60_000 + s * 1000 + ms == round(seconds * 1000)


@given(segments, durations)
def test_srt_and_vtt_structure(segs: list[Segment], duration: float) -> None:
    """Any transcript renders to well-formed SRT and WebVTT: numbered blocks, valid time lines
    in order, one cue per caption the rules make (``tests/property/test_caption_props.py``)."""
    t = _build(segs, duration)
    expected = cues(t, CaptionRules())
    srt_blocks = [b for b in render_srt(t).split("\n\n") if b.strip()]
    assert len(srt_blocks) == len(expected)
    for n, (block, cue) in enumerate(zip(srt_blocks, expected, strict=True), start=1):
        index, times_line, text = block.strip("\n").split("\n", 2)
        assert index == str(n)
        assert times_line == f"{timestamp(cue.start, ',')} --> {timestamp(cue.end, ',')}"
        assert text.split("\n") == list(cue.lines)
    vtt = render_vtt(t)
    assert vtt.startswith("WEBVTT\n\n")
    blocks = [b for b in vtt.removeprefix("WEBVTT\n\n").split("\n\n") if b.strip()]
    assert len(blocks) == len(cues(t, CaptionRules(), speaker_prefix=False))


@given(st.sampled_from(["transcribe", "translate"]))
def test_verbose_json_names_the_task_the_transcript_was_made_for(task: str) -> None:
    transcript = build_transcript(
        segments=[Segment(id=0, start=0.0, end=1.0, text="hello")],
        language="en",
        duration=1.0,
        metadata=TranscriptMetadata(provider="p", model="m", task=task),
    )
    assert render(transcript, ResponseFormat.VERBOSE_JSON)["task"] == task  # type: ignore[index]
