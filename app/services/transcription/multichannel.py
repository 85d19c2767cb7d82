"""``multichannel=true``: each channel of a recording transcribed on its own, then interleaved.

Call recordings put each party on a channel of its own, so the channel *is* the speaker: every
segment and word of channel ``i`` gets ``channel=i`` and the speaker label ``ch{i}`` (the
speaker diarization step is not run). The channels' transcripts are merged by start time
(ties in channel order) with ids renumbered; the text is the segment texts joined, as in every
transcript. Within a channel the canonical invariants hold; across channels segments may
overlap (people talk at once), so a segment's end can lie after the next one's start.

Channels are decoded one at a time (:class:`ChannelReader`), so a request or job holds one
channel's samples besides the downmix it already holds, never all of them at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from providers.base import AudioInput
from schemas.transcript import (
    Diarization,
    Segment,
    Transcript,
    TranscriptMetadata,
    Usage,
    combined_metadata,
    join_text,
    majority_language,
)


def channel_speaker(channel: int) -> str:
    """The speaker label of ``channel`` (0-based): ``ch0``, ``ch1``, ..."""
    return f"ch{channel}"


@dataclass(frozen=True)
class ChannelReader:
    """``count`` channels of one recording; ``read(i)`` decodes channel ``i`` (16 kHz mono)."""

    count: int
    read: Callable[[int], AudioInput]


def relabel_speakers(
    segments: Sequence[Segment], name: Callable[[str | None], str | None]
) -> list[Segment]:
    """``segments`` with every segment's and word's speaker replaced by ``name(speaker)``."""
    return [
        s.model_copy(
            update={
                "speaker": name(s.speaker),
                "words": [w.model_copy(update={"speaker": name(w.speaker)}) for w in s.words]
                if s.words
                else s.words,
            }
        )
        for s in segments
    ]


def on_channel(transcript: Transcript, channel: int) -> Transcript:
    """``transcript`` of one channel with ``channel`` and its speaker on every segment and word."""
    speaker = channel_speaker(channel)
    labelled = relabel_speakers(transcript.segments, lambda _: speaker)
    segments = [s.model_copy(update={"channel": channel}) for s in labelled]
    return transcript.model_copy(update={"segments": segments})


def merge_channels(parts: Sequence[Transcript], duration: float) -> Transcript:
    """One transcript of the per-channel ``parts`` (each labelled by :func:`on_channel`, in
    channel order) over ``duration`` seconds."""
    return channels_transcript(
        [p.segments for p in parts],
        language=majority_language(parts),
        duration=duration,
        metadata=combined_metadata(parts, channels=len(parts)),
        tokens=sum(p.usage.tokens or 0 for p in parts) or None,
    )


def channels_transcript(
    channels: Sequence[Sequence[Segment]],
    *,
    language: str,
    duration: float,
    metadata: TranscriptMetadata,
    tokens: int | None = None,
) -> Transcript:
    """The transcript of each channel's normalised, labelled segments: ordered by start time
    (ties in channel order), ids renumbered, one speaker per channel that said anything."""
    segments = interleave(channels)
    return Transcript(
        text=join_text(segments),
        language=language,
        duration=duration,
        segments=segments,
        diarization=Diarization(enabled=True, speakers=len({s.channel for s in segments})),
        usage=Usage(duration_ms=round(duration * 1000), tokens=tokens),
        metadata=metadata,
    )


def interleave(channels: Sequence[Sequence[Segment]], first_id: int = 0) -> list[Segment]:
    """The channels' segments ordered by start time (ties in channel order), numbered from
    ``first_id``."""
    ordered = sorted(
        (s for segments in channels for s in segments), key=lambda s: (s.start, s.channel or 0)
    )
    return [s.model_copy(update={"id": first_id + i}) for i, s in enumerate(ordered)]


def transcribe_channels(
    channels: ChannelReader, transcribe: Callable[[AudioInput], Transcript], duration: float
) -> Transcript:
    """Each channel read, transcribed and labelled in turn (one channel's audio at a time),
    then merged over ``duration`` seconds."""
    parts = [on_channel(transcribe(channels.read(i)), i) for i in range(channels.count)]
    return merge_channels(parts, duration)
