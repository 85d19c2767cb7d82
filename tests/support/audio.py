"""Synthesise test speech with espeak-ng and convert it with ffmpeg (no fixtures on disk)."""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path

import jiwer

CACHE = Path("/tmp/stt-test-audio")


def speech(
    text: str,
    *,
    voice: str = "en-us",
    speed: int = 150,
    fmt: str = "wav",
    rate: int | None = None,
    gap_ms: int = 0,
) -> Path:
    """Speak ``text`` with espeak-ng into ``fmt``; cached by content so sessions share work.

    ``gap_ms`` inserts that much silence between sentences (espeak's word gap is per word,
    so sentences are voiced separately and joined with sox).
    """
    key = hashlib.sha1(f"{text}|{voice}|{speed}|{fmt}|{rate}|{gap_ms}".encode()).hexdigest()[:16]
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"{key}.{fmt}"
    if out.exists():
        return out
    wav = CACHE / f"{key}.src.wav"
    if gap_ms:
        parts = []
        for i, sentence in enumerate(s for s in re.split(r"(?<=[.!?])\s+", text) if s):
            part = CACHE / f"{key}.{i}.wav"
            subprocess.run(
                ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(part), sentence], check=True
            )
            parts.append(part)
        _join_with_silence(parts, wav, gap_ms)
    else:
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True
        )
    args = ["ffmpeg", "-loglevel", "error", "-y", "-i", str(wav)]
    if rate:
        args += ["-ar", str(rate)]
    subprocess.run([*args, str(out)], check=True)
    return out


def festival_speech(text: str, *, voice: str = "msu_ru_nsh_clunits") -> Path:
    """Speak ``text`` with a Festival voice (Debian's festvox-ru for the default) into a wav;
    cached by content like :func:`speech`."""
    key = hashlib.sha1(f"festival|{text}|{voice}".encode()).hexdigest()[:16]
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / f"{key}.wav"
    if not out.exists():
        source = CACHE / f"{key}.txt"
        source.write_text(text, "utf-8")
        part = CACHE / f"{key}.part.wav"
        subprocess.run(
            ["text2wave", "-eval", f"(voice_{voice})", str(source), "-o", str(part)], check=True
        )
        part.rename(out)
    return out


def _join_with_silence(parts: list[Path], out: Path, gap_ms: int) -> None:
    padded = []
    for part in parts:
        p = part.with_suffix(".pad.wav")
        subprocess.run(["sox", str(part), str(p), "pad", "0", f"{gap_ms / 1000:.3f}"], check=True)
        padded.append(str(p))
    subprocess.run(["sox", *padded, str(out)], check=True)


_NORMALISE = jiwer.Compose(
    [
        jiwer.ToLowerCase(),
        jiwer.RemovePunctuation(),
        jiwer.RemoveMultipleSpaces(),
        jiwer.Strip(),
        jiwer.ReduceToListOfListOfWords(),
    ]
)


def wer(reference: str, hypothesis: str) -> float:
    """Word error rate after lower-casing and removing punctuation."""
    return float(
        jiwer.wer(
            reference, hypothesis, reference_transform=_NORMALISE, hypothesis_transform=_NORMALISE
        )
    )


# Plain sentences that espeak-ng voices clearly enough for Whisper tiny.en (WER ~0-0.07).
SAMPLE_TEXT = (
    "Please remember to bring your umbrella tomorrow morning. The weather today is sunny with "
    "a light breeze from the west. Our team will meet at the station before the train leaves."
)


_SUBJECTS = ["The old farmer", "My younger sister", "Our new teacher", "The tired driver",
             "A friendly doctor", "The small company", "Her best friend", "The city council",
             "A young engineer", "The hotel manager", "Every student", "The night nurse"]
_VERBS = ["carried", "painted", "repaired", "delivered", "ordered", "cleaned", "described",
          "opened", "borrowed", "measured", "planted", "visited"]
_OBJECTS = ["a wooden table", "the green bicycle", "three heavy boxes", "the kitchen window",
            "a large map of the river", "the broken radio", "two baskets of apples",
            "the garden fence", "a letter from the bank", "the blue umbrella",
            "the station clock", "a basket of fresh bread"]
_TIMES = ["on Monday morning", "before lunch", "after the long meeting", "late in the evening",
          "during the summer holiday", "at the end of the week", "in the early spring",
          "just before sunset", "on a rainy afternoon", "after breakfast"]


def varied_text(sentences: int, seed: int = 7) -> str:
    """Distinct plain sentences; unlike repeated text it never trips Whisper's
    compression-ratio fallback, so timings reflect ordinary speech."""
    import random

    rng = random.Random(seed)
    return " ".join(f"{rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)} "
                    f"{rng.choice(_TIMES)}." for _ in range(sentences))
