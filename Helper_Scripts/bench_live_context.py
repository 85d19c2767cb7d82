#!/usr/bin/env python3
"""Live-window encoder context: decode cost vs. accuracy (sets STT_STREAM_ENCODER_CONTEXT_S).

    .venv/bin/python Helper_Scripts/bench_live_context.py                  # 30, 15 and 10 s
    .venv/bin/python Helper_Scripts/bench_live_context.py --contexts 30 20 --model base.en

Ten espeak-ng clips (five voices, 130-200 words/min, with and without pauses) are fed
through the streaming engine offline in 0.5 s steps: the same VAD, LocalAgreement commits and
buffer cuts as a live session, without the network or real-time pacing, so decodes run
back to back. For each context it prints the word error rate of the joined finals (pooled
over all clips) and the mean decode time; the batch transcription of the same clips is the
reference accuracy. Numbers depend on the CPU and on what else it is doing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CLIPS: list[tuple[int, int, dict[str, Any]]] = [  # (sentences, seed, espeak-ng settings)
    (3, 1, {"gap_ms": 700}),
    (4, 2, {}),
    (5, 3, {"voice": "en-gb", "gap_ms": 500}),
    (5, 11, {"voice": "en-us+f3", "speed": 170}),
    (4, 5, {"voice": "en-gb-x-rp", "gap_ms": 900}),
    (5, 21, {"speed": 130, "gap_ms": 600}),
    (5, 22, {"voice": "en-us+m3", "speed": 180}),
    (4, 23, {"voice": "en-gb", "speed": 160, "gap_ms": 400}),
    (5, 24, {"voice": "en-us+f2", "gap_ms": 800}),
    (6, 25, {"speed": 200}),
]


def load_clips() -> list[tuple[str, np.ndarray]]:
    from faster_whisper.audio import decode_audio

    from tests.support.audio import speech, varied_text

    clips = []
    for sentences, seed, voice in CLIPS:
        text = varied_text(sentences, seed=seed)
        clips.append((text, decode_audio(str(speech(text, **voice)))))
    return clips


def stream_clip(provider: Any, model: str, samples: np.ndarray) -> tuple[str, int, float]:
    """(joined finals, decodes, seconds decoding) of one clip through the live engine."""
    from providers.registry import Resolved
    from schemas.options import TranscriptionOptions
    from tests.support.stream import stream_offline

    options = TranscriptionOptions(beam_size=5, best_of=1, word_timestamps=True)
    text, engine = stream_offline(Resolved(provider, model, model), options, samples)
    return text, engine.decodes, engine.processing_s


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--contexts", type=float, nargs="+", default=[30.0, 15.0, 10.0])
    parser.add_argument("--model", default="tiny.en")
    args = parser.parse_args()

    from app.bootstrap import faster_whisper_config
    from app.core.config import load_settings
    from providers.base import AudioInput
    from providers.faster_whisper.provider import FasterWhisperProvider
    from schemas.options import TranscriptionOptions
    from tests.support.audio import wer

    clips = load_clips()
    words = sum(len(text.split()) for text, _ in clips)
    audio_s = sum(len(samples) for _, samples in clips) / 16_000
    print(f"{len(clips)} clips, {audio_s:.0f} s of audio, {words} words; model {args.model}")
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp))
        batch = FasterWhisperProvider(faster_whisper_config(settings))
        options = TranscriptionOptions(beam_size=5, best_of=5)
        batch_errors = 0.0
        for text, samples in clips:
            stream = batch.iter_segments(AudioInput(samples), options, args.model)
            hypothesis = " ".join(segment.text.strip() for segment in stream.segments)
            batch_errors += wer(text, hypothesis) * len(text.split())
        print(f"batch transcription (reference): WER {batch_errors / words:.3f}")
        print("context  live WER  decodes  mean decode  decode time / audio")
        for context in args.contexts:
            config = faster_whisper_config(
                settings.model_copy(update={"stream_encoder_context_s": context})
            )
            provider = FasterWhisperProvider(config)
            stream_clip(provider, args.model, clips[0][1][:16_000])  # load the model
            errors, decodes, busy = 0.0, 0, 0.0
            for text, samples in clips:
                hypothesis, n, seconds = stream_clip(provider, args.model, samples)
                errors += wer(text, hypothesis) * len(text.split())
                decodes += n
                busy += seconds
            print(
                f"{context:6.0f}s  {errors / words:8.3f}  {decodes:7d}  {busy / decodes:10.3f}s"
                f"  {busy / audio_s:19.2f}"
            )


if __name__ == "__main__":
    main()
