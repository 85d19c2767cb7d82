"""Build the optional providers, fallback/breaker options and the pipeline from settings.

Kept apart from ``app.services.gateway`` so the gateway stays a short wiring module. Providers
whose extra is not installed are still registered: ``GET /v1/audio/providers`` then shows them
unavailable with the reason, and their models do not resolve.
"""

from __future__ import annotations

from typing import Any

from loguru import logger

from app.core import metrics
from app.core.config import Settings
from app.services.pipeline import TranscriptionPipeline
from app.services.vocabulary import load_vocabulary
from providers.base import Provider
from providers.breaker import BreakerBoard, BreakerPolicy
from providers.diarization import DiarizerConfig, SpeakerDiarizer
from providers.external import ExternalConfig, ExternalProvider
from providers.faster_whisper import FasterWhisperProvider
from providers.faster_whisper.provider import FasterWhisperConfig
from providers.hf_transformers import TransformersConfig, TransformersProvider
from providers.nemo_asr import NemoConfig, NemoProvider
from providers.registry import ProviderRegistry, Resolved

CPU_TWIN_SUFFIX = "-cpu"


def faster_whisper_config(settings: Settings, *, force_cpu: bool = False) -> FasterWhisperConfig:
    return FasterWhisperConfig(
        model_dir=settings.model_dir,
        cache_dir=settings.model_cache_dir,
        allow_downloads=settings.allow_model_downloads,
        force_cpu=force_cpu or settings.force_cpu,
        cpu_threads=settings.cpu_threads,
        batched_min_duration_s=settings.batched_min_duration_s,
        batch_size=settings.batch_size,
        live_workers=settings.stream_decode_workers,
        live_cpu_threads=settings.stream_cpu_threads,
        live_context_s=settings.stream_encoder_context_s,
        max_prompt_tokens=settings.max_prompt_tokens,
    )


def build_extra_providers(settings: Settings, fw: FasterWhisperProvider) -> dict[str, Provider]:
    """transformers, nemo, external (when a base URL is set) and faster-whisper's CPU twin."""
    providers: dict[str, Provider] = {}
    hf = TransformersProvider(
        TransformersConfig(
            models=settings.transformers_models,
            allow_downloads=settings.allow_model_downloads,
            force_cpu=settings.force_cpu,
        )
    )
    nemo = NemoProvider(
        NemoConfig(
            models=settings.nemo_models,
            allow_downloads=settings.allow_model_downloads,
            force_cpu=settings.force_cpu,
        )
    )
    providers[hf.name] = hf
    providers[nemo.name] = nemo
    if settings.external_base_url:
        key = settings.external_api_key.get_secret_value() if settings.external_api_key else None
        external = ExternalProvider(
            ExternalConfig(
                base_url=settings.external_base_url,
                api_key=key,
                models=settings.external_models,
                timeout_s=settings.external_timeout_s,
                connect_timeout_s=settings.external_connect_timeout_s,
                max_retries=settings.external_max_retries,
                backoff_s=settings.external_backoff_s,
                max_backoff_s=settings.external_max_backoff_s,
            )
        )
        providers[external.name] = external
    if fw.device == "cuda":  # GPU -> CPU step of every faster-whisper chain (OOM, CUDA errors)
        twin = FasterWhisperProvider(faster_whisper_config(settings, force_cpu=True))
        twin.name = fw.name + CPU_TWIN_SUFFIX
        providers[twin.name] = twin
    return providers


def build_registry_options(settings: Settings) -> dict[str, Any]:
    twins = {"faster-whisper": "faster-whisper" + CPU_TWIN_SUFFIX}
    return {
        "fallbacks": settings.fallbacks,
        "cpu_twins": twins,
        "breakers": BreakerBoard(
            BreakerPolicy(
                failure_threshold=settings.breaker_failure_threshold,
                reset_after_s=settings.breaker_reset_s,
            )
        ),
    }


def count_fallback(source: Resolved, target: Resolved, reason: str) -> None:
    metrics.record_fallback(source.provider.name, target.provider.name, reason)


def build_pipeline(settings: Settings, registry: ProviderRegistry) -> TranscriptionPipeline:
    diarizer = SpeakerDiarizer(
        DiarizerConfig(
            device=settings.diarization_device,
            distance_threshold=settings.diarization_threshold,
            max_speakers=settings.diarization_max_speakers,
        )
    )
    if settings.enable_diarization and not diarizer.available:
        logger.warning("STT_ENABLE_DIARIZATION is set but {}", diarizer.missing)
    return TranscriptionPipeline(
        registry=registry,
        vocabulary=load_vocabulary(settings.vocabulary, settings.vocabulary_file),
        diarizer=diarizer,
        language_model=settings.language_detection_model or None,
        on_fallback=count_fallback,
    )
