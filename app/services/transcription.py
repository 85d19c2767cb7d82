"""Orchestrates one transcription: decode off the loop, run the provider in the bounded pool."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path

import anyio

from app.core import metrics, tracing
from app.core.log_context import bind
from app.services.audio import decode_file
from app.services.inference import InferenceRunner
from app.services.pipeline import TranscriptionPipeline
from providers.base import AudioInput
from providers.registry import Resolved
from schemas.options import TranscriptionOptions
from schemas.transcript import Segment, Transcript, clean_text


class TranscriptionService:
    def __init__(
        self,
        runner: InferenceRunner,
        pipeline: TranscriptionPipeline,
        *,
        max_audio_duration_s: float,
    ) -> None:
        self._runner = runner
        self._max_duration = max_audio_duration_s
        self._pipeline = pipeline

    async def decode(self, path: Path) -> AudioInput:
        return await anyio.to_thread.run_sync(
            lambda: decode_file(path, max_duration_s=self._max_duration)
        )

    async def transcribe(
        self, audio: AudioInput, chain: Sequence[Resolved], options: TranscriptionOptions
    ) -> Transcript:
        """``chain``: the requested target, then its fallbacks; the pipeline also diarizes and
        applies the custom vocabulary as ``options`` ask (``app.services.pipeline``)."""
        started = time.perf_counter()
        with transcription_span(chain[0], audio):
            transcript, waited = await self._runner.run(
                self._pipeline.run, audio, list(chain), options
            )
        observe_transcription(transcript, audio, time.perf_counter() - started - waited)
        return transcript.with_metadata(queue_latency_ms=round(waited * 1000))

    async def stream_segments(
        self, audio: AudioInput, target: Resolved, options: TranscriptionOptions
    ) -> AsyncIterator[Segment]:
        """Segments as the engine decodes them, cleaned and vocabulary-corrected as in the
        final transcript (no fallback chain or diarization: deltas leave before either
        could apply)."""
        bind(provider=target.label)
        started = time.perf_counter()
        vocabulary = self._pipeline.vocabulary.merged(options.vocabulary)
        segments = self._runner.iterate(
            lambda: target.provider.iter_segments(audio, options, target.model).segments
        )
        async for segment in segments:
            text = clean_text(segment.text)
            if text:
                yield vocabulary.correct_segment(segment.model_copy(update={"text": text}))
        metrics.observe_transcription(
            target.provider.name,
            target.model,
            audio_seconds=audio.duration,
            processing_seconds=time.perf_counter() - started,
        )


@contextlib.contextmanager
def transcription_span(target: Resolved, audio: AudioInput) -> Iterator[None]:
    """The log context and the ``transcribe`` trace span of one transcription by ``target``
    (REST requests and job workers alike)."""
    bind(provider=target.label)
    attributes: dict[str, str | float] = {
        "stt.provider": target.provider.name,
        "stt.model": target.model,
        "stt.audio_seconds": round(audio.duration, 3),
    }
    with tracing.tracer().start_as_current_span("transcribe", attributes=attributes):
        yield


def observe_transcription(transcript: Transcript, audio: AudioInput, seconds: float) -> None:
    """Count the transcription against the target that served it (after any fallback)."""
    metrics.observe_transcription(
        transcript.metadata.provider,
        transcript.metadata.model,
        audio_seconds=audio.duration,
        processing_seconds=seconds,
    )
