"""Speakers per word: a turn change inside one ASR segment splits it at the right word.

The two-voice test speaks every word on its own with espeak-ng and joins the words with no
silence at all, so the transcript's word times are exact and there is no pause at the change;
the real diarizer (Silero VAD + Resemblyzer) must still put the split between the same words.
"""

from __future__ import annotations

import numpy as np
import pytest

from app.services.transcription.pipeline import diarize_transcript
from providers.base import AudioInput
from providers.diarization import SpeakerDiarizer, Turn, assign_speakers
from schemas.options import DiarizationOptions
from schemas.transcript import (
    Segment,
    Transcript,
    TranscriptMetadata,
    Word,
    build_transcript,
    join_text,
)
from tests.providers.conftest import load_audio
from tests.support.audio import speech

FIRST = "please send the quarterly report to the finance team before friday".split()  # noqa: SIM905
SECOND = "sure I will finish the numbers tonight and email everyone tomorrow".split()  # noqa: SIM905


def _transcript(words: list[Word], duration: float) -> Transcript:
    segment = Segment(
        id=0,
        start=words[0].start,
        end=words[-1].end,
        text=" ".join(w.word for w in words),
        words=words,
        avg_logprob=-0.2,
    )
    return build_transcript(
        segments=[segment],
        language="en",
        duration=duration,
        metadata=TranscriptMetadata(provider="test", model="test"),
    )


def _spoken_words(voice: str, words: list[str], cursor: float) -> tuple[list, list[Word]]:
    """Each word voiced alone, its leading/trailing silence cut off, joined back to back."""
    pieces, timed = [], []
    for text in words:
        samples = load_audio(speech(text, voice=voice)).samples
        loud = np.flatnonzero(np.abs(samples) > 0.01)
        samples = samples[loud[0] : loud[-1] + 1]
        seconds = len(samples) / 16_000
        timed.append(Word(word=text, start=cursor, end=cursor + seconds, probability=0.9))
        pieces.append(samples)
        cursor += seconds
    return pieces, timed


def test_a_turn_change_inside_one_segment_is_split_at_the_right_word() -> None:
    pytest.importorskip("resemblyzer")
    first_audio, first_words = _spoken_words("en+m3", FIRST, 0.3)
    second_audio, second_words = _spoken_words("en-us+f4", SECOND, first_words[-1].end)
    lead = np.zeros(int(0.3 * 16_000), dtype=np.float32)
    samples = np.concatenate([lead, *first_audio, *second_audio, lead])
    audio = AudioInput(samples.astype(np.float32))
    transcript = _transcript(first_words + second_words, audio.duration)

    labelled = diarize_transcript(
        transcript, audio, DiarizationOptions(), diarizer=SpeakerDiarizer()
    )

    assert [s.text for s in labelled.segments] == [" ".join(FIRST), " ".join(SECOND)]
    assert [s.speaker for s in labelled.segments] == ["A", "B"]
    assert labelled.diarization.speakers == 2
    assert labelled.text == join_text(labelled.segments) == transcript.text
    for segment in labelled.segments:
        assert {w.speaker for w in segment.words or ()} == {segment.speaker}
    assert labelled.segments[0].end <= labelled.segments[1].start


def _words(spec: list[tuple[str, float, float]]) -> list[Word]:
    return [Word(word=w, start=a, end=b, probability=0.9) for w, a, b in spec]


def test_words_take_the_speaker_with_most_overlap_and_segments_split_there() -> None:
    words = _words([("a", 0.0, 0.5), ("b", 0.5, 1.0), ("c", 1.0, 1.5), ("d", 1.5, 2.0)])
    transcript = _transcript(words, 3.0)
    turns = [Turn(0.0, 1.1, "A"), Turn(0.9, 2.0, "B"), Turn(1.2, 1.4, "A")]  # overlap in "c"
    out = assign_speakers(transcript, turns)
    assert [(s.text, s.speaker) for s in out.segments] == [("a b", "A"), ("c d", "B")]
    assert out.segments[0].start == 0.0 and out.segments[1].end == 2.0
    assert out.segments[0].avg_logprob == out.segments[1].avg_logprob == -0.2
    assert [s.id for s in out.segments] == [0, 1] and out.diarization.speakers == 2


def test_words_outside_every_turn_go_to_the_nearest_and_wordless_segments_as_a_whole() -> None:
    words = _words([("a", 0.0, 0.4), ("b", 5.0, 5.4)])
    out = assign_speakers(_transcript(words, 9.0), [Turn(1.0, 2.0, "A"), Turn(6.0, 8.0, "B")])
    assert [(s.text, s.speaker) for s in out.segments] == [("a", "A"), ("b", "B")]
    bare = build_transcript(
        segments=[Segment(id=0, start=0.0, end=3.0, text="hello there")],
        language="en",
        duration=3.0,
        metadata=TranscriptMetadata(provider="test", model="test"),
    )
    turns = [Turn(0.0, 1.0, "A"), Turn(1.0, 3.0, "B")]
    assert [s.speaker for s in assign_speakers(bare, turns).segments] == ["B"]
    assert [s.speaker for s in assign_speakers(bare, []).segments] == ["A"]  # no voice found


def test_overlap_turns_are_listed_but_do_not_take_words_from_the_main_speaker() -> None:
    words = _words([("a", 0.0, 0.5), ("b", 0.5, 1.0), ("c", 1.0, 1.5), ("d", 1.5, 2.0)])
    transcript = _transcript(words, 3.0)
    # B talks from 1.0; A is still heard under B until 1.8 (longer than B's share of "c" and "d")
    turns = [Turn(0.0, 1.0, "A"), Turn(1.0, 2.0, "B"), Turn(1.0, 1.8, "A", overlap=True)]
    out = assign_speakers(transcript, turns)
    assert [(s.text, s.speaker) for s in out.segments] == [("a b", "A"), ("c d", "B")]
    extra = out.metadata.model_dump()
    assert extra["overlapped_speech"] == [{"start": 1.0, "end": 1.8, "speakers": ["A", "B"]}]
    single = assign_speakers(transcript, [Turn(0.0, 1.0, "A"), Turn(1.0, 2.0, "B")])
    assert single.metadata.model_dump()["overlapped_speech"] == []
