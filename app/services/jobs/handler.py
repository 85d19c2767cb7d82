"""The ``transcription`` job: fetch/locate audio, deduplicate, transcribe (chunked when long),
and save the transcript to the Media DB in the job's completion transaction.

Long recordings are planned into chunks (``job_chunks``) that any idle worker may lease (see
:meth:`TranscriptionHandler.assist`); finished chunks are saved as they complete, so a job whose
worker dies resumes with the chunks that were done. Provider calls go through ``infer`` (the
gateway's bounded inference pool when the worker runs inside ``serve``), measured by
:class:`WorkerTranscription` (its wait for a turn becomes ``metadata.queue_latency_ms``).
A job with ``summarize`` gets a meeting summary (the ``summary`` stage) before it is saved; a
summary that cannot be made is a ``summary_failed`` warning in the transcript, never a failure.

``multichannel=true``: chunks are planned on the downmix as for any job (a cut falls where all
channels are quiet); a chunk's worker decodes that span of each channel from the stored file in
turn, transcribes it, and saves the chunk's channels together (segments carry ``channel``). The
merge joins each channel's chunks on their own, then interleaves the channels by time. So a
worker holds the downmix (its own job) plus one channel's chunk, never all channels at once.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from app.core import metrics
from app.core.config import Settings
from app.db.ids import utcnow
from app.db.media_repo import MediaRepository
from app.services.jobs.audio_store import AudioStore
from app.services.jobs.chunking import ChunkTranscript, merge_chunks, plan_chunks, shift_segments
from app.services.jobs.media import MediaWriter, options_hash, transcript_of
from app.services.jobs.retention import AudioJanitor
from app.services.jobs.url_ingest import UrlPolicy, download
from app.services.summaries.summarizer import Summarizer, mark_failure, require
from app.services.transcription.audio import check_channels, decode_file, decode_span
from app.services.transcription.multichannel import (
    ChannelReader,
    channels_transcript,
    transcribe_channels,
)
from app.services.transcription.pipeline import TranscriptionPipeline
from app.services.transcription.service import Infer, WorkerTranscription, call_directly
from providers.base import AudioInput
from schemas.errors import InvalidRequest, SummaryFailed
from schemas.jobs import ChunkStatus, Job, JobChunk, JobStage, TranscriptionPayload
from schemas.media import Media
from schemas.summary import Summary
from schemas.transcript import (
    Segment,
    Transcript,
    build_transcript,
    combined_metadata,
    majority_language,
    normalise_segments,
)
from workers.runner import Completion, JobContext, JobHandler, WorkerInfo
from workers.sdk import JobQueue

KIND = "transcription"
JOB_DURATION = "STT_JOB_MAX_AUDIO_DURATION_S"


class TranscriptionHandler(JobHandler):
    kinds = (KIND,)

    def __init__(
        self,
        *,
        settings: Settings,
        queue: JobQueue,
        pipeline: TranscriptionPipeline,
        store: AudioStore,
        infer: Infer = call_directly,
        summarizer: Summarizer | None = None,
    ) -> None:
        self.settings = settings
        self.summarizer = summarizer
        self.queue = queue
        self.pipeline = pipeline
        self.registry = pipeline.registry
        self.store = store
        self.transcription = WorkerTranscription(pipeline, infer)
        self.media = MediaWriter(MediaRepository())
        self.janitor = AudioJanitor(store, self.media.repo)

    # -- the job --------------------------------------------------------------------------
    def handle(self, ctx: JobContext) -> Completion:
        payload = self._ensure_audio(ctx, TranscriptionPayload.model_validate(ctx.job.payload))
        target = self.registry.resolve(payload.model, payload.options.task)
        digest = options_hash(payload, target.label)
        content_hash = payload.source.content_hash
        assert content_hash is not None
        if not payload.force:
            with self.queue.db.read() as conn:
                existing = self.media.repo.find(conn, ctx.job.owner, content_hash, digest)
            if existing is not None:
                logger.info("job {}: same audio and options as media {}", ctx.job.id, existing.id)
                reuse: dict[str, Any] = {"deduplicated": True}
                return self._completion(ctx, payload, reuse, self._reuse(ctx, payload, existing))
        self.pipeline.check(payload.options)  # e.g. diarization asked but not available
        audio = self._decode(payload)
        if payload.options.multichannel:
            self._channel_count(payload)  # a URL's mono audio is refused before transcribing
        ctx.stage(JobStage.TRANSCRIBING.value)
        merged = self._transcribe_job(ctx, audio, payload)
        ctx.checkpoint()
        # diarization and vocabulary, once, on the whole recording
        transcript = self.transcription.finalize(
            merged, audio, payload.options, lambda step: ctx.stage(JobStage(step).value)
        )
        summary = None
        if payload.summarize:
            transcript, summary = self._summarize(ctx, transcript)
        ctx.stage(JobStage.SAVING.value)
        job, keep_audio = ctx.job, not self.settings.delete_audio_after_transcription

        def save(conn: Any) -> str:
            return self.media.save(
                conn,
                job=job,
                payload=payload,
                transcript=transcript,
                options_digest=digest,
                actor=ctx.worker.worker_id,
                keep_audio=keep_audio,
                now=utcnow(),
                summary=summary,
            )

        result: dict[str, Any] = {"deduplicated": False, "duration": transcript.duration}
        return self._completion(ctx, payload, result, save)

    def _summarize(
        self, ctx: JobContext, transcript: Transcript
    ) -> tuple[Transcript, Summary | None]:
        """The ``summary`` stage: the transcript (with a ``summary_failed`` warning when the
        summary could not be made) and the summary, if made."""
        ctx.stage(JobStage.SUMMARY.value)
        try:
            summary = require(self.summarizer, "summarize").summarize(transcript, ctx.checkpoint)
        except (SummaryFailed, InvalidRequest) as exc:
            logger.warning("job {}: no summary: {}", ctx.job.id, exc.message)
            return mark_failure(transcript, exc.message), None
        return mark_failure(transcript, None), summary

    def _reuse(
        self, ctx: JobContext, payload: TranscriptionPayload, existing: Media
    ) -> Callable[[Any], str]:
        """A deduplicated job saves nothing, unless it asks for a summary the media lacks."""
        if not payload.summarize or existing.summary is not None:
            return lambda _conn: existing.id
        transcript, summary = self._summarize(ctx, transcript_of(existing))
        ctx.stage(JobStage.SAVING.value)
        job, actor = ctx.job, ctx.worker.worker_id

        def save(conn: Any) -> str:
            self.media.save_summary(
                conn,
                media_id=existing.id,
                owner=existing.owner,
                transcript=transcript,
                summary=summary,
                actor=actor,
                now=utcnow(),
                job_id=job.id,
            )
            return existing.id

        return save

    def _completion(
        self,
        ctx: JobContext,
        payload: TranscriptionPayload,
        result: dict[str, Any],
        save: Callable[[Any], str],
    ) -> Completion:
        """``STT_DELETE_AUDIO_AFTER_TRANSCRIPTION``: once the media row is committed without
        the audio, delete the file unless another active job or media row still uses it."""
        if not self.settings.delete_audio_after_transcription:
            return Completion(result, save)
        orphans: list[str | None] = []

        def persist(conn: Any) -> str:
            media_id = save(conn)
            ref = payload.source.audio_ref
            orphans.append(self.janitor.orphaned(conn, ref, except_job=ctx.job.id))
            return media_id

        def delete_audio() -> None:
            if orphans and self.janitor.remove(orphans[-1]):
                metrics.record_job_event("audio_deleted")

        return Completion(result, persist, delete_audio)

    def on_terminal_failure(self, conn: Any, job: Job) -> None:
        self.media.record_failure(conn, job, utcnow())

    def _ensure_audio(self, ctx: JobContext, payload: TranscriptionPayload) -> TranscriptionPayload:
        """URL jobs download once; the stored reference is saved so retries skip the fetch."""
        if payload.source.audio_ref is not None:
            return payload
        assert payload.source.url is not None
        policy = UrlPolicy.from_settings(self.settings)
        self.settings.tmp_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.settings.tmp_dir, prefix="url-") as tmp:
            stored = self.store.put(download(payload.source.url, Path(tmp), policy))
        source = payload.source.model_copy(
            update={"audio_ref": stored.ref, "content_hash": stored.sha256}
        )
        payload = payload.model_copy(update={"source": source})
        self.queue.update_payload(ctx.lease, payload.model_dump(mode="json"), audio_ref=stored.ref)
        return payload

    def _decode(self, payload: TranscriptionPayload) -> AudioInput:
        assert payload.source.audio_ref is not None
        with self.store.local_path(payload.source.audio_ref) as path:
            return decode_file(
                path, max_duration_s=self.settings.job_max_audio_duration_s, setting=JOB_DURATION
            )

    def _decode_span(
        self, payload: TranscriptionPayload, start: float, end: float, channel: int | None = None
    ) -> AudioInput:
        assert payload.source.audio_ref is not None
        with self.store.local_path(payload.source.audio_ref) as path:
            return decode_span(path, start, end, channel)

    def _channel_count(self, payload: TranscriptionPayload) -> int:
        assert payload.source.audio_ref is not None
        with self.store.local_path(payload.source.audio_ref) as path:
            return check_channels(path, max_channels=self.settings.max_audio_channels)

    def _transcribe_span(
        self, payload: TranscriptionPayload, audio: AudioInput | None, start: float, end: float
    ) -> Transcript:
        """``[start, end)`` seconds of the recording: sliced from the downmix ``audio`` the
        job's own worker holds, else decoded; with ``multichannel`` each channel's span is
        decoded from the stored file and transcribed in turn (times relative to ``start``)."""
        if payload.options.multichannel:
            channels = ChannelReader(
                self._channel_count(payload),
                lambda channel: self._decode_span(payload, start, end, channel),
            )
            return transcribe_channels(
                channels, lambda part: self._transcribe(payload, part), end - start
            )
        if audio is None:
            return self._transcribe(payload, self._decode_span(payload, start, end))
        first, last = int(start * audio.sample_rate), int(end * audio.sample_rate)
        return self._transcribe(payload, AudioInput(audio.samples[first:last]))

    def _transcribe(self, payload: TranscriptionPayload, audio: AudioInput) -> Transcript:
        """One span through the fallback chain (GPU, its CPU twin, configured alternates).

        Always with word timings: chunks are merged word by word, and a stored transcript may
        be fetched later as SRT or WebVTT, whose cues are cut at words."""
        options = payload.options
        if not options.word_timestamps:
            options = options.model_copy(update={"word_timestamps": True})
        chain = self.registry.chain(payload.model, options.task)
        return self.transcription.transcribe(audio, chain, options)

    # -- long audio -----------------------------------------------------------------------
    def _spans(self, payload: TranscriptionPayload, audio: AudioInput) -> list[tuple[float, float]]:
        if not payload.chunking.enabled:
            return [(0.0, audio.duration)]
        return plan_chunks(
            audio.samples,
            audio.sample_rate,
            chunk_s=payload.chunking.chunk_seconds or self.settings.job_chunk_seconds,
            overlap_s=(
                payload.chunking.overlap_seconds
                if payload.chunking.overlap_seconds is not None
                else self.settings.job_chunk_overlap_s
            ),
        )

    def _transcribe_job(
        self, ctx: JobContext, audio: AudioInput, payload: TranscriptionPayload
    ) -> Transcript:
        spans = self._spans(payload, audio)
        if len(spans) == 1:
            ctx.progress(0, 1)
            transcript = self._transcribe_span(payload, audio, 0.0, audio.duration)
            ctx.progress(1, 1)
            return transcript
        chunks = self.queue.plan_chunks(ctx.lease, spans)  # idle workers may help
        done = sum(c.status is ChunkStatus.DONE for c in chunks)
        logger.info("job {}: {} chunks ({} already done)", ctx.job.id, len(chunks), done)
        while True:
            ctx.checkpoint()
            mark = self.queue.wakeup_mark()
            worked = self._work_on_chunk(ctx.worker, ctx.job.id, audio, payload)
            chunks = self.queue.chunks_of(ctx.job.id)
            done = sum(c.status is ChunkStatus.DONE for c in chunks)
            ctx.progress(done, len(chunks))
            if done == len(chunks):
                break
            if not worked:
                self.queue.wait_for_work(mark, 0.5)  # other workers hold the rest
        ctx.stage(JobStage.MERGING.value)
        return self._merge(chunks, audio, payload)

    def _work_on_chunk(
        self,
        worker: WorkerInfo,
        job_id: str | None,
        audio: AudioInput | None,
        payload: TranscriptionPayload | None,
    ) -> bool:
        """Lease one pending chunk (of ``job_id``, or of any running job) and transcribe it."""
        chunk = self.queue.lease_chunk(worker.worker_id, worker.pools, job_id)
        if chunk is None:
            return False
        tracked = worker.heartbeat.track(
            f"{chunk.job_id}#{chunk.idx}", lambda: self._renew_chunk(chunk)
        )
        try:
            if payload is None:  # helping another job: decode only the chunk
                job = self.queue.get(chunk.job_id)
                assert job is not None
                payload = TranscriptionPayload.model_validate(job.payload)
            part = self._transcribe_span(payload, audio, chunk.start, chunk.end)
            tracked.check()
            segments = shift_segments(part.segments, chunk.start)
            stored = part.model_copy(update={"segments": segments}).model_dump(mode="json")
            self.queue.finish_chunk(chunk, stored)  # wakes the job's worker
        finally:
            worker.heartbeat.untrack(tracked)
        return True

    def _renew_chunk(self, chunk: JobChunk) -> bool:
        self.queue.renew_chunk(chunk)
        return False  # a chunk is not cancelled on its own; its job is

    def assist(self, worker: WorkerInfo) -> bool:
        return self._work_on_chunk(worker, None, None, None)

    def _merge(
        self, chunks: list[JobChunk], audio: AudioInput, payload: TranscriptionPayload
    ) -> Transcript:
        parts = [Transcript.model_validate(c.transcript) for c in chunks]
        language = majority_language(parts)
        tokens = sum(p.usage.tokens or 0 for p in parts) or None

        def merged(channel: int | None = None) -> list[Segment]:
            return merge_chunks(
                [
                    ChunkTranscript(c.start, c.end, [s for s in p.segments if s.channel == channel])
                    for c, p in zip(chunks, parts, strict=True)
                ]
            )

        if not payload.options.multichannel:
            return build_transcript(
                segments=merged(),
                language=language,
                duration=audio.duration,
                metadata=combined_metadata(parts, chunks=len(parts)),
                tokens=tokens,
            )
        count = self._channel_count(payload)
        return channels_transcript(
            [normalise_segments(merged(channel), audio.duration) for channel in range(count)],
            language=language,
            duration=audio.duration,
            metadata=combined_metadata(parts, chunks=len(parts), channels=count),
            tokens=tokens,
        )
