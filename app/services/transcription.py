"""Orchestrates one transcription: decode off the loop, run the provider in the bounded pool."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import anyio

from app.services.audio import decode_file
from app.services.inference import InferenceRunner
from providers.base import AudioInput
from providers.registry import Resolved
from schemas.options import TranscriptionOptions
from schemas.transcript import Segment, Transcript, clean_text


class TranscriptionService:
    def __init__(self, runner: InferenceRunner, *, max_audio_duration_s: float) -> None:
        self._runner = runner
        self._max_duration = max_audio_duration_s

    async def decode(self, path: Path) -> AudioInput:
        return await anyio.to_thread.run_sync(
            lambda: decode_file(path, max_duration_s=self._max_duration)
        )

    async def transcribe(
        self, audio: AudioInput, target: Resolved, options: TranscriptionOptions
    ) -> Transcript:
        transcript, waited = await self._runner.run(
            target.provider.transcribe_batch, audio, options, target.model
        )
        return transcript.with_metadata(queue_latency_ms=round(waited * 1000))

    async def stream_segments(
        self, audio: AudioInput, target: Resolved, options: TranscriptionOptions
    ) -> AsyncIterator[Segment]:
        """Segments as the engine decodes them, with texts cleaned as in the final transcript."""
        segments = self._runner.iterate(
            lambda: target.provider.iter_segments(audio, options, target.model).segments
        )
        async for segment in segments:
            text = clean_text(segment.text)
            if text:
                yield segment.model_copy(update={"text": text})
