"""A Realtime transcription session's configuration: updates merged in, rendered back.

OpenAI's semantics: ``session.update`` changes only the fields it carries, so an update is
merged into the current :class:`RealtimeConfig`. ``turn_detection: null`` (present, null) turns
server VAD off: the client then ends turns with ``input_audio_buffer.commit``. The engine is
configured through the native protocol's :class:`StartMessage`, so both protocols go through
the same validation (model, prompt length, capabilities).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from providers.registry import OPENAI_ALIAS
from schemas.realtime import (
    LOGPROBS,
    AudioFormatType,
    BetaSessionUpdate,
    ServerVad,
    SessionUpdate,
    Transcription,
    new_id,
)
from schemas.streaming import Encoding, ResolvedConfig, StartMessage, VadConfig

#: OpenAI's realtime transcription models run on the gateway's default model (``whisper-1``)
OPENAI_TRANSCRIBE_MODELS = frozenset(
    {"whisper-1", "gpt-4o-transcribe", "gpt-4o-mini-transcribe", "gpt-4o-transcribe-latest"}
)
RATES: dict[AudioFormatType, int] = {"audio/pcm": 24_000, "audio/pcmu": 8_000, "audio/pcma": 8_000}
_BETA_FORMATS: dict[str, AudioFormatType] = {
    "pcm16": "audio/pcm",
    "g711_ulaw": "audio/pcmu",
    "g711_alaw": "audio/pcma",
}
_BETA_NAMES = {v: k for k, v in _BETA_FORMATS.items()}


@dataclass(frozen=True)
class RealtimeConfig:
    id: str
    format: AudioFormatType = "audio/pcm"
    transcription: Transcription = field(default_factory=Transcription)
    turn_detection: ServerVad | None = field(default_factory=ServerVad)
    logprobs: bool = False

    @classmethod
    def new(cls) -> RealtimeConfig:
        return cls(id=new_id("sess"))

    def updated(self, event: SessionUpdate | BetaSessionUpdate) -> RealtimeConfig:
        """This configuration with the fields ``event`` carries replaced."""
        changes: dict[str, object] = {}
        if isinstance(event, SessionUpdate):
            session = event.session
            audio_input = session.audio.input if session.audio else None
            if audio_input is not None:
                if audio_input.format is not None:
                    changes["format"] = audio_input.format.type
                if audio_input.transcription is not None:
                    changes["transcription"] = audio_input.transcription
                if "turn_detection" in audio_input.model_fields_set:
                    changes["turn_detection"] = audio_input.turn_detection
        else:
            beta = event.session
            if beta.input_audio_format is not None:
                changes["format"] = _BETA_FORMATS[beta.input_audio_format]
            if beta.input_audio_transcription is not None:
                changes["transcription"] = beta.input_audio_transcription
            if "turn_detection" in beta.model_fields_set:
                changes["turn_detection"] = beta.turn_detection
        include = event.session.include
        if include is not None:
            changes["logprobs"] = LOGPROBS in include
        return replace(self, **changes)  # type: ignore[arg-type]

    def start_message(self) -> StartMessage:
        """The engine configuration, in the native protocol's terms (validated there)."""
        t, vad = self.transcription, self.turn_detection
        model = t.model
        return StartMessage(
            model=OPENAI_ALIAS if model is None or model in OPENAI_TRANSCRIBE_MODELS else model,
            language=t.language,
            sample_rate=RATES[self.format],
            encoding=Encoding.PCM16,  # G.711 is expanded to PCM16 before the converter
            partials=True,
            prompt=t.prompt,
            vad=VadConfig(enabled=False)
            if vad is None
            else VadConfig(
                silence_ms=vad.silence_duration_ms,
                threshold=vad.threshold,
                preroll_ms=vad.prefix_padding_ms,
            ),
        )

    def render(self, resolved: ResolvedConfig, *, beta: bool) -> dict[str, object]:
        """The ``session`` object of ``session.created/updated`` (or the beta shape)."""
        t = self.transcription
        transcription = {"model": t.model or resolved.model, "language": t.language}
        transcription["prompt"] = t.prompt or ""
        vad = resolved.vad
        turn_detection = (
            {
                "type": "server_vad",
                "threshold": vad.threshold,
                "prefix_padding_ms": vad.preroll_ms,
                "silence_duration_ms": vad.silence_ms,
            }
            if vad.enabled
            else None
        )
        include = [LOGPROBS] if self.logprobs else []
        if beta:
            return {
                "id": self.id,
                "object": "realtime.transcription_session",
                "input_audio_format": _BETA_NAMES[self.format],
                "input_audio_transcription": transcription,
                "turn_detection": turn_detection,
                "include": include,
            }
        audio_format: dict[str, object] = {"type": self.format}
        if self.format == "audio/pcm":
            audio_format["rate"] = RATES["audio/pcm"]
        return {
            "type": "transcription",
            "id": self.id,
            "object": "realtime.transcription_session",
            "audio": {
                "input": {
                    "format": audio_format,
                    "transcription": transcription,
                    "turn_detection": turn_detection,
                    "noise_reduction": None,
                }
            },
            "include": include,
        }
