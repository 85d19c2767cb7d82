#!/usr/bin/env python3
"""Stream a file or the microphone to the gateway's live transcription WebSocket.

Examples:
  python Helper_Scripts/stream_client.py speech.wav                 # real-time pace
  python Helper_Scripts/stream_client.py speech.mp3 --speed 4       # four times faster
  python Helper_Scripts/stream_client.py --mic --seconds 30         # pip install sounddevice
  python Helper_Scripts/stream_client.py talk.wav --api-key KEY --url ws://host:8000

Files are decoded with PyAV (any format FFmpeg reads) to 16 kHz mono PCM16. The microphone is
read with `sounddevice`, imported only when --mic is given (it needs PortAudio). Partials are
printed on one updating line (committed text, then [tentative text]); finals on their own line.
Protocol: Docs/Streaming.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import websockets

RATE = 16_000
FRAME_MS = 100
EventHandler = Callable[[dict[str, Any], float], None]


def decode_file(path: str) -> bytes:
    """Any audio file -> 16 kHz mono PCM16 little-endian bytes."""
    import av

    chunks = []
    with av.open(path) as container:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    return np.concatenate(chunks).astype("<i2").tobytes()


async def file_frames(pcm: bytes, speed: float) -> AsyncIterator[bytes]:
    """``pcm`` in 100 ms frames, paced at ``speed`` x real time (0: as fast as allowed)."""
    step = RATE * FRAME_MS // 1000 * 2
    t0 = time.monotonic()
    for i, first in enumerate(range(0, len(pcm), step)):
        if speed:
            delay = t0 + i * FRAME_MS / 1000 / speed - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        yield pcm[first : first + step]


async def mic_frames(seconds: float | None) -> AsyncIterator[bytes]:
    try:
        import sounddevice  # optional: PortAudio bindings
    except ImportError:  # pragma: no cover - depends on the machine
        sys.exit("--mic needs the 'sounddevice' package (pip install sounddevice) and PortAudio")
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes] = asyncio.Queue()

    def callback(data: Any, frames: int, when: Any, status: Any) -> None:
        loop.call_soon_threadsafe(queue.put_nowait, bytes(data))

    deadline = time.monotonic() + seconds if seconds else None
    with sounddevice.RawInputStream(
        samplerate=RATE,
        channels=1,
        dtype="int16",
        blocksize=RATE * FRAME_MS // 1000,
        callback=callback,
    ):
        while deadline is None or time.monotonic() < deadline:
            yield await queue.get()


async def run_session(
    url: str,
    frames: AsyncIterator[bytes],
    start: dict[str, Any],
    on_event: EventHandler,
    headers: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Stream ``frames`` after a ``start`` message, then ``stop``; returns every event.

    ``on_event(event, seconds since the first audio frame)`` sees each event as it arrives.
    """
    events: list[dict[str, Any]] = []
    # no pong timeout: sending faster than real time, our pongs wait behind our own audio while
    # the server applies backpressure (Docs/Streaming.md, keepalive)
    async with websockets.connect(
        url, additional_headers=headers, max_size=2**22, ping_timeout=None
    ) as ws:
        await ws.send(json.dumps({"type": "start", "sample_rate": RATE, **start}))
        first = json.loads(await ws.recv())
        events.append(first)
        on_event(first, 0.0)
        if first["type"] != "start":
            return events
        t0 = time.monotonic()

        async def receive() -> None:
            try:
                async for message in ws:
                    event = json.loads(message)
                    events.append(event)
                    on_event(event, time.monotonic() - t0)
            except websockets.ConnectionClosed:
                pass

        receiver = asyncio.create_task(receive())
        try:
            async for frame in frames:
                await ws.send(frame)
            await ws.send(json.dumps({"type": "stop"}))
        except websockets.ConnectionClosed:
            pass
        await receiver
    return events


def printer(show_acks: bool) -> EventHandler:
    def show(event: dict[str, Any], at: float) -> None:
        kind = event["type"]
        if kind == "partial":
            line = f"{event['stable_text']} [{event['unstable_text']}]"
            print(f"\r\033[K{at:6.2f}s … {line[-110:]}", end="", flush=True)
        elif kind == "final":
            seg = event["segment"]
            print(f"\r\033[K{at:6.2f}s ✔ [{seg['start']:.2f}-{seg['end']:.2f}] {seg['text']}")
        elif kind == "ack" and not show_acks:
            return
        else:
            print(f"\r\033[K{at:6.2f}s {json.dumps(event)}")

    return show


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("file", nargs="?", help="audio file to stream (omit with --mic)")
    parser.add_argument("--mic", action="store_true", help="stream the default microphone")
    parser.add_argument("--seconds", type=float, help="stop the microphone after this long")
    parser.add_argument("--url", default="ws://127.0.0.1:8000", help="gateway base URL")
    parser.add_argument("--model", help="model id (default: the server's whisper-1)")
    parser.add_argument("--language", help="spoken language, e.g. en")
    parser.add_argument("--speed", type=float, default=1.0, help="file pace; 0 = no pacing")
    parser.add_argument("--silence-ms", type=int, help="silence that ends an utterance")
    parser.add_argument("--no-partials", action="store_true", help="finals only")
    parser.add_argument("--api-key", help="sent as 'Authorization: Bearer <key>'")
    parser.add_argument("--acks", action="store_true", help="print ack events too")
    args = parser.parse_args()
    if bool(args.file) == args.mic:
        parser.error("give a file or --mic")
    start: dict[str, Any] = {"partials": not args.no_partials}
    if args.model:
        start["model"] = args.model
    if args.language:
        start["language"] = args.language
    if args.silence_ms:
        start["vad"] = {"silence_ms": args.silence_ms}
    frames = (
        mic_frames(args.seconds) if args.mic else file_frames(decode_file(args.file), args.speed)
    )
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else None
    url = args.url.rstrip("/") + "/v1/audio/stream/transcribe"
    try:
        asyncio.run(run_session(url, frames, start, printer(args.acks), headers))
    except KeyboardInterrupt:
        print()


if __name__ == "__main__":
    main()
