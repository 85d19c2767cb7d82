"""Orchestrates one transcription: admission, then decoding and the provider in the bounded pool.

Every way to run one goes through here, with the same ``transcribe`` span, metrics and metadata:
REST requests and the CLI (:class:`TranscriptionService`, on an event loop), language detection
(:meth:`TranscriptionService.detect_language`) and job workers (:class:`WorkerTranscription`,
in worker threads). Processing time is the time inside the inference turn; the wait for the
turn is reported as ``metadata.queue_latency_ms``, never as processing.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import anyio

from app.core import metrics, tracing
from app.core.log_context import bind
from app.services.transcription.audio import check_channels, check_container, decode_file
from app.services.transcription.inference import InferencePool, Ticket
from app.services.transcription.multichannel import ChannelReader
from app.services.transcription.pipeline import TranscriptionPipeline
from providers.base import AudioInput
from providers.registry import Resolved
from schemas.options import TranscriptionOptions
from schemas.providers import LanguageDetection
from schemas.transcript import Segment, Transcript, clean_text

T = TypeVar("T")
Infer = Callable[..., tuple[Any, float]]
"""``infer(fn, *args) -> (fn(*args), seconds waited for a turn)``: how a worker thread runs one
pipeline step where inference is allowed (the gateway's pool, or :func:`call_directly`)."""


def call_directly(fn: Callable[..., T], *args: object) -> tuple[T, float]:
    """Run in the calling thread, with no pool to wait for (``stt-gateway worker``)."""
    return fn(*args), 0.0


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
        max_channels: int,
    ) -> None:
        self._pool = pool
        self._max_duration = max_audio_duration_s
        self._max_channels = max_channels
        self._pipeline = pipeline

    @property
    def pool(self) -> InferencePool:
        return self._pool

    async def admit(self, path: Path) -> Ticket:
        """Admission of the upload at ``path``: refused as not audio (415, empty 400) before it
        takes any capacity, then 503 when the pool and its queue are full. The caller takes the
        turn and releases the ticket."""
        await anyio.to_thread.run_sync(check_container, path)
        return self._pool.admit()

    @contextlib.asynccontextmanager
    async def turn(self, path: Path) -> AsyncIterator[Ticket]:
        """:meth:`admit` ``path``, then a turn of the inference pool, for the block."""
        ticket = await self.admit(path)
        try:
            await ticket.take_turn()
            yield ticket
        finally:
            ticket.release()

    async def decode(self, ticket: Ticket, path: Path) -> AudioInput:
        """Decode ``path`` in ``ticket``'s turn."""
        return await ticket.call(partial(decode_file, path, max_duration_s=self._max_duration))

    async def channels(self, path: Path) -> ChannelReader:
        """The channels of ``path`` for ``multichannel=true`` (400 for mono audio or more than
        ``STT_MAX_AUDIO_CHANNELS``), each decoded whole when read; reads only the header."""
        count = await anyio.to_thread.run_sync(
            partial(check_channels, path, max_channels=self._max_channels)
        )

        def read(channel: int) -> AudioInput:
            return decode_file(path, max_duration_s=self._max_duration, channel=channel)

        return ChannelReader(count, read)

    async def transcribe(
        self,
        ticket: Ticket,
        audio: AudioInput,
        chain: Sequence[Resolved],
        options: TranscriptionOptions,
        channels: ChannelReader | None = None,
    ) -> Transcript:
        """``chain``: the requested target, then its fallbacks; the pipeline also diarizes and
        applies the custom vocabulary as ``options`` ask (``transcription.pipeline``).
        ``channels``: transcribe each channel of the recording ``audio`` is the downmix of."""
        started = time.perf_counter()
        with transcription_span(chain[0], audio):
            transcript = await ticket.call(
                self._pipeline.run, audio, list(chain), options, channels
            )
        processing_s = time.perf_counter() - started
        transcript = _accounted(transcript, audio, processing_s, ticket.waited)
        return self._pipeline.assess(transcript, processing_s)

    async def transcribe_file(
        self, path: Path, chain: Sequence[Resolved], options: TranscriptionOptions
    ) -> Transcript:
        """Admission, then decoding and :meth:`transcribe` in one turn (``stt-gateway
        transcribe``; REST requests take these steps themselves, to cancel on disconnect)."""
        channels = await self.channels(path) if options.multichannel else None
        async with self.turn(path) as ticket:
            audio = await self.decode(ticket, path)
            return await self.transcribe(ticket, audio, chain, options, channels)

    async def detect_language(self, path: Path, model: str) -> tuple[LanguageDetection, float]:
        """The spoken language of the file at ``path`` by ``model`` and the audio's duration
        (seconds): admission, then decoding and detection in one turn."""
        async with self.turn(path) as ticket:
            audio = await self.decode(ticket, path)
            detection = await ticket.call(self._pipeline.detect, audio, model)
        return detection, audio.duration

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
        options = self._pipeline.with_default_prompt(options)
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


class WorkerTranscription:
    """A transcription's steps run from a worker thread (the job handler), each through
    ``infer``: in the gateway's pool for the embedded worker, directly in ``stt-gateway worker``.

    Measured as :meth:`TranscriptionService.transcribe` measures a request: the processing
    metric excludes the wait for a turn, which goes to ``metadata.queue_latency_ms``.
    """

    def __init__(self, pipeline: TranscriptionPipeline, infer: Infer = call_directly) -> None:
        self._pipeline = pipeline
        self._infer = infer

    def transcribe(
        self, audio: AudioInput, chain: Sequence[Resolved], options: TranscriptionOptions
    ) -> Transcript:
        """The fallback chain over ``audio`` (a whole recording or one chunk), not finalized."""
        transcript: Transcript
        started = time.perf_counter()
        with transcription_span(chain[0], audio):
            transcript, waited = self._infer(self._pipeline.transcribe, audio, chain, options)
        return _accounted(transcript, audio, time.perf_counter() - started - waited, waited)

    def finalize(
        self,
        transcript: Transcript,
        audio: AudioInput,
        options: TranscriptionOptions,
        on_step: Callable[[str], None] | None = None,
    ) -> Transcript:
        """Diarization, vocabulary and warnings once on the whole recording (``on_step`` as in
        :meth:`TranscriptionPipeline.finalize`); its wait for a turn adds to ``transcript``'s
        ``queue_latency_ms``. The quality report's processing time is the chunks'
        (``metadata.processing_ms``) plus this step's."""
        final: Transcript
        started = time.perf_counter()
        final, waited = self._infer(self._pipeline.finalize, transcript, audio, options, on_step)
        finalize_s = time.perf_counter() - started - waited
        latency = transcript.metadata.queue_latency_ms + round(waited * 1000)
        processing_s = transcript.metadata.processing_ms / 1000 + finalize_s
        return self._pipeline.assess(final.with_metadata(queue_latency_ms=latency), processing_s)


def _accounted(
    transcript: Transcript, audio: AudioInput, processing_s: float, waited_s: float
) -> Transcript:
    """Observe ``processing_s`` (time inside the turn) and record ``waited_s`` (time before it)
    as the transcript's ``queue_latency_ms``."""
    observe_transcription(transcript, audio, processing_s)
    return transcript.with_metadata(queue_latency_ms=round(waited_s * 1000))


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
