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
