#!/usr/bin/env python3
"""Batch transcription benchmark: the gateway's HTTP endpoint vs. faster-whisper called directly.

Builds a ~300 s espeak-ng speech clip, starts `stt-gateway serve` in a subprocess, then times
alternately (a) faster-whisper in this process with the same model and settings the gateway uses
and (b) POST /v1/audio/transcriptions, while a thread polls GET /health every 20 ms.
Prints wall times (median of --runs), the gateway/direct ratio and /health latency percentiles.

    .venv/bin/python Helper_Scripts/bench_batch.py [--seconds 300] [--runs 3] [--model tiny.en]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx


def make_clip(seconds: float, workdir: Path) -> Path:
    """Distinct espeak-ng sentences cut to exactly ``seconds``; mp3 output."""
    from tests.support.audio import varied_text

    text_file = workdir / "speech.txt"
    wav = workdir / "speech.wav"
    text_file.write_text(varied_text(int(seconds / 3.5) + 2))  # ~4 s per sentence at 160 wpm
    subprocess.run(
        ["espeak-ng", "-v", "en-us", "-s", "160", "-f", str(text_file), "-w", str(wav)], check=True
    )
    clip = workdir / "speech.mp3"
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav), "-t", str(seconds), str(clip)],
        check=True,
    )
    return clip


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(port: int, data_dir: Path, model: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "STT_DATA_DIR": str(data_dir),
        "STT_DEFAULT_MODEL": model,
        "STT_LOG_LEVEL": "WARNING",
        "STT_EMBEDDED_WORKER": "false",
        "STT_AUTH_MODE": "none",
    }
    exe = Path(sys.executable).with_name("stt-gateway")
    proc = subprocess.Popen([str(exe), "serve", "--port", str(port)], env=env)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gateway did not start")


class HealthProbe(threading.Thread):
    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.latencies = url, []
        self.stop, self.active = threading.Event(), threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.stop.is_set():
                if not self.active.wait(0.05):
                    continue
                t = time.perf_counter()
                client.get(self.url).raise_for_status()
                self.latencies.append(time.perf_counter() - t)
                time.sleep(0.02)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--model", default="tiny.en")
    args = parser.parse_args()
    from app.core.config import load_settings
    from providers.faster_whisper.model_store import ModelStore

    settings = load_settings()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        clip = make_clip(args.seconds, work)
        location = ModelStore(
            model_dir=settings.model_dir, cache_dir=settings.model_cache_dir, allow_downloads=False
        ).resolve(args.model)
        from faster_whisper import BatchedInferencePipeline, WhisperModel

        model = WhisperModel(
            location, device="cpu", compute_type="int8", cpu_threads=settings.cpu_threads
        )
        batched = BatchedInferencePipeline(model)

        def direct() -> str:
            segments, _ = batched.transcribe(
                str(clip),
                beam_size=settings.default_beam_size,
                best_of=settings.default_beam_size,
                batch_size=settings.batch_size,
                vad_filter=True,
                temperature=[0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
            )
            return " ".join(s.text.strip() for s in segments)

        port = free_port()
        server = start_server(port, work / "data", args.model)
        base = f"http://127.0.0.1:{port}"
        data = clip.read_bytes()

        def gateway() -> str:
            r = httpx.post(
                f"{base}/v1/audio/transcriptions",
                timeout=600,
                data={"model": args.model},
                files={"file": ("clip.mp3", data)},
            )
            r.raise_for_status()
            return str(r.json()["text"])

        try:
            direct()
            gateway()  # warm-up: model load, caches
            direct_times, gateway_times, ratios = [], [], []
            probe = HealthProbe(f"{base}/health")
            probe.start()
            for _ in range(args.runs):
                t = time.perf_counter()
                direct_text = direct()
                direct_times.append(time.perf_counter() - t)
                probe.active.set()
                t = time.perf_counter()
                gateway_text = gateway()
                gateway_times.append(time.perf_counter() - t)
                probe.active.clear()
                ratios.append(gateway_times[-1] / direct_times[-1])
            probe.stop.set()
            probe.join()
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(
        f"clip: {args.seconds:.0f} s of speech, model {args.model}, runs {args.runs}, "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"direct faster-whisper : median {statistics.median(direct_times):.2f} s  "
        f"(min {min(direct_times):.2f}, max {max(direct_times):.2f})"
    )
    print(
        f"gateway HTTP endpoint : median {statistics.median(gateway_times):.2f} s  "
        f"(min {min(gateway_times):.2f}, max {max(gateway_times):.2f})"
    )
    print(
        f"gateway / direct      : median {statistics.median(ratios):.3f}  "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f})"
    )
    lat = [x * 1000 for x in probe.latencies]
    print(
        f"/health during runs   : n={len(lat)} p50 {percentile(lat, 0.5):.1f} ms  "
        f"p99 {percentile(lat, 0.99):.1f} ms  max {max(lat):.1f} ms"
    )
    print(f"words: direct {len(direct_text.split())}, gateway {len(gateway_text.split())}")


if __name__ == "__main__":
    main()
