#!/usr/bin/env python3
"""Benchmark live streaming: partial lag, end-of-speech-to-final delay, concurrent sessions.

  python Helper_Scripts/bench_stream.py                      # in-process server, default model
  python Helper_Scripts/bench_stream.py --sessions 1 2 3 4   # concurrency levels to try
  python Helper_Scripts/bench_stream.py --url ws://host:8000 # a running gateway

Each session streams espeak-ng speech (sentences with pauses, about 20 s) at real-time pace.
- partial lag: wall-clock arrival of a partial minus the audio time of its newest word's end
  (both measured from the first audio frame), p50/p95;
- final delay: arrival of a final minus the end of speech of the sentence it closes (the
  clip's own last voiced sample, not the model's word timestamp);
- a concurrency level is *sustained* when lag does not grow through the session (median lag
  of the last third within 1 s of the first third) and p95 lag stays under 3 s.
Needs espeak-ng and ffmpeg; numbers depend on what else the CPU is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stream_client import decode_file, file_frames, run_session

SENTENCES = [
    "We will walk to the park after lunch.",
    "My sister likes to read books in the garden.",
    "Please close the window before you go to sleep.",
    "The children are playing with a red ball near the river.",
    "The train leaves the station at nine in the morning.",
    "Our neighbours are painting their fence green this weekend.",
]


#: PCM16 amplitude below which a sample is silence (espeak-ng's pauses are near-digital silence)
SILENCE_LEVEL = 64


def make_clip(directory: Path) -> tuple[bytes, list[float]]:
    """The clip (16 kHz PCM16) and the true end of speech of each sentence (seconds)."""
    parts = []
    for i, sentence in enumerate(SENTENCES):
        part = directory / f"{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(part), sentence], check=True)
        parts.append(str(part))
    joined = directory / "clip.wav"
    padded = []
    for part in parts:
        out = part.replace(".wav", ".pad.wav")
        subprocess.run(["sox", part, out, "pad", "0", "0.8"], check=True)
        padded.append(out)
    subprocess.run(["sox", *padded, str(joined)], check=True)
    ends, offset = [], 0
    for out in padded:
        samples = np.frombuffer(decode_file(out), dtype="<i2")
        voiced = np.flatnonzero(np.abs(samples) > SILENCE_LEVEL)
        ends.append((offset + voiced[-1] + 1) / 16_000)
        offset += len(samples)
    return decode_file(str(joined)), ends


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def one_session(
    url: str, pcm: bytes, model: str | None, speech_ends: list[float]
) -> dict[str, Any]:
    lags: list[tuple[float, float]] = []  # (audio time, lag)
    finals: list[float] = []

    def on_event(event: dict[str, Any], at: float) -> None:
        if event["type"] == "partial" and event["segment"]["words"]:
            end = event["segment"]["words"][-1]["end"]
            lags.append((end, at - end))
        elif event["type"] == "final" and event["reason"] == "silence":
            said = min(speech_ends, key=lambda end: abs(end - event["segment"]["end"]))
            finals.append(at - said)

    start = {"model": model} if model else {}
    events = await run_session(url, file_frames(pcm, 1.0), start, on_event)
    return {"lags": lags, "finals": finals, "events": events}


async def level(
    url: str, pcm: bytes, ends: list[float], sessions: int, model: str | None
) -> dict[str, Any]:
    results = await asyncio.gather(*(one_session(url, pcm, model, ends) for _ in range(sessions)))
    lags = [lag for r in results for _, lag in r["lags"]]
    finals = [d for r in results for d in r["finals"]]
    duration = len(pcm) / 2 / 16_000
    early = [lag for r in results for t, lag in r["lags"] if t < duration / 3]
    late = [lag for r in results for t, lag in r["lags"] if t > 2 * duration / 3]
    growth = statistics.median(late) - statistics.median(early) if early and late else 0.0
    ended = all(r["events"] and r["events"][-1]["type"] == "end" for r in results)
    errors = [e["code"] for r in results for e in r["events"] if e["type"] == "error"]
    return {
        "sessions": sessions,
        "lag_p50": percentile(lags, 0.5),
        "lag_p95": percentile(lags, 0.95),
        "final_p50": percentile(finals, 0.5),
        "final_p95": percentile(finals, 0.95),
        "growth": growth,
        "errors": errors,
        "sustained": ended and growth < 1.0 and percentile(lags, 0.95) < 3.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running gateway (default: start one in-process)")
    parser.add_argument("--model", help="model id (default: the server's whisper-1)")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2, 3])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        pcm, ends = make_clip(Path(tmp))
        if args.url:
            asyncio.run(report(args.url.rstrip("/"), pcm, ends, args))
            return
        from app.core.config import load_settings
        from tests.support.server import running_server

        # every bench session is the same (local) user; +1: the server may still be closing
        # the previous level's sessions when the next one connects
        most = max(args.sessions) + 1
        settings = load_settings(
            data_dir=Path(tmp) / "data", stream_max_sessions=most, max_streams_per_user=most
        )
        with running_server(settings) as base:
            asyncio.run(report(base.replace("http://", "ws://"), pcm, ends, args))


async def report(base: str, pcm: bytes, ends: list[float], args: argparse.Namespace) -> None:
    url = base + "/v1/audio/stream/transcribe"
    await one_session(url, pcm[: 16_000 * 2 * 3], args.model, ends)  # load the model first
    print(f"clip: {len(pcm) / 32_000:.1f}s of speech with pauses, streamed at real time")
    print("sessions  lag p50  lag p95  final p50  final p95  lag growth  sustained")
    for n in args.sessions:
        r = await level(url, pcm, ends, n, args.model)
        print(
            f"{r['sessions']:>8}  {r['lag_p50']:6.2f}s  {r['lag_p95']:6.2f}s  "
            f"{r['final_p50']:8.2f}s  {r['final_p95']:8.2f}s  {r['growth']:+9.2f}s  "
            f"{'yes' if r['sustained'] else 'NO'}"
            + (f"  errors: {', '.join(r['errors'])}" if r["errors"] else "")
        )


if __name__ == "__main__":
    main()
