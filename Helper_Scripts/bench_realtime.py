#!/usr/bin/env python3
"""Benchmark the Realtime endpoint with the official openai SDK: delta lag, completion delay.

  python Helper_Scripts/bench_realtime.py                     # in-process server, whisper-1
  python Helper_Scripts/bench_realtime.py --sessions 1 2 3    # concurrency levels to try
  python Helper_Scripts/bench_realtime.py --url http://host:8000 --api-key KEY

Each session streams bench_stream.py's clip (espeak-ng sentences with pauses, about 20 s,
upsampled to 24 kHz PCM16) through ``client.realtime.connect(extra_query={"intent":
"transcription"})`` at real-time pace, with server VAD.
- delta lag: arrival of a ``delta`` minus the audio time of its newest word's end (both from
  the first audio frame). Deltas carry no timestamps, so word times come from a batch
  transcription of the same clip (``verbose_json`` with word timestamps), aligned by words;
- completed delay: arrival of ``completed`` minus the arrival of the turn's
  ``speech_stopped``, and minus the true end of speech (the clip's last voiced sample).
Needs espeak-ng, sox and ffmpeg; numbers depend on what else the CPU is doing.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import difflib
import io
import re
import sys
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_stream import make_clip, percentile

RATE = 24_000
FRAME_MS = 100


def to_24k(pcm16k: bytes) -> bytes:
    x = np.frombuffer(pcm16k, dtype="<i2").astype(np.float32)
    t = np.arange(0, len(x) - 1, 16_000 / RATE)
    return np.interp(t, np.arange(len(x)), x).round().astype("<i2").tobytes()


def tokens(text: str) -> list[str]:
    return [w for w in re.sub(r"[^\w' ]+", " ", text.lower()).split() if w]


def wav_bytes(pcm16k: bytes) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
        w.writeframes(pcm16k)
    return out.getvalue()


def batch_words(base: str, pcm16k: bytes, key: str) -> list[tuple[str, float]]:
    """(word, end) of a batch transcription of the clip: the reference word timeline."""
    response = httpx.post(
        f"{base}/v1/audio/transcriptions",
        headers={"Authorization": f"Bearer {key}"},
        files={"file": ("clip.wav", wav_bytes(pcm16k), "audio/wav")},
        data={
            "model": "whisper-1",
            "response_format": "verbose_json",
            "timestamp_granularities[]": "word",
        },
        timeout=300,
    )
    response.raise_for_status()
    return [(t, w["end"]) for w in response.json()["words"] for t in tokens(w["word"])[:1]]


async def one_session(base: str, key: str, pcm: bytes) -> list[tuple[str, dict[str, Any], float]]:
    """Stream ``pcm`` at real time; every event with its arrival (s since the first frame)."""
    client = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0)
    events: list[tuple[str, dict[str, Any], float]] = []
    async with client.realtime.connect(extra_query={"intent": "transcription"}) as conn:
        await conn.session.update(
            session={
                "type": "transcription",
                "audio": {
                    "input": {
                        "format": {"type": "audio/pcm", "rate": RATE},
                        "transcription": {"model": "whisper-1", "language": "en"},
                        "turn_detection": {"type": "server_vad"},
                    }
                },
            }
        )
        t0 = time.monotonic()

        async def receive() -> None:
            async for event in conn:
                data = event.to_dict()
                events.append((data["type"], data, time.monotonic() - t0))

        reader = asyncio.create_task(receive())
        step = RATE * 2 * FRAME_MS // 1000
        tail = pcm + bytes(RATE * 2 * 2)  # 2 s of silence: the last turn ends by VAD
        for n, first in enumerate(range(0, len(tail), step)):
            await conn.input_audio_buffer.append(
                audio=base64.b64encode(tail[first : first + step]).decode()
            )
            await asyncio.sleep(max(0.0, t0 + (n + 1) * FRAME_MS / 1000 - time.monotonic()))
        await asyncio.sleep(2.0)
        reader.cancel()
    await client.close()
    return events


def measure(
    events: list[tuple[str, dict[str, Any], float]],
    reference: list[tuple[str, float]],
    speech_ends: list[float],
) -> dict[str, list[float]]:
    said: list[str] = []
    delta_marks: list[tuple[int, float]] = []  # (index of the newest word, arrival)
    stopped: dict[str, float] = {}
    completed_after_stop, completed_after_speech = [], []
    for kind, event, at in events:
        if kind.endswith("transcription.delta"):
            said += tokens(event["delta"])
            if said:
                delta_marks.append((len(said) - 1, at))
        elif kind == "input_audio_buffer.speech_stopped":
            stopped[event["item_id"]] = at
        elif kind.endswith("transcription.completed") and event["item_id"] in stopped:
            completed_after_stop.append(at - stopped[event["item_id"]])
            ended = [e for e in speech_ends if e <= at]
            if ended:
                completed_after_speech.append(at - ended[-1])
    matcher = difflib.SequenceMatcher(None, said, [w for w, _ in reference], autojunk=False)
    times: dict[int, float] = {}
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            times[block.a + k] = reference[block.b + k][1]
    lags, last = [], None
    for index in range(len(said)):
        last = times.get(index, last)
        if last is not None:
            times[index] = last
    for index, at in delta_marks:
        if index in times:
            lags.append(at - times[index])
    return {
        "lags": lags,
        "after_stop": completed_after_stop,
        "after_speech": completed_after_speech,
    }


async def report(base: str, key: str, pcm16k: bytes, ends: list[float], levels: list[int]) -> None:
    pcm = to_24k(pcm16k)
    reference = batch_words(base, pcm16k, key)  # also loads the model
    await one_session(base, key, pcm[: RATE * 2 * 3])  # and the live model
    print(f"clip: {len(pcm16k) / 32_000:.1f}s of speech with pauses, streamed at real time")
    print("sessions  delta lag p50  p95  completed-after-stopped p50  p95  after-speech p50  p95")
    for n in levels:
        runs = await asyncio.gather(*(one_session(base, key, pcm) for _ in range(n)))
        m = [measure(events, reference, ends) for events in runs]
        lags = [v for r in m for v in r["lags"]]
        stop = [v for r in m for v in r["after_stop"]]
        speech = [v for r in m for v in r["after_speech"]]
        print(
            f"{n:>8}  {percentile(lags, 0.5):12.2f}s {percentile(lags, 0.95):5.2f}s"
            f"  {percentile(stop, 0.5):26.2f}s {percentile(stop, 0.95):5.2f}s"
            f"  {percentile(speech, 0.5):15.2f}s {percentile(speech, 0.95):5.2f}s"
            f"   ({len(lags)} deltas, {len(stop)} turns)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--url", help="a running gateway, http(s)://host:port")
    parser.add_argument("--api-key", default="unused")
    parser.add_argument("--sessions", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        pcm, ends = make_clip(Path(tmp))
        if args.url:
            asyncio.run(report(args.url.rstrip("/"), args.api_key, pcm, ends, args.sessions))
            return
        from app.core.config import load_settings
        from tests.support.server import running_server

        most = max(args.sessions) + 1
        settings = load_settings(
            data_dir=Path(tmp) / "data", stream_max_sessions=most, max_streams_per_user=most
        )
        with running_server(settings) as base:
            asyncio.run(report(base, args.api_key, pcm, ends, args.sessions))


if __name__ == "__main__":
    main()
