"""The diarization stage's backends: the pyannote code path with a stand-in ``pyannote.audio``
(no weights can be had here: what the real pipeline computes is not exercised, see
Docs/Diarization.md), and the typed error when a backend cannot run."""

from __future__ import annotations

import importlib.machinery
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from pyannote.core import Annotation, Segment

from providers.base import AudioInput
from providers.diarization import DiarizerConfig, SpeakerDiarizer
from schemas.errors import CapabilityNotSupported
from schemas.options import DiarizationOptions
from schemas.transcript import Segment as TextSegment
from schemas.transcript import TranscriptMetadata, Word, build_transcript


class FakePipeline:
    """Records what the gateway hands a pyannote pipeline; answers with fixed turns."""

    loaded_from: ClassVar[Path | None] = None
    calls: ClassVar[list[tuple[Any, dict[str, Any]]]] = []

    def __init__(self, output: Any) -> None:
        self.output = output
        self.device: Any = None

    @classmethod
    def factory(cls, output: Any) -> type:
        class Pipeline:
            @staticmethod
            def from_pretrained(path: Path) -> FakePipeline:
                cls.loaded_from = path
                return cls(output)

        return Pipeline

    def to(self, device: Any) -> FakePipeline:
        self.device = device
        return self

    def __call__(self, file: dict[str, Any], **hints: Any) -> Any:
        FakePipeline.calls.append((file, hints))
        return self.output


def _annotation() -> Annotation:
    annotation = Annotation()
    annotation[Segment(0.5, 2.0)] = "SPEAKER_01"
    annotation[Segment(1.8, 3.5)] = "SPEAKER_00"  # overlaps SPEAKER_01 from 1.8 to 2.0
    return annotation


def _install(monkeypatch: pytest.MonkeyPatch, output: Any) -> None:
    module = types.ModuleType("pyannote.audio")
    module.__spec__ = importlib.machinery.ModuleSpec("pyannote.audio", None)
    module.Pipeline = FakePipeline.factory(output)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pyannote.audio", module)
    FakePipeline.calls = []


@pytest.mark.parametrize("wrapped", [False, True], ids=["pyannote-3-annotation", "pyannote-4"])
def test_pyannote_backend_passes_audio_and_hints_and_keeps_overlap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, wrapped: bool
) -> None:
    pytest.importorskip("torch")
    output = types.SimpleNamespace(speaker_diarization=_annotation()) if wrapped else _annotation()
    _install(monkeypatch, output)
    config = tmp_path / "config.yaml"
    config.write_text("pipeline: {}\n")
    diarizer = SpeakerDiarizer(DiarizerConfig(backend="pyannote", pyannote_path=config))
    assert diarizer.available, diarizer.missing
    audio = AudioInput(np.zeros(16_000 * 4, dtype=np.float32))

    turns = diarizer.timeline(audio, DiarizationOptions(min_speakers=2, max_speakers=3))

    assert FakePipeline.loaded_from == config
    file, hints = FakePipeline.calls[0]
    assert tuple(file["waveform"].shape) == (1, 16_000 * 4) and file["sample_rate"] == 16_000
    assert hints == {"min_speakers": 2, "max_speakers": 3}
    assert [(t.start, t.end, t.speaker) for t in turns] == [(0.5, 2.0, "A"), (1.8, 3.5, "B")]
    words = [
        Word(word=w, start=a, end=b, probability=0.9)
        for w, a, b in [("hi", 0.6, 1.0), ("there", 1.1, 1.9), ("hello", 2.2, 3.0)]
    ]
    transcript = build_transcript(
        segments=[TextSegment(id=0, start=0.6, end=3.0, text="hi there hello", words=words)],
        language="en",
        duration=4.0,
        metadata=TranscriptMetadata(provider="test", model="test"),
    )
    labelled = diarizer.diarize(transcript, audio, DiarizationOptions())
    assert [(s.text, s.speaker) for s in labelled.segments] == [("hi there", "A"), ("hello", "B")]


def test_a_backend_that_cannot_run_is_a_typed_error(tmp_path: Path) -> None:
    no_path = SpeakerDiarizer(
        DiarizerConfig(backend="pyannote", pyannote_path=tmp_path / "missing.yaml")
    )
    assert not no_path.available and no_path.missing
    with pytest.raises(CapabilityNotSupported):
        no_path.timeline(AudioInput(np.zeros(16_000, dtype=np.float32)), DiarizationOptions())
