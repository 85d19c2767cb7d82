"""Build the long-lived objects a running gateway shares: providers, registry, pool, service."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from app.core.config import Settings
from app.services.inference import InferenceRunner
from app.services.jobs_runtime import JobsRuntime
from app.services.pipeline import TranscriptionPipeline
from app.services.provider_setup import (
    build_extra_providers,
    build_pipeline,
    build_registry_options,
    faster_whisper_config,
)
from app.services.streaming.manager import StreamingManager
from app.services.transcription import TranscriptionService
from providers.base import Provider
from providers.faster_whisper import FasterWhisperProvider
from providers.mock import MockProvider
from providers.registry import ProviderRegistry


@dataclass
class Gateway:
    settings: Settings
    runner: InferenceRunner
    transcription: TranscriptionService
    pipeline: TranscriptionPipeline
    streaming: StreamingManager
    jobs: JobsRuntime

    @property
    def registry(self) -> ProviderRegistry:
        return self.pipeline.registry

    def start_workers(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the in-process job worker (``STT_EMBEDDED_WORKER``) on the shared pool."""
        self.jobs.start_embedded_worker(self.pipeline, self.runner, loop)

    def close(self) -> None:
        self.jobs.close()
        self.runner.shutdown()
        self.streaming.close()


def build_providers(settings: Settings) -> dict[str, Provider]:
    fw = FasterWhisperProvider(faster_whisper_config(settings))
    mock = MockProvider(fixture=settings.mock_fixture, seed=settings.mock_seed)
    return {fw.name: fw, mock.name: mock, **build_extra_providers(settings, fw)}


def build_registry(settings: Settings) -> ProviderRegistry:
    """Every provider, the aliases, fallback chains and circuit breakers the settings name."""
    return ProviderRegistry(
        build_providers(settings),
        default_provider=settings.default_provider,
        default_model=settings.default_model,
        translation_model=settings.translation_model,
        **build_registry_options(settings),
    )


def build_gateway(settings: Settings) -> Gateway:
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    registry = build_registry(settings)
    pipeline = build_pipeline(settings, registry)
    runner = InferenceRunner(
        max_concurrent=settings.max_concurrent_transcriptions,
        max_queued=settings.max_queued_transcriptions,
    )
    service = TranscriptionService(
        runner, pipeline, max_audio_duration_s=settings.max_audio_duration_s
    )
    return Gateway(
        settings,
        runner,
        service,
        pipeline=pipeline,
        streaming=StreamingManager(settings),
        jobs=JobsRuntime.open(settings),
    )
