"""Put a speaker timeline onto a transcript: a speaker per word, segments split where it changes.

Each word goes to the speaker whose turns overlap it most (overlapped speech: the speaker with
the larger share of the word); a word in no turn (the VAD heard silence there) goes to the
nearest turn (no turn at all: everything is speaker ``A``). A segment whose words change
speaker is split at that word, each part keeping the decoder fields and taking the text of its
words, so ``text`` stays the joined segment texts. A segment without word timings gets the
speaker that overlaps it most, as a whole.

Overlapped speech is kept on the transcript deliberately: ``metadata.overlapped_speech`` lists
every stretch where two or more speakers' turns cover the same time, as
``{"start", "end", "speakers"}`` (empty when none was found). Overlap turns of the built-in
backend (a second voice under the main speaker, ``Turn.overlap``) appear there but do not take
words from the main speaker.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from providers.diarization.timeline import Turn, overlapped_spans, speaker_label
from schemas.transcript import Diarization, Segment, Transcript, Word, build_transcript


class SpeakerLookup:
    """The speaker of a time span, by overlap with (sorted) turns."""

    def __init__(self, turns: Sequence[Turn]) -> None:
        self.turns = sorted((t for t in turns if not t.overlap), key=lambda t: t.start)
        self.starts = [t.start for t in self.turns]
        longest = max((t.duration for t in self.turns), default=0.0)
        self.reach = longest  # a turn starting this long before a span cannot overlap it

    def speaker(self, start: float, end: float) -> str:
        if not self.turns:  # speech was transcribed where no voice was found: one speaker
            return speaker_label(0)
        lo = bisect.bisect_left(self.starts, start - self.reach)
        hi = bisect.bisect_right(self.starts, end)
        share: dict[str, float] = {}
        for turn in self.turns[lo:hi]:
            overlap = min(end, turn.end) - max(start, turn.start)
            if overlap > 0:
                share[turn.speaker] = share.get(turn.speaker, 0.0) + overlap
        if share:
            return max(share, key=lambda k: share[k])
        middle = (start + end) / 2
        i = bisect.bisect_left(self.starts, middle)
        near = self.turns[max(0, i - 3) : i + 3]
        return min(near, key=lambda t: max(t.start - middle, middle - t.end, 0.0)).speaker


def _split(segment: Segment, words: list[Word]) -> list[Segment]:
    """``segment`` cut into runs of words with one speaker."""
    parts: list[list[Word]] = []
    for word in words:
        if parts and parts[-1][-1].speaker == word.speaker:
            parts[-1].append(word)
        else:
            parts.append([word])
    if len(parts) == 1:
        return [segment.model_copy(update={"speaker": words[0].speaker, "words": words})]
    return [
        segment.model_copy(
            update={
                "start": part[0].start if i else segment.start,
                "end": part[-1].end if i < len(parts) - 1 else segment.end,
                "text": " ".join(w.word for w in part),
                "speaker": part[0].speaker,
                "words": part,
                "tokens": None,
            }
        )
        for i, part in enumerate(parts)
    ]


def assign_speakers(transcript: Transcript, turns: Sequence[Turn]) -> Transcript:
    """``transcript`` with speakers on words and segments, split at speaker changes."""
    lookup = SpeakerLookup(turns)
    segments: list[Segment] = []
    for segment in transcript.segments:
        if not segment.words:
            speaker = lookup.speaker(segment.start, segment.end)
            segments.append(segment.model_copy(update={"speaker": speaker}))
            continue
        words = [
            w.model_copy(update={"speaker": lookup.speaker(w.start, w.end)}) for w in segment.words
        ]
        segments.extend(_split(segment, words))
    labelled = [s.speaker for s in segments if s.speaker]
    return build_transcript(
        segments=segments,
        language=transcript.language,
        duration=transcript.duration,
        metadata=transcript.metadata.model_copy(
            update={
                "overlapped_speech": [
                    {"start": round(start, 3), "end": round(end, 3), "speakers": speakers}
                    for start, end, speakers in overlapped_spans(turns)
                ]
            }
        ),
        diarization=Diarization(enabled=True, speakers=len(set(labelled))),
        tokens=transcript.usage.tokens,
    )
