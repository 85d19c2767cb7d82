"""Caption rules (SRT/WebVTT cues) and caption-grade segments over generated word timelines."""

from __future__ import annotations

import re
from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from app.services.transcription.captions import CaptionRules, cues
from app.services.transcription.formats import render_srt
from providers.segmentation import SegmentRules, split_segment
from schemas.transcript import Segment, TranscriptMetadata, Word, build_transcript

tokens = st.text(alphabet="abcdefghijklmnopqrstuvwxyzé'", min_size=1, max_size=12)
punctuated = st.tuples(tokens, st.sampled_from(["", "", "", ",", ".", "?"])).map("".join)


@st.composite
def timelines(draw: st.DrawFn) -> list[Segment]:
    """Segments of words with increasing times, pauses and speaker turns, as an engine and a
    diarizer would give them."""
    segments: list[Segment] = []
    clock = draw(st.floats(0, 5))
    for seg_id in range(draw(st.integers(1, 6))):
        words = []
        speaker = draw(st.sampled_from([None, "A", "B"]))
        for _ in range(draw(st.integers(1, 60))):
            clock += draw(st.sampled_from([0.0, 0.05, 0.1, 0.3, 1.2]))
            length = draw(st.floats(0.05, 1.5))
            if draw(st.integers(0, 9)) == 0:
                speaker = draw(st.sampled_from(["A", "B", "C"]))
            words.append(
                Word(word=" " + draw(punctuated), start=clock, end=clock + length,
                     probability=0.9, speaker=speaker)
            )
            clock += length
        segments.append(
            Segment(
                id=seg_id,
                start=words[0].start,
                end=words[-1].end,
                text="".join(w.word for w in words).strip(),  # engine words: " word"
                words=words,
            )
        )
    return segments


rules = st.builds(
    CaptionRules,
    max_lines=st.integers(1, 3),
    max_line_chars=st.integers(16, 60),
    max_cue_s=st.floats(2.0, 10.0),
)


def _transcript(segments: list[Segment]):
    return build_transcript(
        segments=segments,
        language="en",
        duration=segments[-1].end + 1,
        metadata=TranscriptMetadata(provider="p", model="m"),
    )


@given(timelines(), rules)
def test_cues_follow_subtitle_rules(segments: list[Segment], rule: CaptionRules) -> None:
    transcript = _transcript(segments)
    made = cues(transcript, rule)
    assert made
    for cue in made:
        assert 1 <= len(cue.lines) <= rule.max_lines
        for line in cue.lines:  # only a single over-long word (and its speaker) may overflow
            word = line.removeprefix(f"[{cue.speaker}] ") if cue.speaker else line
            assert len(line) <= rule.max_line_chars or " " not in word
        assert cue.start <= cue.end <= cue.start + rule.max_cue_s + 1e-9
    for cue, following in pairwise(made):
        assert cue.end <= following.start  # no overlapping cues
    # every word, in order, once; speaker names only as a cue's prefix
    shown = []
    for cue in made:
        text = " ".join(cue.lines)
        if cue.speaker:
            assert text.startswith(f"[{cue.speaker}] ")
            text = text.removeprefix(f"[{cue.speaker}] ")
        shown.extend(text.split(" "))
    assert shown == [w.word for s in transcript.segments for w in s.words or ()]


@given(timelines(), rules)
def test_a_cue_has_one_speaker(segments: list[Segment], rule: CaptionRules) -> None:
    transcript = _transcript(segments)
    words = iter([w for s in transcript.segments for w in s.words or ()])
    for cue in cues(transcript, rule, speaker_prefix=False):
        count = len(" ".join(cue.lines).split(" "))
        speakers = {next(words).speaker for _ in range(count)}
        assert speakers == {cue.speaker}


@given(timelines())
def test_srt_blocks_parse(segments: list[Segment]) -> None:
    srt = render_srt(_transcript(segments))
    stamp = r"\d\d:\d\d:\d\d,\d\d\d"
    for n, block in enumerate(b for b in srt.split("\n\n") if b.strip()):
        lines = block.strip("\n").split("\n")
        assert lines[0] == str(n + 1)
        assert re.fullmatch(rf"{stamp} --> {stamp}", lines[1])
        assert 1 <= len(lines[2:]) <= 2


segment_rules = st.builds(
    SegmentRules, max_s=st.floats(3.0, 20.0), pause_s=st.floats(0.2, 2.0), min_s=st.floats(0, 2)
)


@given(timelines(), segment_rules)
def test_segments_split_at_sentences_pauses_and_length(
    segments: list[Segment], rule: SegmentRules
) -> None:
    for segment in segments:
        pieces = split_segment(segment, rule)
        assert [w for p in pieces for w in p.words or ()] == segment.words
        for piece in pieces:
            assert piece.words
            assert piece.start == piece.words[0].start and piece.end >= piece.words[-1].end
            assert piece.text == "".join(w.word for w in piece.words).strip()
            longest_word = max(w.end - w.start for w in piece.words)
            assert piece.end - piece.start <= max(rule.max_s, longest_word) + 1e-9
        # a sentence end or a long pause ends its piece (once the piece is min_s long)
        for piece in pieces:
            for word, after in zip(piece.words, [*piece.words[1:], None], strict=True):
                if after is None or word.end - piece.start < rule.min_s:
                    continue
                assert not word.word.endswith((".", "?")), pieces
                assert after.start - word.end < rule.pause_s
