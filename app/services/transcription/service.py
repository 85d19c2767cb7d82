"""Orchestrates one transcription: admission, then decoding and the provider in the bounded pool."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from functools import partial
from pathlib import Path

from app.core import metrics, tracing
from app.core.log_context import bind
from app.services.transcription.audio import decode_file
from app.services.transcription.inference import InferencePool, Ticket
from app.services.transcription.pipeline import TranscriptionPipeline
from providers.base import AudioInput
from providers.registry import Resolved
from schemas.options import TranscriptionOptions
from schemas.transcript import Segment, Transcript, clean_text


class TranscriptionService:
    """Decoding and inference of uploaded audio, both inside one admitted turn of the pool.

    Routes admit a request first (503 when the pool and its queue are full), then decode and
    transcribe while holding the ticket's turn, so decoded audio never waits in memory.
    """

    def __init__(
        self,
        pool: InferencePool,
        pipeline: TranscriptionPipeline,
        *,
        max_audio_duration_s: float,
    ) -> None:
        self._pool = pool
        self._max_duration = max_audio_duration_s
        self._pipeline = pipeline

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[Ticket]:
        """Admission and a turn of the inference pool for the block."""
        async with self._pool.turn() as ticket:
            yield ticket

    def admit(self) -> Ticket:
        """Admission alone (503 when full); the caller takes the turn and releases."""
        return self._pool.admit()

    async def decode(self, ticket: Ticket, path: Path) -> AudioInput:
        """Decode ``path`` in ``ticket``'s turn."""
        return await ticket.call(partial(decode_file, path, max_duration_s=self._max_duration))

    async def transcribe(
        self,
        ticket: Ticket,
        audio: AudioInput,
        chain: Sequence[Resolved],
        options: TranscriptionOptions,
    ) -> Transcript:
        """``chain``: the requested target, then its fallbacks; the pipeline also diarizes and
        applies the custom vocabulary as ``options`` ask (``transcription.pipeline``)."""
        started = time.perf_counter()
        with transcription_span(chain[0], audio):
            transcript = await ticket.call(self._pipeline.run, audio, list(chain), options)
        observe_transcription(transcript, audio, time.perf_counter() - started)
        return transcript.with_metadata(queue_latency_ms=round(ticket.waited * 1000))

    async def stream_segments(
        self,
        ticket: Ticket,
        audio: AudioInput,
        target: Resolved,
        options: TranscriptionOptions,
    ) -> AsyncIterator[Segment]:
        """Segments as the engine decodes them, cleaned and vocabulary-corrected as in the
        final transcript (no fallback chain or diarization: deltas leave before either
        could apply)."""
        bind(provider=target.label)
        started = time.perf_counter()
        vocabulary = self._pipeline.vocabulary.merged(options.vocabulary)
        segments = ticket.iterate(
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
