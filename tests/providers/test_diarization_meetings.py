"""Regression guard on real meeting audio: the ten shared AMI excerpts (``shared/data``).

Bounds, from the measurement in Docs/Diarization.md (builtin backend, CPU): pooled DER with the
customary 0.25 s collar measured 0.220 and strict 0.339, identical on repeated runs (the
pipeline is deterministic on CPU). The bounds leave 0.01: room for a frame or two of boundary
drift under another BLAS / onnxruntime build, and less than either change that brought the
error down from 0.260 (without the finer window step 0.249, without the overlap detector
0.239), so losing either fails here. Speaker counts: within one of the reference on 7 of the
10 excerpts; the three others are known misses of the VAD (far-field speech Silero does not
hear, ami_trn01, ami_trn07) and speakers with under half a second of speech (ami_trn05).
Overlap turns: 0.81 of their time lies in the reference's overlapped speech (at least half
must).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app.services.transcription.audio import decode_file
from providers.diarization import SpeakerDiarizer
from schemas.options import DiarizationOptions
from tests.support.der import (
    MEETINGS,
    Scores,
    pool,
    rate,
    read_rttm,
    read_uem,
    score,
    to_annotation,
)

pytest.importorskip("resemblyzer")
pytest.importorskip("pyannote.metrics")

POOLED_DER_COLLAR = 0.23
POOLED_DER_STRICT = 0.35
FILES_UNDER_020 = 4  # of 10, 0.25 s collar
COUNTS_WITHIN_ONE = 7  # of 10
OVERLAP_PRECISION = 0.5  # share of overlap-turn time inside the reference's overlapped speech


def _diarize(diarizer: SpeakerDiarizer, flac: Path) -> tuple[Scores, int, int, float, float]:
    """Scores, reference and hypothesis speaker counts, and the overlap turns' seconds in all
    and inside the reference's overlapped speech."""
    from pyannote.core import Segment, Timeline

    audio = decode_file(flac, max_duration_s=60)
    turns = diarizer.timeline(audio, DiarizationOptions())
    reference = read_rttm(flac.with_suffix(".rttm"))
    uem = read_uem(flac.with_suffix(".uem"))
    reference.uri = uem.uri = flac.stem
    hypothesis = to_annotation([(t.start, t.end, t.speaker) for t in turns], flac.stem)
    counts = len(reference.crop(uem).labels()), len(hypothesis.crop(uem).labels())
    overlaps: Any = Timeline([Segment(t.start, t.end) for t in turns if t.overlap]).support()
    inside = overlaps.crop(reference.get_overlap()).duration()
    return score(reference, hypothesis, uem), *counts, overlaps.duration(), inside


@pytest.mark.slow
def test_meeting_excerpts_stay_under_the_measured_error() -> None:
    files = sorted(MEETINGS.glob("*.flac"))
    if not files:
        pytest.skip(f"no meeting excerpts in {MEETINGS}")
    diarizer = SpeakerDiarizer()
    results = {f.stem: _diarize(diarizer, f) for f in files}
    pooled = pool([r[0] for r in results.values()])
    report = {k: (round(rate(r[0]["collar"]), 3), r[1], r[2]) for k, r in results.items()}
    assert rate(pooled["collar"]) <= POOLED_DER_COLLAR, report
    assert rate(pooled["strict"]) <= POOLED_DER_STRICT, report
    assert sum(rate(r[0]["collar"]) <= 0.20 for r in results.values()) >= FILES_UNDER_020
    within = [k for k, r in results.items() if abs(r[1] - r[2]) <= 1]
    assert len(within) >= COUNTS_WITHIN_ONE, report
    found = sum(r[3] for r in results.values())
    inside = sum(r[4] for r in results.values())
    assert found > 0 and inside / found >= OVERLAP_PRECISION, (found, inside)
