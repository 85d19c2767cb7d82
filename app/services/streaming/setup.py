"""From a client's ``start`` (or a Realtime session configuration translated to one) to a
live engine: validation against the registry and limits, then the engine itself."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.config import Settings
from app.services.streaming.engine import LiveEngineConfig, OnlineTranscriber
from app.services.streaming.manager import provider_decoder
from app.services.streaming.vad import StreamingVad
from app.services.vocabulary import Vocabulary, default_prompt
from providers.registry import OPENAI_ALIAS, ProviderRegistry, Resolved
from schemas.errors import CapabilityNotSupported, InvalidRequest
from schemas.options import TranscriptionOptions
from schemas.streaming import ResolvedConfig, StartMessage, VadConfig

DEFAULT_PREROLL_MS = LiveEngineConfig.preroll_ms


@dataclass(frozen=True)
class PendingStart:
    """A validated ``start``, not yet applied: the engine is built from it in the decoder."""

    start: StartMessage
    target: Resolved
    config: ResolvedConfig


def resolve_start(
    start: StartMessage, settings: Settings, registry: ProviderRegistry
) -> PendingStart:
    """Validate ``start`` against the registry and limits; raises a reportable error."""
    s = settings
    target = registry.resolve(start.model or OPENAI_ALIAS)
    if not target.provider.capabilities().streaming:
        raise CapabilityNotSupported(
            f"model '{target.label}' does not support live streaming", param="model"
        )
    beam = start.beam_size or s.stream_beam_size
    if beam > s.max_beam_size:
        raise InvalidRequest(f"beam_size must be at most {s.max_beam_size}", param="beam_size")
    if start.prompt and len(start.prompt) > s.max_prompt_chars:
        raise InvalidRequest(
            f"prompt must be at most {s.max_prompt_chars} characters", param="prompt"
        )
    preroll = start.vad.preroll_ms
    vad = VadConfig(
        enabled=start.vad.enabled,
        silence_ms=start.vad.silence_ms or s.stream_vad_silence_ms,
        threshold=start.vad.threshold or s.stream_vad_threshold,
        preroll_ms=DEFAULT_PREROLL_MS if preroll is None else preroll,
    )
    config = ResolvedConfig(
        model=target.label,
        language=start.language,
        sample_rate=start.sample_rate,
        encoding=start.encoding,
        partials=start.partials,
        beam_size=beam,
        vad=vad,
    )
    return PendingStart(start, target, config)


def build_engine(
    pending: PendingStart, settings: Settings, vocabulary: Vocabulary | None = None
) -> OnlineTranscriber:
    """The session's engine (blocking: loads the VAD model; run it in the decode pool).

    ``vocabulary`` corrects the session's finals; without a ``prompt``, a session whose
    ``language`` is given starts with that language's ``STT_DEFAULT_PROMPTS`` entry."""
    start, config = pending.start, pending.config
    options = TranscriptionOptions(
        language=start.language,
        beam_size=config.beam_size,
        best_of=1,
        temperature=0.0,
        word_timestamps=True,
    )
    vad = config.vad
    engine_config = LiveEngineConfig(
        partials=start.partials,
        silence_ms=vad.silence_ms or settings.stream_vad_silence_ms,
        preroll_ms=DEFAULT_PREROLL_MS if vad.preroll_ms is None else vad.preroll_ms,
        max_buffer_s=settings.stream_max_buffer_s,
        initial_prompt=start.prompt or default_prompt(settings.default_prompts, start.language),
        vocabulary=vocabulary,
    )
    detector = StreamingVad(vad.threshold or settings.stream_vad_threshold) if vad.enabled else None
    return OnlineTranscriber(provider_decoder(pending.target, options), engine_config, detector)
