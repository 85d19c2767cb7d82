#!/usr/bin/env python3
"""Time the transcript-intelligence stages on a long clip (default: 5 minutes).

Speaks a passage with espeak-ng, loops it to ``--seconds`` with ffmpeg, decodes it as the
gateway does (16 kHz mono float32), transcribes it once with ``--model`` (default ``mock``: one
word per half second, instant; ``faster-whisper:tiny.en`` gives a real transcript and real
confidences), then times each stage function alone, ``--repeat`` times, and prints the median
and worst milliseconds: the audio warnings (``STT_AUDIO_WARNINGS``), the quality report
(``STT_QUALITY_REPORT``), the enhancement stage (``STT_ENHANCE=on``: level, band-pass and
gain over the whole clip) and, for comparison, the custom vocabulary with whole-word entries and
regex rules.

    .venv/bin/python Helper_Scripts/bench_intelligence.py --model faster-whisper:tiny.en
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.bootstrap import build_registry
from app.core.config import load_settings
from app.services.transcription.audio import decode_file
from app.services.transcription.audio_warnings import WarningThresholds, audio_warnings
from app.services.transcription.enhance import EnhanceMode, EnhanceSettings, enhance
from app.services.transcription.quality import QualityThresholds, quality_report
from app.services.vocabulary import Vocabulary
from schemas.options import TranscriptionOptions

PASSAGE = (
    "The quarterly report is ready. Please review the numbers before the meeting on Friday. "
    "Our team moved the servers to the new data centre and the latency dropped by half. "
    "Call the support desk if the dashboard shows any errors after the upgrade."
)
VOCABULARY = {
    "data centre": "data center",
    "dashboard": "Dashboard",
    r"re:\b(\d+)\s+percent\b": r"\1 %",
    r"re:(?i)\bsupport\s+desk\b": "Service Desk",
}


def make_clip(folder: Path, seconds: float) -> Path:
    voice = folder / "passage.wav"
    clip = folder / "clip.wav"
    subprocess.run(["espeak-ng", "-v", "en-us", "-w", str(voice), PASSAGE], check=True)
    loop = ["-stream_loop", "-1", "-i", str(voice), "-t", str(seconds), "-ar", "16000"]
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *loop, str(clip)], check=True)
    return clip


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    runs = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs), max(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--model", default="mock")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_clip(Path(tmp), args.seconds)
        started = time.perf_counter()
        audio = decode_file(clip, max_duration_s=args.seconds + 10)
        decode_ms = (time.perf_counter() - started) * 1000
    target = build_registry(settings).resolve(args.model)
    started = time.perf_counter()
    transcript = target.provider.transcribe_batch(
        audio, TranscriptionOptions(language="en", word_timestamps=True), target.model
    )
    transcribe_s = time.perf_counter() - started
    words = sum(len(s.words or ()) for s in transcript.segments)
    vocabulary = Vocabulary(VOCABULARY)
    stages = {
        "audio warnings": lambda: audio_warnings(audio, WarningThresholds()),
        "quality report": lambda: quality_report(transcript, transcribe_s, QualityThresholds()),
        "enhancement (band-pass + gain)": lambda: enhance(
            audio, EnhanceSettings(mode=EnhanceMode.ON)
        ),
        "vocabulary (2 words + 2 regex)": lambda: vocabulary.apply(transcript),
    }
    print(
        f"clip {audio.duration:.0f} s, decoded in {decode_ms:.0f} ms; {target.label}: "
        f"{len(transcript.segments)} segments, {words} words in {transcribe_s:.1f} s"
    )
    for name, fn in stages.items():
        median, worst = timed(fn, args.repeat)
        share = median / 1000 / transcribe_s if transcribe_s > 0.01 else float("nan")
        print(f"{name:32s} median {median:8.2f} ms  max {worst:8.2f} ms  ({share:.2%} of STT)")
    report = quality_report(transcript, transcribe_s, QualityThresholds())
    print(
        f"quality: rtf {report.real_time_factor}, wpm {report.words_per_minute}, "
        f"avg confidence {report.avg_confidence}, buckets {report.confidence_buckets}"
    )


if __name__ == "__main__":
    main()
