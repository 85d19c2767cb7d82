"""Hugging Face Whisper models through the ``transformers`` speech-recognition pipeline.

Optional extra ``transformers`` (``transformers`` + ``torch``). Models are configured by name:
``{"whisper-small": "openai/whisper-small", "mine": "/models/my-finetune"}``; a value that is a
local directory (``save_pretrained`` output) always loads, a hub id only when model downloads are
allowed. Real model ids: ``openai/whisper-tiny``, ``-base``, ``-small``, ``-medium``,
``-large-v3``, ``-large-v3-turbo`` and the ``.en`` variants, ``distil-whisper/distil-large-v3``.

Audio longer than one 30 s window is decoded with the pipeline's chunked long-form algorithm
(``chunk_length_s`` windows with stride, batched). Segment timestamps come from Whisper's
timestamp tokens; word timestamps (when asked) from cross-attention alignment, grouped back into
segments at sentence ends and pauses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from providers.base import SAMPLE_RATE, AudioInput, SegmentStream
from providers.torch_engine import TorchEngine
from schemas.errors import (
    CapabilityNotSupported,
    InvalidRequest,
)
from schemas.options import Task, TranscriptionOptions
from schemas.providers import Capabilities, LanguageDetection
from schemas.transcript import Segment, Word

_SPECIAL = re.compile(r"<\|[^|>]*\|>")
_SENTENCE_END = (".", "?", "!", "。", "？", "！")
WINDOW_S = 30.0


@dataclass(frozen=True)
class TransformersConfig:
    models: Mapping[str, str] = field(default_factory=dict)  # name -> local dir or hub id
    allow_downloads: bool = False
    force_cpu: bool = False
    chunk_length_s: float = WINDOW_S
    batch_size: int = 4
    max_words_per_segment: int = 30
    name: str = "transformers"


def clean(text: str) -> str:
    return _SPECIAL.sub("", text)


class TransformersProvider(TorchEngine):
    _config: TransformersConfig
    extra = "transformers"
    modules = ("torch", "transformers")
    models_setting = "STT_TRANSFORMERS_MODELS"

    def _is_local(self, location: str) -> bool:
        return Path(location).is_dir()

    def _load(self, model: str, location: str, device: str) -> Any:
        import torch
        from transformers import pipeline

        return pipeline(
            "automatic-speech-recognition",
            model=location,
            device=device,
            dtype=torch.float16 if device == "cuda" else torch.float32,
        )

    def capabilities(self) -> Capabilities:
        return Capabilities(
            name=self.name,
            models=self.available_models(),
            word_timestamps=True,
            translation=True,
            language_detection=True,
            hardware=["cpu", "gpu"],
        )

    @staticmethod
    def _multilingual(pipe: Any) -> bool:
        return bool(getattr(pipe.model.generation_config, "is_multilingual", False))

    # -- inference ------------------------------------------------------------------------
    def iter_segments(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        pipe = self.load(model)
        multilingual = self._multilingual(pipe)
        generate: dict[str, Any] = {"num_beams": options.beam_size}
        if options.temperature > 0:
            generate.update(do_sample=True, temperature=options.temperature)
        if multilingual:
            generate["task"] = options.task.value
            if options.language:
                generate["language"] = options.language
        elif options.task is Task.TRANSLATE or options.language not in (None, "en"):
            raise CapabilityNotSupported(
                f"model '{model}' is English-only; use a multilingual Whisper model",
                param="language" if options.task is Task.TRANSCRIBE else "model",
            )
        kwargs: dict[str, Any] = {
            "return_timestamps": "word" if options.word_timestamps else True,
            "generate_kwargs": generate,
        }
        if multilingual:
            kwargs["return_language"] = True
        if audio.duration > WINDOW_S:
            kwargs.update(
                chunk_length_s=self._config.chunk_length_s,
                batch_size=self._config.batch_size,
                ignore_warning=True,
            )
        inputs = {"raw": audio.samples, "sampling_rate": audio.sample_rate}
        try:
            with self.exclusive(model):
                out = pipe(inputs, **kwargs)
        except ValueError as exc:
            raise InvalidRequest(f"invalid transcription options: {exc}") from exc
        except RuntimeError as exc:
            raise self.failure(exc, "transformers failed") from exc
        chunks = list(out.get("chunks") or [])
        if options.word_timestamps:
            segments = group_words(words_from_chunks(chunks, audio.duration), self._config)
        else:
            segments = segments_from_chunks(chunks, audio.duration)
        language = options.language or next(
            (str(c["language"]) for c in chunks if c.get("language")), None
        )
        probability = None
        if options.task is Task.TRANSLATE:
            language = language or "en"
        elif language is None:
            if multilingual:
                detected = self.detect_language(audio, model)
                language, probability = detected.language, detected.probability
            else:
                language = "en"
        return SegmentStream(
            language=language,
            language_probability=probability,
            duration=audio.duration,
            segments=iter(segments),
        )

    def detect_language(self, audio: AudioInput, model: str) -> LanguageDetection:
        """Whisper's language token distribution after ``<|startoftranscript|>`` (first 30 s)."""
        pipe = self.load(model)
        config = pipe.model.generation_config
        lang_to_id: dict[str, int] = getattr(config, "lang_to_id", None) or {}
        if not self._multilingual(pipe) or not lang_to_id:
            raise CapabilityNotSupported(
                f"model '{model}' is English-only and cannot detect languages", param="model"
            )
        import torch

        window = audio.samples[: int(WINDOW_S * SAMPLE_RATE)]
        features = pipe.feature_extractor(
            window, sampling_rate=SAMPLE_RATE, return_tensors="pt"
        ).input_features.to(pipe.model.device, pipe.model.dtype)
        start = torch.tensor([[config.decoder_start_token_id]], device=pipe.model.device)
        with self.exclusive(model), torch.inference_mode():
            logits = pipe.model(input_features=features, decoder_input_ids=start).logits[0, -1]
        tokens = list(lang_to_id)
        probs = torch.softmax(logits[[lang_to_id[t] for t in tokens]].float(), dim=-1).tolist()
        ranked = sorted(
            ((t.strip("<|>"), float(p)) for t, p in zip(tokens, probs, strict=True)),
            key=lambda lp: lp[1],
            reverse=True,
        )
        return LanguageDetection(language=ranked[0][0], probability=ranked[0][1], all_probs=ranked)


def _span(chunk: Mapping[str, Any], duration: float, fallback_start: float) -> tuple[float, float]:
    start, end = (chunk.get("timestamp") or (None, None))[:2]
    start = fallback_start if start is None else float(start)
    end = duration if end is None else float(end)
    return start, max(start, end)


def _timed_texts(
    chunks: Iterable[Mapping[str, Any]], duration: float
) -> Iterator[tuple[str, float, float]]:
    """``(text, start, end)`` of each non-empty pipeline chunk; an open end means "to the end"."""
    cursor = 0.0
    for chunk in chunks:
        start, end = _span(chunk, duration, cursor)
        text = clean(str(chunk.get("text", "")))
        if text.strip():
            yield text, start, end
        cursor = end


def segments_from_chunks(chunks: Iterable[Mapping[str, Any]], duration: float) -> list[Segment]:
    """Pipeline chunks (``return_timestamps=True``) -> segments."""
    return [
        Segment(id=i, start=start, end=end, text=text)
        for i, (text, start, end) in enumerate(_timed_texts(chunks, duration))
    ]


def words_from_chunks(chunks: Iterable[Mapping[str, Any]], duration: float) -> list[Word]:
    """Pipeline chunks (``return_timestamps="word"``) -> words (no per-word probability)."""
    return [
        Word(word=text, start=start, end=end, probability=1.0)
        for text, start, end in _timed_texts(chunks, duration)
    ]


def group_words(
    words: list[Word], config: TransformersConfig, pause_s: float = 1.0
) -> list[Segment]:
    """Cut a word sequence into segments at sentence ends, long pauses and a size cap."""
    segments: list[Segment] = []
    current: list[Word] = []

    def flush() -> None:
        if current:
            segments.append(
                Segment(
                    id=len(segments),
                    start=current[0].start,
                    end=current[-1].end,
                    text="".join(w.word for w in current),
                    words=list(current),
                )
            )
            current.clear()

    for word in words:
        if current and word.start - current[-1].end > pause_s:
            flush()
        current.append(word)
        if (
            word.word.rstrip().endswith(_SENTENCE_END)
            or len(current) >= config.max_words_per_segment
        ):
            flush()
    flush()
    return segments
