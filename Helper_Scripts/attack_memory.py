"""Peak server memory under concurrent uploads of long, tiny files (an outside reproduction).

A FLAC of two hours of silence is about 1.3 MB on the wire but 450 MB once decoded to float32.
This script starts ``stt-gateway serve`` from a source tree (``--src``, default: this checkout;
point it at an older checkout to compare), sends ``--concurrency`` such uploads at once and
prints the server's peak RSS (VmHWM), its RSS afterwards, and the status of every response.

    .venv/bin/python Helper_Scripts/attack_memory.py --seconds 7100 --concurrency 4
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def _silence_flac(seconds: float, directory: Path) -> Path:
    path = directory / f"silence-{int(seconds)}s.flac"
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(path), "trim", "0", str(seconds)],
        check=True,
    )
    return path


def _memory_kb(pid: int) -> dict[str, int]:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT, help="source tree to serve from")
    parser.add_argument("--seconds", type=float, default=7100.0)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--settle", type=float, default=3.0, help="seconds to wait afterwards")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="attack-memory-") as tmp:
        tmpdir = Path(tmp)
        flac = _silence_flac(args.seconds, tmpdir)
        port = _free_port()
        env = {
            **os.environ,
            "STT_DATA_DIR": str(tmpdir / "data"),
            "STT_AUTH_MODE": "api_key",
            "STT_API_KEY": "attack-test-key-0123456789",
            "STT_RATE_LIMIT_ENABLED": "false",
            "STT_LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--port", str(port)],
            cwd=args.src,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("server did not start")
                time.sleep(0.5)
            before = _memory_kb(server.pid)["VmRSS"]
            print(f"file: {flac.stat().st_size / 1e6:.2f} MB, {args.seconds:.0f} s of silence")
            print(f"server RSS before: {before / 1024:.0f} MB")

            def send(_: int) -> tuple[int, str]:
                started = time.monotonic()
                with open(flac, "rb") as handle:
                    response = httpx.post(
                        f"{base}/v1/audio/transcriptions",
                        headers={"Authorization": "Bearer attack-test-key-0123456789"},
                        files={"file": (flac.name, handle, "audio/flac")},
                        data={"model": "whisper-1"},
                        timeout=1800,
                    )
                took = time.monotonic() - started
                return response.status_code, f"{took:.1f}s {response.text[:120]!r}"

            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(args.concurrency) as pool:
                results = list(pool.map(send, range(args.concurrency)))
            wall = time.monotonic() - started
            time.sleep(args.settle)
            memory = _memory_kb(server.pid)
            for status, detail in results:
                print(f"  {status} {detail}")
            print(f"wall: {wall:.1f} s")
            print(f"server peak RSS (VmHWM): {memory['VmHWM'] / 1024:.0f} MB")
            print(f"server RSS {args.settle:.0f} s after: {memory['VmRSS'] / 1024:.0f} MB")
        finally:
            server.terminate()
            server.wait(timeout=60)


if __name__ == "__main__":
    main()
