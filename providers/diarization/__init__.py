"""Speaker diarization (Docs/Diarization.md): who spoke when, put onto transcripts.

Backends: ``builtin`` (Silero VAD, sliding-window Resemblyzer embeddings, clustering,
resegmentation; the ``diarization`` extra, fully offline) and ``pyannote`` (a local
pyannote.audio pipeline; the ``diarization-pyannote`` extra).
"""

from providers.diarization.clustering import cluster
from providers.diarization.diarizer import (
    DiarizationBackend,
    DiarizerConfig,
    SpeakerDiarizer,
)
from providers.diarization.timeline import Turn, speaker_label
from providers.diarization.words import assign_speakers

__all__ = [
    "DiarizationBackend",
    "DiarizerConfig",
    "SpeakerDiarizer",
    "Turn",
    "assign_speakers",
    "cluster",
    "speaker_label",
]
