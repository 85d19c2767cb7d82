"""Transcript slices for embedding pipelines (UnvectorizedMediaChunks)."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st

from app.services.jobs.media import embedding_chunks
from schemas.transcript import Segment, TranscriptMetadata, build_transcript

texts = st.text(alphabet="abcdefgh ", min_size=1, max_size=80)


@given(st.lists(texts, max_size=30), st.integers(10, 200))
def test_slices_cover_the_transcript_in_order(parts: list[str], max_chars: int) -> None:
    segments = [Segment(id=i, start=i, end=i + 1, text=t) for i, t in enumerate(parts)]
    transcript = build_transcript(
        segments=segments,
        language="en",
        duration=len(parts),
        metadata=TranscriptMetadata(provider="mock", model="mock"),
    )
    chunks = embedding_chunks(transcript, "med_1", "alice", max_chars=max_chars)
    assert " ".join(c.text for c in chunks) == transcript.text
    assert [c.chunk_index for c in chunks] == list(range(len(chunks)))
    for chunk in chunks:
        single = chunk.text in {s.text for s in transcript.segments}
        assert len(chunk.text) <= max_chars or single  # only a lone long segment may exceed
        assert chunk.start < chunk.end and (chunk.media_id, chunk.owner) == ("med_1", "alice")
    assert all(a.end <= b.start for a, b in itertools.pairwise(chunks))
