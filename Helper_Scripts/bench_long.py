#!/usr/bin/env python3
"""Long-recording benchmark: a one-hour speech mp3 as a background job, and SSE on 5 minutes.

Builds espeak-ng speech from distinct generated sentences (a 5-minute clip and a one-hour
recording, 64 kbit/s mp3), starts `stt-gateway serve` without its embedded worker and N
`stt-gateway worker` processes on one SQLite database, then for N in --workers:

* submits the 5-minute clip, then the hour, as jobs and times each to `succeeded`;
* reports wall time, real-time factor, peak RSS (VmHWM) of the server and of each worker,
  WER against the spoken text, segment length median/max and SRT rule violations.

Then, on the server alone, the 5-minute clip through `/v1/audio/transcriptions` plain and with
`stream=true`: time to the first `transcript.text.delta`, and stream/plain wall time.

    .venv/bin/python Helper_Scripts/bench_long.py [--hour-seconds 3600] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.audio import varied_text, wer  # noqa: E402
from tests.support.captions import parse_cues, rule_violations  # noqa: E402

SECONDS_PER_SENTENCE = 3.6  # espeak-ng en-us at 160 words a minute, these sentences


def make_speech(seconds: float, workdir: Path, name: str, seed: int) -> tuple[Path, str]:
    """About ``seconds`` of distinct sentences, whole (the text is the exact reference)."""
    text = varied_text(int(seconds / SECONDS_PER_SENTENCE), seed=seed)
    text_file, wav, mp3 = (workdir / f"{name}.{ext}" for ext in ("txt", "wav", "mp3"))
    text_file.write_text(text)
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "160", "-f", str(text_file), "-w", str(wav)], check=True
    )
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-b:a", "64k", str(mp3)], check=True
    )
    wav.unlink()
    return mp3, text


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set size (Linux VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def wait_ready(base: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("gateway exited")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise SystemExit("gateway did not start")


class Fleet:
    """`stt-gateway serve` (no embedded worker) and N `stt-gateway worker` processes."""

    def __init__(self, workdir: Path, workers: int, port: int) -> None:
        exe = str(Path(sys.executable).with_name("stt-gateway"))
        self.env = {
            **os.environ,
            "STT_DATA_DIR": str(workdir / "data"),
            "STT_LOG_LEVEL": "WARNING",
            "STT_EMBEDDED_WORKER": "false",
            "STT_AUTH_MODE": "none",
            "STT_WORKER_POLL_S": "0.2",
        }
        self.base = f"http://127.0.0.1:{port}"
        self.server = subprocess.Popen([exe, "serve", "--port", str(port)], env=self.env)
        wait_ready(self.base, self.server)
        self.workers = [
            subprocess.Popen([exe, "worker", "--pool", "any"], env=self.env) for _ in range(workers)
        ]

    def rss(self) -> dict[str, float]:
        out = {"server": peak_rss_mb(self.server.pid)}
        out.update({f"worker{i + 1}": peak_rss_mb(w.pid) for i, w in enumerate(self.workers)})
        return out

    def close(self) -> None:
        for proc in [*self.workers, self.server]:
            proc.terminate()
        for proc in [*self.workers, self.server]:
            proc.wait(timeout=60)


def run_job(base: str, clip: Path, text: str) -> dict[str, Any]:
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=600) as client:
        with clip.open("rb") as audio:
            reply = client.post(
                "/v1/audio/jobs",
                files={"file": (clip.name, audio, "audio/mpeg")},
                data={"model": "whisper-1"},
            )
        reply.raise_for_status()
        job_id = reply.json()["id"]
        with client.stream("GET", f"/v1/audio/jobs/{job_id}/events") as events:  # until done
            for line in events.iter_lines():
                if line == "event: done":
                    break
        wall = time.perf_counter() - started
        job = client.get(f"/v1/audio/jobs/{job_id}").json()
        if job.get("status") != "succeeded":
            raise SystemExit(f"job {job_id}: {job}")
        result = f"/v1/audio/jobs/{job_id}/result"
        verbose = client.get(result, params={"response_format": "verbose_json"}).json()
        srt = client.get(result, params={"response_format": "srt"}).text
    lengths = [s["end"] - s["start"] for s in verbose["segments"]]
    return {
        "audio_s": round(verbose["duration"], 1),
        "wall_s": round(wall, 1),
        "rtf": round(wall / verbose["duration"], 4),
        "chunks": job["progress"]["chunks_total"],
        "wer": round(wer(text, verbose["text"]), 4),
        "segments": len(lengths),
        "segment_median_s": round(statistics.median(lengths), 2),
        "segment_max_s": round(max(lengths), 2),
        "srt_violations": len(rule_violations(parse_cues(srt))),
    }


def sse_vs_plain(base: str, clip: Path) -> dict[str, float]:
    def post(stream: bool) -> tuple[float, float | None]:
        started, first = time.perf_counter(), None
        with clip.open("rb") as audio, httpx.Client(timeout=600) as client:
            files = {"file": (clip.name, audio, "audio/mpeg")}
            data = {"model": "whisper-1", "stream": "true" if stream else "false"}
            with client.stream(
                "POST", f"{base}/v1/audio/transcriptions", files=files, data=data
            ) as reply:
                reply.raise_for_status()
                for line in reply.iter_lines():
                    if first is None and '"transcript.text.delta"' in line:
                        first = time.perf_counter() - started
        return time.perf_counter() - started, first

    post(False)  # warm: the model is loaded
    plain, _ = post(False)
    stream, first = post(True)
    return {
        "plain_s": round(plain, 2),
        "stream_s": round(stream, 2),
        "first_delta_s": round(first or float("nan"), 2),
        "stream_over_plain": round(stream / plain, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hour-seconds", type=float, default=3600)
    parser.add_argument("--short-seconds", type=float, default=300)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    report: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        short, short_text = make_speech(args.short_seconds, work, "short", seed=3)
        hour, hour_text = make_speech(args.hour_seconds, work, "hour", seed=5)
        report["hour_mp3_mb"] = round(hour.stat().st_size / 2**20, 1)
        for n in args.workers:
            fleet = Fleet(work / f"fleet{n}", n, args.port)
            try:
                runs = {
                    "short": run_job(fleet.base, short, short_text),
                    "hour": run_job(fleet.base, hour, hour_text),
                }
                scale = runs["hour"]["audio_s"] / runs["short"]["audio_s"]
                runs["hour_vs_short_scaled"] = round(
                    runs["hour"]["wall_s"] / (runs["short"]["wall_s"] * scale), 3
                )
                runs["peak_rss_mb"] = {k: round(v) for k, v in fleet.rss().items()}
                if n == args.workers[0]:
                    report["sse_5min"] = sse_vs_plain(fleet.base, short)
            finally:
                fleet.close()
            report[f"workers_{n}"] = runs
            print(json.dumps({f"workers_{n}": runs}, indent=2), flush=True)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
