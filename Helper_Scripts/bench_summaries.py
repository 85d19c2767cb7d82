#!/usr/bin/env python3
"""How many chat calls a summary of a long meeting takes, and the gateway's own share of its time.

Builds a transcript of ``--minutes`` of speech (150 words a minute, 12-word segments from a
meeting-like word list, seeded), summarises it with the gateway's summarizer against the local
fake chat server of the tests (``tests/support/chat.py``: answers at once, so the time is the
gateway's: packing, prompts, HTTP over loopback, parsing) for a few context / answer sizes, and
prints the map parts, the reduce calls and the times. A real model adds its own seconds a call.

    .venv/bin/python Helper_Scripts/bench_summaries.py --minutes 60
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.bootstrap import build_summarizer
from app.core.config import load_settings
from app.services.summaries.parts import estimate_tokens, pack, transcript_lines
from app.services.summaries.prompts import MAP, system_prompt
from schemas.transcript import Segment, Transcript, TranscriptMetadata, build_transcript
from tests.support.chat import chat_server

PASSAGE = (
    "we should move the launch date because testing found two bugs in the login flow and "
    "marketing needs the final plan by friday so priya will fix the crash while tom updates the "
    "press kit then we review the budget numbers again next week after customers report results"
)
SIZES = ((4096, 512), (8192, 1024), (32768, 2048))


def meeting(minutes: float, seed: int = 0) -> Transcript:
    rng = random.Random(seed)
    words = PASSAGE.split()
    segments, start = [], 0.0
    for i in range(int(minutes * 150 / 12)):
        text = " ".join(rng.choice(words) for _ in range(12))
        segments.append(Segment(id=i, start=start, end=start + 4.6, text=text))
        start += 4.8
    return build_transcript(
        segments=segments,
        language="en",
        duration=start,
        metadata=TranscriptMetadata(provider="bench", model="bench"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    args = parser.parse_args()
    transcript = meeting(args.minutes)
    lines = transcript_lines(transcript)
    print(
        f"{args.minutes:g} min: {len(transcript.text.split())} words, {len(lines)} segments, "
        f"{estimate_tokens(chr(10).join(lines))} estimated tokens"
    )
    for context, answer in SIZES:
        with chat_server() as (server, url):
            settings = load_settings(
                _env_file=None,
                summary_api_base=url,
                summary_model="bench",
                summary_context_tokens=context,
                summary_answer_tokens=answer,
                url_allowlist="127.0.0.1",
                log_level="WARNING",
            )
            summarizer = build_summarizer(settings)
            assert summarizer is not None
            started = time.perf_counter()
            summary = summarizer.summarize(transcript)
            total = time.perf_counter() - started
            budget = summarizer.budget(system_prompt("en"), MAP)
            started = time.perf_counter()
            pack(lines, budget)
            packing = time.perf_counter() - started
            summarizer.close()
        calls = len(server.requests)
        print(
            f"context {context} / answer {answer}: {len(server.maps())} map + "
            f"{len(server.reduces())} reduce calls, {total * 1000:.0f} ms in all "
            f"({total * 1000 / calls:.1f} ms a call), packing {packing * 1000:.1f} ms, "
            f"final notes {summary.key_points}"
        )


if __name__ == "__main__":
    main()
