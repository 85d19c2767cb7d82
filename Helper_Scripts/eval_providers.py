#!/usr/bin/env python3
"""Evaluate providers on a manifest of audio files with reference texts.

Runs every file through each model (in this process, through the same providers and settings
the gateway builds) and prints, per model: word error rate (corpus WER over normalised words),
real-time factor (processing seconds / audio seconds), and latency (mean and p95 seconds per
file, the first call including the model load). ``--plot FILE`` also draws WER and RTF bars:
SVG is written directly; PNG/PDF need matplotlib (optional).

Manifest: JSON lines ``{"audio": "a.wav", "text": "reference", "language": "en",
"condition": "quiet"}`` (language and condition optional; paths relative to the manifest), or
a CSV with ``audio,text[,language][,condition]`` columns. A manifest with languages or
conditions is scored per language and condition too. Words are normalised per language
(lower case, no punctuation; Russian ``ё`` as ``е``; Persian/Arabic letter variants, diacritics
and zero-width non-joiners unified).

``--make-sample DIR`` speaks five everyday sentences in each of English, German, Russian and
Persian with espeak-ng, and the Russian ones again with Festival's Russian voice
(``msu_ru_nsh_clunits``, Debian's festvox-ru: recorded speech units, far closer to a real voice
than espeak's Russian, which Whisper base barely understands), and writes each in four
conditions (sox): ``clean`` (the synthesiser's own rate),
``quiet`` (-25 dB: speech near -45 dBFS, under the ``low_level`` warning), ``very_quiet``
(-45 dB: near -65 dBFS, 16-bit) and ``phone`` (band-limited to 300-3400 Hz, 8 kHz mu-law).
``--enhance off on`` transcribes every file without and with the enhancement stage
(``STT_ENHANCE``'s filters, forced on) and prints the WER of each language and condition side
by side:

    .venv/bin/python Helper_Scripts/eval_providers.py --make-sample /tmp/eval
    .venv/bin/python Helper_Scripts/eval_providers.py /tmp/eval/manifest.jsonl \\
        --models faster-whisper:base --enhance off on --json /tmp/eval/eval.json

``--stage-costs MODEL`` then times each transcript-intelligence stage (warnings, quality,
enhancement, vocabulary, emotion on the tiny model) on a 5-minute clip transcribed by ``MODEL``,
and ``multichannel=true`` against the downmix, by running ``bench_intelligence.py`` twice:

    .venv/bin/python Helper_Scripts/eval_providers.py /tmp/eval/manifest.jsonl \\
        --models faster-whisper:base --stage-costs faster-whisper:tiny.en
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import statistics
import subprocess
import sys
import time
import unicodedata
from dataclasses import dataclass, field, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.bootstrap import build_registry, enhance_settings
from app.core.config import load_settings
from app.services.transcription.audio import decode_file
from app.services.transcription.enhance import EnhanceMode, EnhanceSettings, enhance
from providers.base import AudioInput
from providers.registry import ProviderRegistry
from schemas.errors import GatewayError
from schemas.options import TranscriptionOptions

SENTENCES: dict[str, tuple[str, list[str]]] = {
    "en": (
        "en-us",
        [
            "This morning I bought fresh bread and milk at the small shop next to our house.",
            "My brother works as a doctor at the city hospital and often comes home late.",
            "Last summer we drove to the sea with the whole family and stayed for a week.",
            "Please close the window, because it is cold outside and it is raining heavily.",
            "Our train leaves early in the morning, so we have to leave the house in good time.",
        ],
    ),
    "de": (
        "de",
        [
            "Heute Morgen habe ich frisches Brot und Milch im kleinen Laden neben unserem Haus "
            "gekauft.",
            "Mein Bruder arbeitet als Arzt im Krankenhaus und kommt oft spät am Abend nach Hause.",
            "Im letzten Sommer sind wir mit der ganzen Familie ans Meer gefahren und eine Woche "
            "geblieben.",
            "Bitte mach das Fenster zu, denn draußen ist es kalt und es regnet stark.",
            "Unser Zug fährt früh am Morgen ab, deshalb müssen wir rechtzeitig aus dem Haus gehen.",
        ],
    ),
    "ru": (
        "ru",
        [
            "Сегодня утром я купил свежий хлеб и молоко в маленьком магазине рядом с домом.",
            "Мой брат работает врачом в городской больнице и часто возвращается домой поздно "
            "вечером.",
            "Прошлым летом мы всей семьёй поехали на море и прожили там целую неделю.",
            "Пожалуйста, закройте окно, потому что на улице холодно и идёт сильный дождь.",
            "Наш поезд отправляется рано утром, поэтому нам нужно выйти из дома пораньше.",
        ],
    ),
    "fa": (
        "fa",
        [
            "امروز صبح برای خرید نان و شیر به فروشگاه کوچک نزدیک خانه رفتم.",
            "برادرم در بیمارستان شهر کار می\u200cکند و معمولاً دیر به خانه برمی\u200cگردد.",
            "تابستان گذشته با خانواده به کنار دریا رفتیم و یک هفته آنجا ماندیم.",
            "لطفاً پنجره را ببندید چون هوا سرد است و باران شدیدی می\u200cبارد.",
            "قطار ما صبح زود حرکت می\u200cکند، پس باید زودتر از خانه بیرون برویم.",
        ],
    ),
}
#: condition -> sox (output options, effects) that make it from espeak-ng's 22.05 kHz output
CONDITIONS: dict[str, tuple[list[str], list[str]]] = {
    "clean": ([], []),
    "quiet": ([], ["gain", "-25"]),
    "very_quiet": ([], ["gain", "-45"]),
    "phone": (["-r", "8000", "-e", "u-law"], ["sinc", "300-3400"]),
}


@dataclass(frozen=True)
class Item:
    audio: Path
    text: str
    language: str | None = None
    condition: str | None = None
    voice: str | None = None  # a second voice of the same language (``ru`` + ``festival``)

    @property
    def group(self) -> tuple[str, str]:
        """The (language, condition) row this file is scored in; ``ru:festival`` and ``ru``
        are separate rows."""
        language = self.language or "-"
        return (f"{language}:{self.voice}" if self.voice else language, self.condition or "-")


#: language -> (voice name, text2wave command) of the extra Festival voices of --make-sample
FESTIVAL: dict[str, tuple[str, list[str]]] = {
    "ru": ("festival", ["text2wave", "-eval", "(voice_msu_ru_nsh_clunits)"]),
}


@dataclass
class Result:
    model: str
    ref_words: int = 0
    edits: int = 0
    audio_s: float = 0.0
    latencies: list[float] = field(default_factory=list)  # seconds per transcribed file
    failures: list[str] = field(default_factory=list)
    #: the same scores per (language, condition) of the manifest
    groups: dict[tuple[str, str], Result] = field(default_factory=dict)
    hypotheses: dict[str, str] = field(default_factory=dict)  # file name -> transcript text

    def add(self, ref_words: int, edits: int, audio_s: float, latency: float) -> None:
        self.ref_words += ref_words
        self.edits += edits
        self.audio_s += audio_s
        self.latencies.append(latency)

    @property
    def errors(self) -> int:
        return len(self.failures)

    @property
    def wer(self) -> float | None:
        return self.edits / self.ref_words if self.ref_words else None

    @property
    def rtf(self) -> float | None:
        return sum(self.latencies) / self.audio_s if self.audio_s else None


# Persian text mixes Arabic code points for the same letters (yeh, kaf, heh, alef forms)
_ARABIC_VARIANTS = str.maketrans(
    {"ي": "ی", "ى": "ی", "ئ": "ی", "ك": "ک", "ة": "ه", "ۀ": "ه", "أ": "ا", "إ": "ا", "ٱ": "ا"}
)
# harakat, superscript alef and tatweel; the zero-width non-joiner inside words like می‌کند
_MARKS = re.compile("[\u064b-\u065f\u0670\u0640\u200c\u200d]")


def words(text: str, language: str | None = None) -> list[str]:
    """``text`` as the words WER counts: lower-cased, punctuation removed, and spelling
    variants that do not change the word unified for ``language`` (Russian ``ё`` -> ``е``;
    Persian letter forms, diacritics and zero-width non-joiners)."""
    text = unicodedata.normalize("NFC", text).lower()
    if language == "ru":
        text = text.replace("ё", "е")
    elif language in ("fa", "ar"):
        text = _MARKS.sub("", text.translate(_ARABIC_VARIANTS))
    return re.sub(r"[^\w\s']", " ", text).split()


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
    return [
        Item(
            base / r["audio"],
            r["text"],
            r.get("language") or None,
            r.get("condition") or None,
            r.get("voice") or None,
        )
        for r in rows
    ]


def make_sample(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for language, (voice, sentences) in SENTENCES.items():
        festival = FESTIVAL.get(language) if shutil.which("text2wave") else None
        for i, text in enumerate(sentences):
            clean = folder / f"{language}{i}-clean.wav"
            subprocess.run(["espeak-ng", "-v", voice, "-w", str(clean), text], check=True)
            row = {"text": text, "language": language}
            lines += _conditions(folder, clean, f"{language}{i}", row)
            if festival is not None:
                name, command = festival
                spoken = folder / f"{language}{i}-{name}-clean.wav"
                source = folder / f"{language}{i}.txt"
                source.write_text(text, "utf-8")
                subprocess.run([*command, str(source), "-o", str(spoken)], check=True)
                lines += _conditions(
                    folder, spoken, f"{language}{i}-{name}", {**row, "voice": name}
                )
    manifest = folder / "manifest.jsonl"
    manifest.write_text("\n".join(lines) + "\n", "utf-8")
    return manifest


def _conditions(folder: Path, clean: Path, stem: str, row: dict[str, str]) -> list[str]:
    """Manifest lines of ``clean`` (``{stem}-clean.wav``) and its other conditions."""
    lines = []
    for condition, (output, effects) in CONDITIONS.items():
        wav = folder / f"{stem}-{condition}.wav"
        if effects:
            subprocess.run(["sox", str(clean), *output, str(wav), *effects], check=True)
        line = {"audio": wav.name, **row, "condition": condition}
        lines.append(json.dumps(line, ensure_ascii=False))
    return lines


def evaluate(
    registry: ProviderRegistry,
    model: str,
    items: list[tuple[Item, AudioInput]],
    beam: int,
    enhancement: EnhanceSettings | None = None,
) -> Result:
    """``model`` on every item; with ``enhancement``, each file goes through the enhancement
    stage first (its time counted in the latency)."""
    result = Result(f"{model} +enhance" if enhancement else model)
    target = registry.resolve(model)
    for item, audio in items:
        options = TranscriptionOptions(language=item.language, beam_size=beam, best_of=beam)
        started = time.perf_counter()
        try:
            heard = enhance(audio, enhancement)[0] if enhancement else audio
            transcript = target.provider.transcribe_batch(heard, options, target.model)
        except GatewayError as exc:
            result.failures.append(f"{item.audio.name}: {exc.message}")
            continue
        elapsed = time.perf_counter() - started
        result.hypotheses[item.audio.name] = transcript.text
        ref = words(item.text, item.language)
        edits = edit_distance(ref, words(transcript.text, item.language))
        for scores in (result, result.groups.setdefault(item.group, Result(result.model))):
            scores.add(len(ref), edits, audio.duration, elapsed)
    return result


def matrix(results: list[Result]) -> str:
    """WER per language and condition (rows) for each evaluated model (columns)."""
    keys = sorted({key for r in results for key in r.groups})
    head = f"{'language':8} {'condition':11} {'words':>5} " + " ".join(
        f"{r.model:>24}" for r in results
    )
    lines = [head, "-" * len(head)]
    for key in keys:
        groups = [r.groups.get(key) for r in results]
        count = next((g.ref_words for g in groups if g is not None), 0)
        cells = [
            f"{g.wer:24.3f}" if g is not None and g.wer is not None else f"{'-':>24}"
            for g in groups
        ]
        lines.append(f"{key[0]:8} {key[1]:11} {count:>5} " + " ".join(cells))
    return "\n".join(lines)


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
    parser.add_argument(
        "--enhance",
        nargs="+",
        choices=["off", "on"],
        default=["off"],
        help="transcribe without (off) and/or with (on) the enhancement stage",
    )
    parser.add_argument(
        "--stage-costs",
        metavar="MODEL",
        help="also time the intelligence stages on a 5-minute clip (bench_intelligence.py)",
    )
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
    enhanced = replace(enhance_settings(settings), mode=EnhanceMode.ON)
    results = []
    for model in models:
        for mode in args.enhance:
            print(f"evaluating {model} on {len(items)} files (enhance {mode}) ...", file=sys.stderr)
            setting = enhanced if mode == "on" else None
            results.append(evaluate(registry, model, items, args.beam_size, setting))
    print(table(results, len(items)))
    if any(key != ("-", "-") for r in results for key in r.groups):
        print()
        print(matrix(results))
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
                        "groups": [
                            {
                                "language": k[0],
                                "condition": k[1],
                                "words": g.ref_words,
                                "wer": g.wer,
                            }
                            for k, g in sorted(r.groups.items())
                        ],
                        "hypotheses": r.hypotheses,
                    }
                    for r in results
                ],
                indent=2,
            )
        )
    if args.plot:
        plot(results, args.plot)
        print(f"plot written to {args.plot}", file=sys.stderr)
    if args.stage_costs:
        bench = [sys.executable, str(Path(__file__).with_name("bench_intelligence.py"))]
        for extra in ([], ["--multichannel"]):
            print(flush=True)
            subprocess.run([*bench, "--model", args.stage_costs, *extra], check=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
