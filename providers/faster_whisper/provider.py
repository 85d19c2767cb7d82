"""faster-whisper provider: CPU int8 or CUDA float16, batched decoding for long audio."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from providers.base import AudioInput, Provider, SegmentStream
from providers.faster_whisper.live_window import first_pass, live_window, model_class
from providers.faster_whisper.model_store import ModelStore
from providers.faster_whisper.speech_clips import (
    clip_batches,
    group_clips,
    speech_spans,
    vad_options,
)
from providers.segmentation import SegmentRules, resegment, without_words
from schemas.errors import (
    CapabilityNotSupported,
    FatalProviderError,
    InvalidRequest,
    RetriableProviderError,
)
from schemas.options import Task, TranscriptionOptions
from schemas.providers import Capabilities, Health, LanguageDetection
from schemas.transcript import Segment, Word


@dataclass(frozen=True)
class FasterWhisperConfig:
    model_dir: Path | None
    cache_dir: Path
    allow_downloads: bool = False
    force_cpu: bool = False
    cpu_threads: int = 0
    batched_min_duration_s: float = 60.0
    batch_size: int = 16
    live_workers: int = 1
    live_cpu_threads: int = 0
    live_context_s: float = 30.0
    max_prompt_tokens: int = 224
    segments: SegmentRules = field(default_factory=SegmentRules)


def live_cpu_layout(config: FasterWhisperConfig, cores: int | None = None) -> tuple[int, int]:
    """(CTranslate2 workers, threads per worker) of a CPU model that serves live windows.

    Whisper's encoder scales poorly across intra-op threads on a small CPU (measured on 2
    cores: one 6 s window took 0.73 s on 1 thread, 0.87 s on 2), while separate workers run
    separate windows side by side: two sessions decoding at once took 0.90 s each instead of
    1.76 s. So each live decode worker gets its own model worker and an equal share of cores.
    """
    workers = max(1, config.live_workers)
    threads = config.live_cpu_threads or max(1, (cores or os.cpu_count() or 1) // workers)
    return workers, threads


def cuda_device_count() -> int:
    import ctranslate2

    try:
        return int(ctranslate2.get_cuda_device_count())
    except RuntimeError:
        return 0


def _is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "out of memory" in text or ("cuda" in text and "alloc" in text)


class FasterWhisperProvider(Provider):
    name = "faster-whisper"

    def __init__(self, config: FasterWhisperConfig) -> None:
        self._config = config
        self._store = ModelStore(
            model_dir=config.model_dir,
            cache_dir=config.cache_dir,
            allow_downloads=config.allow_downloads,
        )
        self._models: dict[tuple[str, bool], Any] = {}
        self._lock = threading.Lock()
        self._last_error: str | None = None

    # -- metadata -------------------------------------------------------------------------
    @property
    def device(self) -> str:
        return "cpu" if self._config.force_cpu or cuda_device_count() == 0 else "cuda"

    def capabilities(self) -> Capabilities:
        return Capabilities(
            name=self.name,
            models=self.available_models(),
            streaming=True,
            word_timestamps=True,
            translation=True,
            language_detection=True,
            hardware=["cpu", "gpu"],
        )

    def available_models(self) -> list[str]:
        return self._store.available_models()

    def healthcheck(self) -> Health:
        return Health(
            provider=self.name,
            available=bool(self.available_models()),
            loaded_models=sorted({name for name, _ in self._models}),
            device=self.device,
            last_error=self._last_error,
        )

    # -- model cache ----------------------------------------------------------------------
    def load(self, model: str, *, live: bool = False) -> Any:
        """Load ``model`` once per process and share it between requests.

        On CPU, live windows get a second instance laid out for parallel short decodes (see
        :func:`live_cpu_layout`); batch work keeps all cores for one long decode. On CUDA
        both share one instance.
        """
        key = (model, live and self.device == "cpu")
        if (loaded := self._models.get(key)) is not None:
            return loaded
        with self._lock:
            if (loaded := self._models.get(key)) is not None:
                return loaded
            location = self._store.resolve(model)
            device = self.device
            compute = "float16" if device == "cuda" else "int8"
            workers, threads = live_cpu_layout(self._config) if key[1] else (1, 0)
            threads = threads or self._config.cpu_threads
            logger.info(
                "loading faster-whisper model {} on {} ({}, {} worker(s) x {} thread(s))",
                model,
                device,
                compute,
                workers,
                threads or "auto",
            )
            try:
                loaded = model_class()(
                    location,
                    device=device,
                    compute_type=compute,
                    cpu_threads=threads,
                    num_workers=workers,
                    local_files_only=not self._config.allow_downloads,
                )
            except (RuntimeError, ValueError, OSError) as exc:
                self._last_error = f"load {model}: {exc}"
                raise (RetriableProviderError if _is_oom(exc) else FatalProviderError)(
                    f"could not load model '{model}': {exc}"
                ) from exc
            self._models[key] = loaded
            return loaded

    # -- inference ------------------------------------------------------------------------
    def _check(self, whisper: Any, options: TranscriptionOptions, model: str) -> None:
        if not whisper.model.is_multilingual:
            if options.task is Task.TRANSLATE:
                raise CapabilityNotSupported(
                    f"model '{model}' is English-only and cannot translate; use a multilingual "
                    "model such as 'base'",
                    param="model",
                )
            if options.language not in (None, "en"):
                raise CapabilityNotSupported(
                    f"model '{model}' is English-only; language '{options.language}' "
                    "needs a multilingual model",
                    param="language",
                )

    def _check_prompt_budget(self, whisper: Any, options: TranscriptionOptions) -> None:
        """Refuse a prompt and hotwords that together exceed ``max_prompt_tokens``.

        Whisper conditions on at most half of its 448-token context. faster-whisper places the
        prompt and the hotwords there side by side (up to 223 tokens each), and a context
        nearly full of prompt leaves a token or two per 30 s window, so decoding crawls:
        500 tokens of hotwords made a 17 s clip take 98 s instead of 5 s.
        """
        texts = [t.strip() for t in (options.prompt, options.hotwords) if t and t.strip()]
        tokens = sum(
            len(whisper.hf_tokenizer.encode(" " + text, add_special_tokens=False).ids)
            for text in texts
        )
        if tokens > self._config.max_prompt_tokens:
            raise InvalidRequest(
                f"prompt and hotwords take {tokens} tokens together; the limit is "
                f"{self._config.max_prompt_tokens} (STT_MAX_PROMPT_TOKENS)",
                param="hotwords" if options.hotwords else "prompt",
                code="prompt_too_long",
            )

    def iter_segments(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        """For a streaming consumer (SSE): long audio starts with a batch of one clip."""
        return self._segments(audio, options, model, first_alone=True)

    def batch_segments(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        """For a whole transcript: full batches throughout (throughput over first output)."""
        return self._segments(audio, options, model, first_alone=False)

    def _segments(
        self, audio: AudioInput, options: TranscriptionOptions, model: str, *, first_alone: bool
    ) -> SegmentStream:
        whisper = self.load(model)
        self._check(whisper, options, model)
        self._check_prompt_budget(whisper, options)
        kwargs: dict[str, Any] = dict(
            language=options.language,
            task=options.task.value,
            beam_size=options.beam_size,
            best_of=options.best_of,
            temperature=_temperatures(options.temperature),
            initial_prompt=options.prompt or None,
            hotwords=options.hotwords or None,
            word_timestamps=options.word_timestamps,
            vad_filter=options.vad_filter,
            condition_on_previous_text=options.condition_on_previous_text,
        )
        if options.vad_parameters is not None:
            kwargs["vad_parameters"] = options.vad_parameters.model_dump()
        if options.chunk_length is not None:
            kwargs["chunk_length"] = options.chunk_length
        if audio.duration >= self._config.batched_min_duration_s:
            return self._batched(whisper, audio, options, kwargs, first_alone)
        stream = self._decode(whisper, audio, kwargs)
        if options.word_timestamps:  # Whisper's own segments, cut further where they run long
            stream.segments = resegment(stream.segments, self._config.segments, _tokenizer(whisper))
        return stream

    def _batched(
        self,
        whisper: Any,
        audio: AudioInput,
        options: TranscriptionOptions,
        kwargs: dict[str, Any],
        first_alone: bool,
    ) -> SegmentStream:
        """Long audio through the batched pipeline, as clips cut at VAD pauses.

        Clips are decoded without timestamp tokens (they cost accuracy) but with word timings,
        from which :func:`resegment` cuts sentence-sized segments (word alignment costs about
        10 % of the decode). The VAD finds clips piece by piece as batches need them, and only
        one batch's features are in memory at a time; with ``first_alone`` the first clip is
        decoded alone (:func:`clip_batches`), so a streaming client's first text is out after a
        minute's VAD and one clip's decode. The first batch fixes the language for the rest.
        """
        from faster_whisper import BatchedInferencePipeline

        pipeline = BatchedInferencePipeline(whisper)  # per call: it keeps per-decode state
        kwargs.pop("condition_on_previous_text")
        chunk_length = options.chunk_length or whisper.feature_extractor.chunk_length
        vad = vad_options(kwargs.pop("vad_parameters", None), chunk_length)
        clips = group_clips(speech_spans(audio.samples, vad), chunk_length)
        batches = clip_batches(clips, self._config.batch_size, first_alone=first_alone)
        first_batch = next(batches, None)
        if first_batch is None:
            return SegmentStream(
                language=options.language or "en",
                language_probability=None,
                duration=audio.duration,
                segments=iter(()),
            )
        kwargs.update(vad_filter=False, word_timestamps=True)

        def decode(batch: list[dict[str, float]], language: str | None) -> SegmentStream:
            call = {**kwargs, "clip_timestamps": batch, "batch_size": len(batch)}
            return self._decode(pipeline, audio, {**call, "language": language})

        first = decode(first_batch, options.language)

        def decoded() -> Iterator[Segment]:
            yield from first.segments
            for batch in batches:  # the VAD reads its next piece when a batch needs it
                yield from decode(batch, first.language).segments

        segments = resegment(decoded(), self._config.segments, _tokenizer(whisper))
        return SegmentStream(
            language=first.language,
            language_probability=first.language_probability,
            duration=audio.duration,
            segments=segments if options.word_timestamps else without_words(segments),
        )

    def transcribe_stream(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        """One live-session window: word timestamps on, no VAD, one decoding pass (see
        :mod:`providers.faster_whisper.live_window`; live windows are shorter than 30 s).

        Latency must stay predictable, so the temperature ladder has one fallback step only,
        the output is bounded by the window's length, and a segment that still looks like a
        repetition loop or non-speech (Whisper's own thresholds) is dropped rather than shown.
        """
        whisper = self.load(model, live=True)
        self._check(whisper, options, model)
        kwargs: dict[str, Any] = dict(
            language=options.language,
            task=options.task.value,
            beam_size=options.beam_size,
            best_of=1,
            temperature=[options.temperature, min(1.0, options.temperature + 0.4)],
            compression_ratio_threshold=MAX_COMPRESSION_RATIO,
            initial_prompt=options.prompt or None,
            hotwords=options.hotwords or None,
            word_timestamps=True,
            vad_filter=False,
            condition_on_previous_text=False,
            max_new_tokens=stream_token_budget(audio.duration),
        )
        with live_window(self._config.live_context_s):
            return self._decode(whisper, audio, kwargs, keep=plausible_speech)

    def _decode(
        self,
        pipeline: Any,
        audio: AudioInput,
        kwargs: dict[str, Any],
        keep: Callable[[Segment], bool] | None = None,
    ) -> SegmentStream:
        """Run ``pipeline`` (a model or the batched pipeline). Segments stay lazy unless
        ``keep`` filters them, which decodes eagerly (live windows are short)."""
        try:
            raw, info = pipeline.transcribe(audio.samples, **kwargs)
            segments = self._convert(first_pass(raw))
            if keep is not None:
                segments = iter([seg for seg in segments if keep(seg)])
        except ValueError as exc:
            raise InvalidRequest(f"invalid transcription options: {exc}") from exc
        except RuntimeError as exc:
            raise self._runtime_error(exc) from exc
        return SegmentStream(
            language=info.language,
            language_probability=info.language_probability,
            duration=audio.duration,
            segments=segments,
        )

    def _runtime_error(self, exc: RuntimeError) -> Exception:
        self._last_error = str(exc)
        if _is_oom(exc):
            return RetriableProviderError(f"faster-whisper ran out of memory: {exc}")
        return FatalProviderError(f"faster-whisper failed: {exc}")

    def _convert(self, raw: Iterable[Any]) -> Iterator[Segment]:
        try:
            for seg in raw:
                words = None
                if seg.words is not None:
                    words = [
                        Word(
                            word=w.word,
                            start=w.start,
                            end=w.end,
                            probability=min(max(w.probability, 0.0), 1.0),
                        )
                        for w in seg.words
                    ]
                yield Segment(
                    id=seg.id,
                    start=seg.start,
                    end=seg.end,
                    text=seg.text,
                    confidence=min(1.0, math.exp(seg.avg_logprob)),
                    words=words,
                    seek=seg.seek,
                    tokens=list(seg.tokens),
                    temperature=seg.temperature,
                    avg_logprob=seg.avg_logprob,
                    compression_ratio=seg.compression_ratio,
                    no_speech_prob=seg.no_speech_prob,
                )
        except RuntimeError as exc:
            raise self._runtime_error(exc) from exc

    def detect_language(self, audio: AudioInput, model: str) -> LanguageDetection:
        whisper = self.load(model)
        if not whisper.model.is_multilingual:
            raise CapabilityNotSupported(
                f"model '{model}' is English-only and cannot detect languages; use 'base'",
                param="model",
            )
        language, probability, all_probs = whisper.detect_language(audio.samples)
        ranked = sorted(all_probs, key=lambda lp: lp[1], reverse=True)
        return LanguageDetection(
            language=language,
            probability=probability,
            all_probs=[(lang, float(p)) for lang, p in ranked],
        )


#: Whisper's defaults: above this gzip ratio a text is a repetition loop; a segment whose
#: no-speech probability is high while its decoder confidence is low is not speech.
MAX_COMPRESSION_RATIO = 2.4
NO_SPEECH_PROB = 0.6
MIN_AVG_LOGPROB = -1.0


def plausible_speech(segment: Segment) -> bool:
    """False for hallucinations that survived decoding: loops, or text over silence."""
    if (segment.compression_ratio or 0.0) > MAX_COMPRESSION_RATIO:
        return False
    silent = (segment.no_speech_prob or 0.0) > NO_SPEECH_PROB
    return not (silent and (segment.avg_logprob or 0.0) < MIN_AVG_LOGPROB)


def stream_token_budget(seconds: float) -> int:
    """Tokens a live window may produce: fast speech is ~7 tokens/s; the rest is a loop."""
    return min(440, 16 + math.ceil(12 * seconds))


def _tokenizer(whisper: Any) -> Callable[[str], list[int]]:
    """Text tokens as Whisper decodes them (a leading space, no special tokens)."""
    return lambda text: list(whisper.hf_tokenizer.encode(" " + text, add_special_tokens=False).ids)


def _temperatures(base: float) -> list[float]:
    """OpenAI's ``temperature`` is the first try; higher ones are the usual fallbacks."""
    steps = [round(base + 0.2 * i, 2) for i in range(6)]
    return [t for t in steps if t <= 1.0] or [base]
