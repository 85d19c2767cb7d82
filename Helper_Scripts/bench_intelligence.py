#!/usr/bin/env python3
"""Time the transcript-intelligence stages on a long clip (default: 5 minutes).

Speaks a passage with espeak-ng, loops it to ``--seconds`` with ffmpeg, decodes it as the
gateway does (16 kHz mono float32), transcribes it once with ``--model`` (default ``mock``: one
word per half second, instant; ``faster-whisper:tiny.en`` gives a real transcript and real
confidences), then times each stage function alone, ``--repeat`` times, and prints the median
and worst milliseconds: the audio warnings (``STT_AUDIO_WARNINGS``), the quality report
(``STT_QUALITY_REPORT``), the enhancement stage (``STT_ENHANCE=on``: level, band-pass and
gain over the whole clip) and, for comparison, the custom vocabulary with whole-word entries and
regex rules. Then the emotion stage (``emotion=true``), ``--emotion-repeat`` times after one
warm-up run that loads the model. ``--emotion-model``: ``tiny`` (default) is the tests' tiny
random wav2vec2 classifier (the stage's own cost: cutting, feature extraction, batching, a
1-layer model); ``base`` a randomly initialised classifier of wav2vec2-base's shape (95 M
parameters, as ``superb/wav2vec2-base-superb-er``: its labels mean nothing, its speed is a real
base-size model's); anything else a checkpoint directory.

``--multichannel`` instead times ``multichannel=true`` against the ordinary (downmixed) request
on a stereo call of the same length: two voices taking turns on their own channels, each turn
overlapping the next by a second. Both go through the pipeline as a REST request does
(decoding included: the downmix, plus each channel for the multichannel run), alternately,
``--rounds`` times each.

    .venv/bin/python Helper_Scripts/bench_intelligence.py --model faster-whisper:tiny.en
    .venv/bin/python Helper_Scripts/bench_intelligence.py --model faster-whisper:tiny.en \
        --multichannel --rounds 2
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from app.bootstrap import build_pipeline, build_registry
from app.core.config import Settings, load_settings
from app.services.transcription.audio import decode_file
from app.services.transcription.audio_warnings import WarningThresholds, audio_warnings
from app.services.transcription.enhance import EnhanceMode, EnhanceSettings, enhance
from app.services.transcription.multichannel import ChannelReader
from app.services.transcription.quality import QualityThresholds, quality_report
from app.services.vocabulary import Vocabulary
from providers.emotion import EmotionClassifier, EmotionConfig
from schemas.options import TranscriptionOptions
from schemas.transcript import Transcript
from tests.providers.tiny_models import EMOTION_LABELS, build_tiny_emotion

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


ANSWER = (
    "I see. The invoice from March was paid twice, so we need a refund for the second payment. "
    "Could you send the confirmation to my office address?"
)
OVERLAP_S = 1.0


def make_call(folder: Path, seconds: float) -> Path:
    """A stereo call: ``PASSAGE`` on the left, ``ANSWER`` in another voice on the right, the
    turns alternating with ``OVERLAP_S`` of talking over each other, looped to ``seconds``."""
    turns = []
    for name, voice, text in (("a", "en-us", PASSAGE), ("b", "en+f4", ANSWER)):
        wav = folder / f"{name}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-w", str(wav), text], check=True)
        turns.append(decode_file(wav, max_duration_s=600).samples)
    first, second = turns
    start = len(first) - int(OVERLAP_S * 16_000)
    period = np.zeros((start + len(second), 2), dtype=np.float32)
    period[: len(first), 0] = first
    period[start:, 1] = second
    repeats = int(np.ceil(seconds * 16_000 / len(period)))
    frames = np.tile(period, (repeats, 1))[: int(seconds * 16_000)]
    clip = folder / "call.wav"
    with wave.open(str(clip), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(16_000)
        out.writeframes((np.clip(frames, -1, 1) * 32767).astype("<i2").tobytes())
    return clip


def bench_multichannel(settings: Settings, model: str, seconds: float, rounds: int) -> None:
    pipeline = build_pipeline(settings)
    chain = pipeline.registry.chain(model, TranscriptionOptions().task)
    options = TranscriptionOptions(language="en")
    limit = seconds + 10
    with tempfile.TemporaryDirectory() as tmp:
        clip = make_call(Path(tmp), seconds)

        def mono() -> Transcript:
            return pipeline.run(decode_file(clip, max_duration_s=limit), chain, options)

        def multichannel() -> Transcript:
            channels = ChannelReader(
                2, lambda c: decode_file(clip, max_duration_s=limit, channel=c)
            )
            mixed = decode_file(clip, max_duration_s=limit)
            return pipeline.run(
                mixed, chain, options.model_copy(update={"multichannel": True}), channels
            )

        pipeline.run(decode_file(clip, max_duration_s=limit), chain, options)  # load the model
        runs: dict[str, list[float]] = {"mono (downmix)": [], "multichannel": []}
        words: dict[str, int] = {}
        for _ in range(rounds):
            for name, fn in (("mono (downmix)", mono), ("multichannel", multichannel)):
                started = time.perf_counter()
                transcript = fn()
                runs[name].append(time.perf_counter() - started)
                words[name] = len(transcript.text.split())
    print(f"stereo call {seconds:.0f} s, {chain[0].label}, {rounds} round(s)")
    for name, times in runs.items():
        print(f"{name:16s} median {statistics.median(times):7.1f} s  {words[name]} words")
    ratio = statistics.median(runs["multichannel"]) / statistics.median(runs["mono (downmix)"])
    print(f"multichannel / mono: {ratio:.2f}")


def base_size_emotion(target: Path) -> Path:
    """A wav2vec2-base-shaped emotion classifier with random weights (speed, not labels)."""
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForSequenceClassification,
    )

    labels = dict(enumerate(EMOTION_LABELS))
    config = Wav2Vec2Config(id2label=labels, label2id={v: k for k, v in labels.items()})
    Wav2Vec2ForSequenceClassification(config).save_pretrained(target)
    Wav2Vec2FeatureExtractor(return_attention_mask=False).save_pretrained(target)
    return target


def emotion_model(choice: str, folder: Path) -> Path:
    if choice == "tiny":
        return build_tiny_emotion(folder / "tiny-emotion")
    if choice == "base":
        return base_size_emotion(folder / "base-size-emotion")
    return Path(choice)


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
    parser.add_argument("--multichannel", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--emotion-model", default="tiny", help="tiny, base or a directory")
    parser.add_argument("--emotion-batch-size", type=int, default=8)
    parser.add_argument("--emotion-repeat", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings()
    if args.multichannel:
        bench_multichannel(settings, args.model, args.seconds, args.rounds)
        return
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
    with tempfile.TemporaryDirectory() as tmp:
        model = emotion_model(args.emotion_model, Path(tmp))
        config = EmotionConfig(model=str(model), batch_size=args.emotion_batch_size)
        classifier = EmotionClassifier(config)
        name = f"emotion ({classifier.model_name})"
        started = time.perf_counter()
        labelled = classifier.label(transcript, audio)  # loads the model
        first_s = time.perf_counter() - started
        median, worst = timed(lambda: classifier.label(transcript, audio), args.emotion_repeat)
    share = median / 1000 / transcribe_s if transcribe_s > 0.01 else float("nan")
    print(
        f"{name:32s} median {median:8.2f} ms  "
        f"max {worst:8.2f} ms  ({share:.2%} of STT); first run with loading {first_s:.1f} s; "
        f"{len(transcript.segments)} segments, batch {args.emotion_batch_size}"
    )
    print(f"emotion: {labelled.metadata.emotion}")


if __name__ == "__main__":
    main()
