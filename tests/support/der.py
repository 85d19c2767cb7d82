"""Diarization error rate with pyannote.metrics: reading RTTM/UEM references and scoring a
hypothesis with the two collars the project reports (Helper_Scripts/eval_diarization.py, and the
regression test on the shared meeting excerpts).

Overlapped speech is scored. ``COLLARS`` maps a name to pyannote's ``collar`` argument, which is
the collar's *total* width: ``collar`` (0.5) is the customary 0.25 s on each side of every
reference boundary (NIST md-eval ``-c 0.25``); ``strict`` scores everything.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MEETINGS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "diarization"
COLLARS = {"strict": 0.0, "collar": 0.5}
COMPONENTS = ("missed detection", "false alarm", "confusion")


Scores = dict[str, dict[str, float]]  # collar name -> component -> seconds (and "total")


def rate(c: dict[str, float], component: str = "der") -> float:
    """``component`` (or the DER, their sum) as a fraction of the scored reference speech."""
    value = sum(c[k] for k in COMPONENTS) if component == "der" else c[component]
    return value / c["total"] if c["total"] else float("nan")


def pool(scores: list[Scores]) -> Scores:
    """Durations summed over files (pooled rates weigh files by their speech, not equally)."""
    return {
        collar: {k: sum(s[collar][k] for s in scores) for k in ("total", *COMPONENTS)}
        for collar in COLLARS
    }


def read_rttm(path: Path) -> Any:
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=path.stem)
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split()
        if fields and fields[0] == "SPEAKER":
            start, duration = float(fields[3]), float(fields[4])
            annotation[Segment(start, start + duration)] = fields[7]
    return annotation


def read_uem(path: Path) -> Any:
    from pyannote.core import Segment, Timeline

    spans = [line.split() for line in path.read_text(encoding="utf-8").splitlines() if line]
    return Timeline([Segment(float(s[2]), float(s[3])) for s in spans], uri=path.stem)


def to_annotation(turns: list[tuple[float, float, str]], uri: str) -> Any:
    from pyannote.core import Annotation, Segment

    annotation = Annotation(uri=uri)
    for i, (start, end, speaker) in enumerate(turns):
        if end > start:
            annotation[Segment(start, end), i] = speaker
    return annotation


def score(reference: Any, hypothesis: Any, uem: Any) -> Scores:
    from pyannote.metrics.diarization import DiarizationErrorRate

    out = {}
    for name, collar in COLLARS.items():
        metric = DiarizationErrorRate(collar=collar, skip_overlap=False)
        components = metric(reference, hypothesis, uem=uem, detailed=True)
        out[name] = {k: float(v) for k, v in components.items()}
    return out
