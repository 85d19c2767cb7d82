#!/usr/bin/env python3
"""Evaluate providers on a manifest of audio files with reference texts.

Runs every file through each model (in this process, through the same providers and settings
the gateway builds) and prints, per model: word error rate (corpus WER over normalised words),
real-time factor (processing seconds / audio seconds), and latency (mean and p95 seconds per
file, the first call including the model load). ``--plot FILE`` also draws WER and RTF bars:
SVG is written directly; PNG/PDF need matplotlib (optional).

Manifest: JSON lines ``{"audio": "a.wav", "text": "reference", "language": "en"}`` (language
optional; paths relative to the manifest), or a CSV with ``audio,text[,language]`` columns.
``--make-sample DIR`` writes a small espeak-ng manifest to try it with.

    .venv/bin/python Helper_Scripts/eval_providers.py --make-sample /tmp/eval
    .venv/bin/python Helper_Scripts/eval_providers.py /tmp/eval/manifest.jsonl \\
        --models faster-whisper:tiny.en faster-whisper:base mock --plot /tmp/eval/eval.svg
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.bootstrap import build_registry
from app.core.config import load_settings
from app.services.transcription.audio import decode_file
from providers.base import AudioInput
from providers.registry import ProviderRegistry
from schemas.errors import GatewayError
from schemas.options import TranscriptionOptions

SAMPLE = [
    ("en-us", "en", "The quick brown fox jumps over the lazy dog."),
    ("en-gb", "en", "Please send the quarterly report to the finance team by Friday."),
    ("en-us+f4", "en", "Our meeting starts at nine o'clock in the main conference room."),
    ("de", "de", "Das Wetter ist heute sehr schön und wir gehen in den Park."),
    ("es", "es", "Hoy hace muy buen tiempo y vamos a ir al parque."),
]


@dataclass(frozen=True)
class Item:
    audio: Path
    text: str
    language: str | None = None


@dataclass
class Result:
    model: str
    ref_words: int = 0
    edits: int = 0
    audio_s: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds per transcribed file
    failures: list[str] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return len(self.failures)

    @property
    def wer(self) -> float | None:
        return self.edits / self.ref_words if self.ref_words else None

    @property
    def rtf(self) -> float | None:
        return sum(self.latencies) / self.audio_s if self.audio_s else None


def words(text: str) -> list[str]:
    return re.sub(r"[^\w\s']", " ", text.lower()).split()


def edit_distance(ref: list[str], hyp: list[str]) -> int:
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]


def read_manifest(path: Path) -> list[Item]:
    base = path.parent
    if path.suffix == ".csv":
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    else:
        rows = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]
    return [Item(base / r["audio"], r["text"], r.get("language") or None) for r in rows]


def make_sample(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (voice, language, text) in enumerate(SAMPLE):
        wav = folder / f"sample{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
        lines.append(json.dumps({"audio": wav.name, "text": text, "language": language}))
    manifest = folder / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n", "utf-8")
    return manifest


def evaluate(
    registry: ProviderRegistry, model: str, items: list[tuple[Item, AudioInput]], beam: int
) -> Result:
    result = Result(model)
    target = registry.resolve(model)
    for item, audio in items:
        options = TranscriptionOptions(language=item.language, beam_size=beam, best_of=beam)
        started = time.perf_counter()
        try:
            transcript = target.provider.transcribe_batch(audio, options, target.model)
        except GatewayError as exc:
            result.failures.append(f"{item.audio.name}: {exc.message}")
            continue
        elapsed = time.perf_counter() - started
        result.latencies.append(elapsed)
        result.audio_s += audio.duration
        ref = words(item.text)
        result.ref_words += len(ref)
        result.edits += edit_distance(ref, words(transcript.text))
    return result


def table(results: list[Result], files: int) -> str:
    head = (
        f"{'model':32} {'files':>5} {'errors':>6} {'WER':>7} {'RTF':>7} {'mean s':>7} {'p95 s':>7}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        lat = sorted(r.latencies)
        p95 = lat[min(len(lat) - 1, round(0.95 * (len(lat) - 1)))] if lat else None
        cells = [
            f"{r.wer:7.3f}" if r.wer is not None else f"{'-':>7}",
            f"{r.rtf:7.3f}" if r.rtf is not None else f"{'-':>7}",
            f"{statistics.mean(lat):7.2f}" if lat else f"{'-':>7}",
            f"{p95:7.2f}" if p95 is not None else f"{'-':>7}",
        ]
        lines.append(f"{r.model:32} {files:>5} {r.errors:>6} " + " ".join(cells))
    return "\n".join(lines)


def plot_svg(results: list[Result], out: Path) -> None:
    width, bar, gap = 760, 22, 10
    height = 60 + len(results) * 2 * (bar + gap)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        'font-family="sans-serif" font-size="12">',
        '<text x="10" y="20" font-size="14">WER (blue) and real-time factor (orange)</text>',
    ]
    top = max([r.wer or 0 for r in results] + [r.rtf or 0 for r in results] + [1e-9])
    y = 40
    for r in results:
        for value, colour in ((r.wer, "#3b6fd8"), (r.rtf, "#e8892b")):
            length = 0 if value is None else (width - 330) * value / top
            parts.append(f'<text x="10" y="{y + 15}">{r.model}</text>')
            parts.append(
                f'<rect x="250" y="{y}" width="{length:.1f}" height="{bar}" fill="{colour}"/>'
            )
            label = "-" if value is None else f"{value:.3f}"
            parts.append(f'<text x="{255 + length:.1f}" y="{y + 15}">{label}</text>')
            y += bar + gap
    parts.append("</svg>")
    out.write_text("\n".join(parts), "utf-8")


def plot(results: list[Result], out: Path) -> None:
    if out.suffix == ".svg":
        plot_svg(results, out)
        return
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise SystemExit(
            f"--plot {out.name}: install matplotlib, or ask for an .svg file"
        ) from None
    names = [r.model for r in results]
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.6 * len(names) + 2))
    axes[0].barh(names, [r.wer or 0 for r in results], color="#3b6fd8")
    axes[0].set_title("word error rate")
    axes[1].barh(names, [r.rtf or 0 for r in results], color="#e8892b")
    axes[1].set_title("real-time factor")
    fig.tight_layout()
    fig.savefig(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", nargs="?", type=Path)
    parser.add_argument("--models", nargs="+", help="model ids (default: every provider's first)")
    parser.add_argument("--beam-size", type=int, default=5)
    parser.add_argument("--plot", type=Path, help="write a chart (.svg, or .png with matplotlib)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--make-sample", type=Path, metavar="DIR", help="write a sample manifest")
    args = parser.parse_args(argv)
    if args.make_sample:
        print(make_sample(args.make_sample))
        if not args.manifest:
            return 0
    if not args.manifest:
        parser.error("a manifest is required")
    settings = load_settings()
    registry = build_registry(settings)
    models = args.models or [
        f"{name}:{p.available_models()[0]}"
        for name, p in registry.providers().items()
        if p.available_models()
    ]
    manifest = read_manifest(args.manifest)  # decoded once, not once per model
    items = [(item, decode_file(item.audio, max_duration_s=86_400)) for item in manifest]
    results = []
    for model in models:
        print(f"evaluating {model} on {len(items)} files ...", file=sys.stderr)
        results.append(evaluate(registry, model, items, args.beam_size))
    print(table(results, len(items)))
    for r in results:
        for failure in r.failures:
            print(f"  {r.model}: {failure}", file=sys.stderr)
    if args.json:
        args.json.write_text(
            json.dumps(
                [
                    {
                        "model": r.model,
                        "wer": r.wer,
                        "rtf": r.rtf,
                        "latencies": r.latencies,
                        "errors": r.errors,
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    if args.plot:
        plot(results, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
