"""The one place that builds the application's objects from settings.

Settings to providers and their registry (aliases, fallback chains, circuit breakers), the
transcription pipeline, the inference pool, the jobs runtime and its workers, and the
:class:`Gateway` that a running server shares. ``stt-gateway serve``, the CLIs
(``transcribe``, ``worker``, ``transcribe --job``) and the tests all build through here.

Adding a provider: one module in ``providers/`` plus one entry in :func:`build_providers` (and
its settings in ``app.core.config``). Providers whose extra is not installed are still
registered: ``GET /v1/audio/providers`` then shows them unavailable with the reason, and their
models do not resolve.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from loguru import logger

from app.core import metrics
from app.core.config import Settings
from app.db.database import NOTIFY_CHANNEL, Database
from app.db.migrate import upgrade
from app.db.notify import PgListener
from app.services.jobs.audio_store import AudioStore
from app.services.jobs.handler import TranscriptionHandler
from app.services.jobs.runtime import JobsRuntime
from app.services.jobs.service import JobService
from app.services.jobs.url_ingest import UrlPolicy
from app.services.jobs.webhook_delivery import DeliveryConfig, WebhookDispatcher
from app.services.jobs.webhooks import WebhookOutbox
from app.services.streaming.manager import StreamingManager
from app.services.summaries.chat import ChatClient, ChatConfig
from app.services.summaries.summarizer import Summarizer
from app.services.transcription.audio_warnings import WarningThresholds
from app.services.transcription.enhance import EnhanceMode, EnhanceSettings
from app.services.transcription.inference import InferencePool
from app.services.transcription.pipeline import TranscriptionPipeline
from app.services.transcription.quality import QualityThresholds
from app.services.transcription.service import Infer, TranscriptionService, call_directly
from app.services.vocabulary import load_vocabulary
from providers.base import Provider
from providers.breaker import BreakerBoard, BreakerPolicy
from providers.diarization import DiarizerConfig, SpeakerDiarizer
from providers.emotion import EmotionClassifier, EmotionConfig
from providers.external import ExternalConfig, ExternalProvider
from providers.faster_whisper import FasterWhisperProvider
from providers.faster_whisper.provider import FasterWhisperConfig
from providers.hf_transformers import TransformersConfig, TransformersProvider
from providers.http_retry import RetryPolicy
from providers.mock import MockProvider
from providers.nemo_asr import NemoConfig, NemoProvider
from providers.registry import ProviderRegistry, Resolved
from providers.segmentation import SegmentRules
from schemas.errors import ServiceUnavailable
from schemas.jobs import Pool
from workers.runner import WorkerRunner
from workers.sdk import JobQueue, QueueConfig

# -- providers, registry, pipeline ----------------------------------------------------------
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
        segments=SegmentRules(max_s=settings.segment_max_s, pause_s=settings.segment_pause_s),
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


def build_pipeline(
    settings: Settings, registry: ProviderRegistry | None = None
) -> TranscriptionPipeline:
    """The transcription pipeline over ``registry`` (default: :func:`build_registry`)."""
    diarizer = SpeakerDiarizer(
        DiarizerConfig(
            backend=settings.diarization_backend,
            pyannote_path=settings.diarization_pyannote_path,
            device=settings.diarization_device,
            distance_threshold=settings.diarization_threshold,
            max_speakers=settings.diarization_max_speakers,
        )
    )
    if settings.enable_diarization and not diarizer.available:
        logger.warning("STT_ENABLE_DIARIZATION is set but {}", diarizer.missing)
    emotion = EmotionClassifier(
        EmotionConfig(
            model=settings.emotion_model,
            allow_downloads=settings.allow_model_downloads,
            force_cpu=settings.force_cpu,
            batch_size=settings.emotion_batch_size,
        )
    )
    if settings.emotion_model and not emotion.available:
        logger.warning("STT_EMOTION_MODEL is set but {}", emotion.missing)
    return TranscriptionPipeline(
        registry=registry or build_registry(settings),
        vocabulary=load_vocabulary(settings.vocabulary, settings.vocabulary_file),
        diarizer=diarizer,
        language_model=settings.language_detection_model or None,
        on_fallback=count_fallback,
        default_prompts=settings.default_prompts,
        quality=(
            QualityThresholds(settings.quality_high_confidence, settings.quality_low_confidence)
            if settings.quality_report
            else None
        ),
        warnings=(
            WarningThresholds(
                min_rms_dbfs=settings.warn_min_rms_dbfs,
                silence_dbfs=settings.warn_silence_dbfs,
                silence_fraction=settings.warn_silence_fraction,
                clipping_fraction=settings.warn_clipping_fraction,
                min_speech_s=settings.warn_min_speech_s,
            )
            if settings.audio_warnings
            else None
        ),
        enhancement=enhance_settings(settings),
        emotion=emotion,
    )


def enhance_settings(settings: Settings) -> EnhanceSettings:
    """The enhancement stage as ``STT_ENHANCE*`` configure it; ``auto`` decides with the
    ``low_level`` warning's thresholds."""
    return EnhanceSettings(
        mode=EnhanceMode(settings.enhance),
        target_dbfs=settings.enhance_target_dbfs,
        max_gain_db=settings.enhance_max_gain_db,
        highpass_hz=settings.enhance_highpass_hz,
        lowpass_hz=settings.enhance_lowpass_hz,
        auto_below_dbfs=settings.warn_min_rms_dbfs,
        silence_dbfs=settings.warn_silence_dbfs,
    )


def build_transcription_service(
    settings: Settings, pipeline: TranscriptionPipeline
) -> TranscriptionService:
    """The transcription service over ``pipeline`` with its own bounded inference pool."""
    pool = InferencePool(
        max_concurrent=settings.max_concurrent_transcriptions,
        max_queued=settings.max_queued_transcriptions,
    )
    return TranscriptionService(
        pool,
        pipeline,
        max_audio_duration_s=settings.max_audio_duration_s,
        max_channels=settings.max_audio_channels,
    )


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


def build_summarizer(settings: Settings) -> Summarizer | None:
    """Meeting summaries by ``STT_SUMMARY_API_BASE`` (None when it is not set); the endpoint
    passes the URL ingestion guard (``STT_URL_ALLOWLIST``) before each summary."""
    if not settings.summary_api_base or not settings.summary_model:
        return None
    key = settings.summary_api_key.get_secret_value() if settings.summary_api_key else None
    chat = ChatClient(
        ChatConfig(
            base_url=settings.summary_api_base,
            model=settings.summary_model,
            api_key=key,
            timeout_s=settings.summary_timeout_s,
            answer_tokens=settings.summary_answer_tokens,
            json_mode=settings.summary_json_mode,
            retry=RetryPolicy(
                max_retries=settings.summary_max_retries, backoff_s=settings.summary_backoff_s
            ),
        ),
        UrlPolicy.from_settings(settings).check,
    )
    return Summarizer(chat, context_tokens=settings.summary_context_tokens)


# -- jobs ----------------------------------------------------------------------------------
T = TypeVar("T")
CAPACITY_RETRY_S = 0.5


def open_database(settings: Settings) -> tuple[Database, PgListener | None]:
    """Connect, migrate to head, and listen for wake-ups when the backend can deliver them."""
    db = Database(settings.resolved_database_url)
    upgrade(db)
    listener = None
    if db.dialect.notify:
        listener = PgListener(db.libpq_url, NOTIFY_CHANNEL, db.wakeup)
        listener.start()
    return db, listener


def queue_config(settings: Settings) -> QueueConfig:
    return QueueConfig(
        lease_seconds=settings.job_lease_seconds,
        retry_base_s=settings.job_retry_base_s,
        retry_max_s=settings.job_retry_max_s,
    )


def build_queue(settings: Settings, db: Database) -> JobQueue:
    """The job queue; every terminal state writes its webhook event in the same transaction."""
    return JobQueue(db, queue_config(settings), on_terminal=WebhookOutbox(settings, db).record)


def build_dispatcher(settings: Settings, db: Database) -> WebhookDispatcher:
    """The webhook delivery loop of ``serve`` (not started)."""
    return WebhookDispatcher(
        db, DeliveryConfig.from_settings(settings), UrlPolicy.from_settings(settings)
    )


def loop_bridge(pool: InferencePool, loop: asyncio.AbstractEventLoop) -> Infer:
    """Run worker-thread inference in the gateway's bounded pool (shared with REST requests).

    When the pool's wait queue is full the job waits its turn instead of failing. Reports the
    seconds from the first try to the turn (refused tries included) as the wait.
    """

    def infer(fn: Callable[..., T], *args: object) -> tuple[T, float]:
        started = time.perf_counter()
        while True:
            tried = time.perf_counter()
            future = asyncio.run_coroutine_threadsafe(pool.run(fn, *args), loop)
            try:
                result, waited = future.result()
            except ServiceUnavailable as exc:
                if exc.code != "capacity_exhausted":
                    raise
                time.sleep(CAPACITY_RETRY_S)
                continue
            return result, tried - started + waited

    return infer


def check_gpu(settings: Settings, pool: Pool) -> None:
    """A GPU worker without CUDA runs on the CPU (int8), said once with a log line and a metric.
    With CUDA, out-of-memory and CUDA errors fall back per request to faster-whisper's CPU twin
    in the registry's chain."""
    if pool is not Pool.GPU or settings.force_cpu:
        return
    from providers.faster_whisper.provider import cuda_device_count

    if cuda_device_count() == 0:
        logger.warning("GPU worker: no CUDA device found; transcribing on CPU (int8) instead")
        metrics.record_fallback("cuda", "cpu", "cuda_missing")


def build_worker(
    settings: Settings,
    db: Database,
    pipeline: TranscriptionPipeline,
    *,
    pool: Pool,
    concurrency: int,
    infer: Infer = call_directly,
) -> WorkerRunner:
    queue = build_queue(settings, db)
    handler = TranscriptionHandler(
        settings=settings,
        queue=queue,
        pipeline=pipeline,
        store=AudioStore.from_settings(settings),
        infer=infer,
        summarizer=build_summarizer(settings),
    )
    return WorkerRunner(
        queue,
        handler,
        pool=pool,
        concurrency=concurrency,
        poll_s=settings.worker_poll_s,
        grace_s=settings.worker_shutdown_grace_s,
    )


def open_jobs_runtime(settings: Settings) -> JobsRuntime:
    """Database (migrated), queue and job service; no worker yet."""
    db, listener = open_database(settings)
    queue = build_queue(settings, db)
    service = JobService(settings, queue, AudioStore.from_settings(settings))
    return JobsRuntime(settings, db, listener, queue, service)


def start_local_worker(
    runtime: JobsRuntime,
    pipeline: TranscriptionPipeline,
    *,
    concurrency: int,
    infer: Infer = call_directly,
) -> None:
    """A worker in this process on ``runtime``'s database: ``serve``'s embedded worker
    (``infer`` runs in the gateway's inference pool) and ``transcribe --job``'s."""
    runtime.start_worker(
        build_worker(
            runtime.settings,
            runtime.db,
            pipeline,
            pool=Pool.ANY,
            concurrency=concurrency,
            infer=infer,
        )
    )


# -- the running gateway -------------------------------------------------------------------
@dataclass
class Gateway:
    settings: Settings
    pool: InferencePool
    transcription: TranscriptionService
    pipeline: TranscriptionPipeline
    streaming: StreamingManager
    jobs: JobsRuntime
    summarizer: Summarizer | None = None  # STT_SUMMARY_API_BASE: POST /v1/media/{id}/summary

    @property
    def registry(self) -> ProviderRegistry:
        return self.pipeline.registry

    def start_workers(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the webhook delivery loop and the in-process job worker
        (``STT_EMBEDDED_WORKER``) on the shared pool."""
        self.jobs.start_webhooks(build_dispatcher(self.settings, self.jobs.db))
        if self.settings.embedded_worker:
            start_local_worker(
                self.jobs,
                self.pipeline,
                concurrency=self.settings.embedded_worker_concurrency,
                infer=loop_bridge(self.pool, loop),
            )

    def close(self) -> None:
        self.jobs.close()
        self.pool.shutdown()
        self.streaming.close()
        if self.summarizer is not None:
            self.summarizer.close()


def build_gateway(settings: Settings) -> Gateway:
    settings.tmp_dir.mkdir(parents=True, exist_ok=True)
    pipeline = build_pipeline(settings)
    service = build_transcription_service(settings, pipeline)
    return Gateway(
        settings,
        service.pool,
        service,
        pipeline=pipeline,
        streaming=StreamingManager(settings, pipeline.vocabulary),
        jobs=open_jobs_runtime(settings),
        summarizer=build_summarizer(settings),
    )
