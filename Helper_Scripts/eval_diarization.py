"""Diarization error rate of the gateway's diarizer on the shared meeting excerpts.

Scores every ``*.flac`` in ``--data`` (default ``../shared/data/diarization``) against its
``.rttm`` inside its ``.uem`` with pyannote.metrics (best one-to-one speaker mapping, Hungarian):

* overlapped speech **is scored** (``skip_overlap=False``): a second speaker the hypothesis
  does not give counts as missed speech (or confusion);
* two collars: **strict** (none) and the **customary 0.25 s** collar, i.e. 0.25 s on *each*
  side of every reference boundary is not scored (NIST md-eval ``-c 0.25``; pyannote.metrics
  takes the collar's total width, so it is called with ``collar=0.5``).

Per file and pooled (durations summed over files, not rates averaged): DER, missed speech,
false alarm and speaker confusion as fractions of the scored reference speech, the reference and
hypothesised speaker counts, and the diarizer's time per audio minute (model loading excluded,
reported once). ``--source gateway`` scores what a user gets instead: the transcript of
``--model`` (ASR then diarization, speakers on segments) rather than the speaker timeline.

``--baseline before.json`` (a ``--json`` file written by an earlier run, e.g. on ``main``)
adds a before/after table: DER with both collars and the speaker-count error per file.

    PYTHONPATH=. .venv/bin/python Helper_Scripts/eval_diarization.py [--source timeline|gateway]
        [--json out.json] [--baseline before.json] [--files ami_trn00 ami_trn03]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.der import (  # noqa: E402  (after the sys.path line above)
    COLLARS,
    MEETINGS,
    Scores,
    pool,
    rate,
    read_rttm,
    read_uem,
    score,
    to_annotation,
)


@dataclass
class FileScore:
    name: str
    minutes: float
    seconds: float  # diarization wall time
    ref_speakers: int
    hyp_speakers: int
    scores: Scores

    def rate(self, collar: str, component: str = "der") -> float:
        return rate(self.scores[collar], component)


class Runner:
    """Builds the gateway's diarizer (and, for ``--source gateway``, its pipeline) once."""

    def __init__(self, source: str, model: str) -> None:
        from app.bootstrap import build_pipeline
        from app.core.config import load_settings

        self.source, self.model = source, model
        self.pipeline = build_pipeline(load_settings(enable_diarization=True))
        assert self.pipeline.diarizer is not None
        self.diarizer = self.pipeline.diarizer

    def turns(self, path: Path) -> tuple[list[tuple[float, float, str]], float]:
        from app.services.transcription.audio import decode_file
        from schemas.options import DiarizationOptions, TranscriptionOptions

        audio = decode_file(path, max_duration_s=24 * 3600)
        options = DiarizationOptions()
        if self.source == "timeline":
            began = time.perf_counter()
            timeline = self.diarizer.timeline(audio, options)
            spent = time.perf_counter() - began
            return [(t.start, t.end, t.speaker) for t in timeline], spent
        chain = self.pipeline.registry.chain(self.model)
        transcript = self.pipeline.transcribe(audio, chain, TranscriptionOptions())
        began = time.perf_counter()
        full = TranscriptionOptions(diarization=options)
        transcript = self.pipeline.finalize(transcript, audio, full)
        spent = time.perf_counter() - began
        return [(s.start, s.end, s.speaker or "?") for s in transcript.segments], spent

    def warm_up(self, path: Path) -> float:
        began = time.perf_counter()
        self.turns(path)
        return time.perf_counter() - began


def evaluate(runner: Runner, data: Path, names: list[str] | None) -> list[FileScore]:
    files = sorted(data.glob("*.flac"))
    if names:
        files = [f for f in files if f.stem in names]
    out = []
    for flac in files:
        reference = read_rttm(flac.with_suffix(".rttm"))
        uem = read_uem(flac.with_suffix(".uem"))
        reference.uri = uem.uri = flac.stem
        turns, spent = runner.turns(flac)
        hypothesis = to_annotation(turns, flac.stem)
        scored = reference.crop(uem)
        out.append(
            FileScore(
                name=flac.stem,
                minutes=uem.duration() / 60,
                seconds=spent,
                ref_speakers=len(scored.labels()),
                hyp_speakers=len(hypothesis.crop(uem).labels()),
                scores=score(reference, hypothesis, uem),
            )
        )
    return out


def pooled(files: list[FileScore]) -> Scores:
    return pool([f.scores for f in files])


def table(files: list[FileScore]) -> str:
    head = (
        f"{'file':<10} {'spk ref/hyp':>11} | {'DER0':>6} {'miss0':>6} {'FA0':>6} {'conf0':>6} |"
        f" {'DER.25':>6} {'miss':>6} {'FA':>6} {'conf':>6} | {'s/min':>6}"
    )
    lines = [head, "-" * len(head)]

    def row(name: str, spk: str, s: Scores, per_min: float) -> str:
        cells = []
        for collar in COLLARS:
            c = s[collar]
            cells.append(
                " ".join(
                    f"{rate(c, k):6.3f}"
                    for k in ("der", "missed detection", "false alarm", "confusion")
                )
            )
        return f"{name:<10} {spk:>11} | {cells[0]} | {cells[1]} | {per_min:6.2f}"

    for f in files:
        spk = f"{f.ref_speakers}/{f.hyp_speakers}"
        lines.append(row(f.name, spk, f.scores, f.seconds / f.minutes))
    minutes = sum(f.minutes for f in files)
    seconds = sum(f.seconds for f in files)
    count_error = sum(abs(f.ref_speakers - f.hyp_speakers) for f in files)
    lines.append("-" * len(head))
    lines.append(row("pooled", f"|err|={count_error}", pooled(files), seconds / minutes))
    within = sum(f.rate("collar") <= 0.20 for f in files)
    lines.append(f"files with DER <= 0.20 (0.25 s collar): {within}/{len(files)}")
    return "\n".join(lines)


def comparison(files: list[FileScore], baseline: dict[str, Any]) -> str:
    """Per-file DER (both collars), |speaker-count error| and seconds per audio minute,
    before -> after."""
    before = {f["name"]: f for f in baseline["files"]}
    head = (
        f"{'file':<10} | {'DER strict':>15} | {'DER 0.25 s':>15} | {'|count err|':>11}"
        f" | {'s/min':>12}"
    )
    lines = [head, "-" * len(head)]

    def cells(old: Scores, new: Scores) -> str:
        return " | ".join(f"{rate(old[c]):6.3f} -> {rate(new[c]):5.3f}" for c in COLLARS)

    for f in files:
        old = before.get(f.name)
        if old is None:
            continue
        was, now = (
            abs(old["ref_speakers"] - old["hyp_speakers"]),
            abs(f.ref_speakers - f.hyp_speakers),
        )
        speed = f"{old['seconds'] / old['minutes']:4.2f} -> {f.seconds / f.minutes:4.2f}"
        lines.append(
            f"{f.name:<10} | {cells(old['scores'], f.scores)} | {was:>4} -> {now:<3} | {speed}"
        )
    common = [before[f.name] for f in files if f.name in before]
    old_pool = pool([old["scores"] for old in common])
    was = sum(abs(old["ref_speakers"] - old["hyp_speakers"]) for old in common)
    now = sum(abs(f.ref_speakers - f.hyp_speakers) for f in files if f.name in before)
    old_speed = sum(old["seconds"] for old in common) / sum(old["minutes"] for old in common)
    new_speed = sum(f.seconds for f in files) / sum(f.minutes for f in files)
    lines.append("-" * len(head))
    lines.append(
        f"{'pooled':<10} | {cells(old_pool, pooled(files))} | {was:>4} -> {now:<3}"
        f" | {old_speed:4.2f} -> {new_speed:4.2f}"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=MEETINGS)
    parser.add_argument("--source", choices=("timeline", "gateway"), default="timeline")
    parser.add_argument("--model", default="tiny.en", help="ASR model for --source gateway")
    parser.add_argument("--files", nargs="*", help="file stems to score (default: all)")
    parser.add_argument("--json", type=Path, help="also write the scores here")
    parser.add_argument("--baseline", type=Path, help="a --json file to compare against")
    args = parser.parse_args()
    runner = Runner(args.source, args.model)
    first = sorted(args.data.glob("*.flac"))[0]
    print(f"model load + first run: {runner.warm_up(first):.1f} s", flush=True)
    files = evaluate(runner, args.data, args.files)
    print(table(files))
    if args.baseline:
        print()
        print(comparison(files, json.loads(args.baseline.read_text(encoding="utf-8"))))
    if args.json:
        body = {"files": [asdict(f) for f in files], "pooled": pooled(files)}
        args.json.write_text(json.dumps(body, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
