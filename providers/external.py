"""Any OpenAI-compatible transcription endpoint (OpenAI, another gateway, a vendor) via httpx.

The audio is sent as 16-bit PCM WAV to ``{base_url}/audio/transcriptions`` (or
``/audio/translations``) with ``response_format=verbose_json`` and mapped back onto the canonical
transcript. Failures are typed for the fallback chain by :mod:`providers.http_retry`: connection
errors, timeouts, 429 and 5xx are retried with backoff (``Retry-After`` honoured) and end in a
:class:`RetriableProviderError`; any other 4xx fails at once with a :class:`FatalProviderError`.

The API key is sent only in the ``Authorization`` header; it is never logged, never part of an
error message and not shown by ``repr``.
"""

from __future__ import annotations

import io
import random
import time
import wave
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from providers.base import AudioInput, Provider, SegmentStream
from providers.http_retry import RetryingPoster, RetryPolicy
from schemas.errors import FatalProviderError, ModelNotFound
from schemas.languages import normalise_language
from schemas.options import Task, TranscriptionOptions
from schemas.providers import Capabilities, Health
from schemas.transcript import Segment, Word


@dataclass(frozen=True)
class ExternalConfig:
    base_url: str  # e.g. https://api.openai.com/v1 or http://other-gateway:8000/v1
    api_key: str | None = field(default=None, repr=False)
    models: Mapping[str, str] = field(default_factory=lambda: {"whisper-1": "whisper-1"})
    timeout_s: float = 120.0
    connect_timeout_s: float = 5.0
    max_retries: int = 2
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    name: str = "external"


def encode_wav(audio: AudioInput) -> bytes:
    pcm = (np.clip(audio.samples, -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(audio.sample_rate)
        out.writeframes(pcm.tobytes())
    return buffer.getvalue()


class ExternalProvider(Provider):
    def __init__(
        self,
        config: ExternalConfig,
        *,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        jitter: Callable[[], float] = random.random,
    ) -> None:
        self.name = config.name
        self._config = config
        headers = {"Authorization": f"Bearer {config.api_key}"} if config.api_key else {}
        self._client = httpx.Client(
            base_url=config.base_url.rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(config.timeout_s, connect=config.connect_timeout_s),
            transport=transport,
        )
        self._last_error: str | None = None
        self._http = RetryingPoster(
            self._client,
            RetryPolicy(config.max_retries, config.backoff_s, config.max_backoff_s),
            name=self.name,
            sleep=sleep,
            jitter=jitter,
            on_error=self._remember,
        )

    def _remember(self, message: str) -> None:
        self._last_error = message

    def close(self) -> None:
        self._client.close()

    # -- metadata -------------------------------------------------------------------------
    def capabilities(self) -> Capabilities:
        return Capabilities(
            name=self.name,
            models=self.available_models(),
            word_timestamps=True,
            translation=True,
            hardware=["remote"],
        )

    def available_models(self) -> list[str]:
        return list(self._config.models)

    def healthcheck(self) -> Health:
        """Reachability: ``GET {base_url}/models`` with a short timeout."""
        try:
            response = self._client.get("/models", timeout=2.0)
        except httpx.HTTPError as exc:
            return self._health(False, f"unreachable: {type(exc).__name__}")
        if response.status_code >= 500:
            return self._health(False, f"upstream answered {response.status_code}")
        if response.status_code in (401, 403):
            return self._health(False, f"upstream refused the credentials ({response.status_code})")
        return self._health(True, None)

    def _health(self, ok: bool, problem: str | None) -> Health:
        return Health(
            provider=self.name,
            available=ok,
            loaded_models=self.available_models(),
            device="remote",
            last_error=problem or self._last_error,
            detail=f"OpenAI-compatible endpoint {self._config.base_url}",
        )

    # -- inference ------------------------------------------------------------------------
    def _upstream_model(self, model: str) -> str:
        try:
            return self._config.models[model]
        except KeyError:
            raise ModelNotFound(
                f"model '{model}' is not mapped for provider '{self.name}'", param="model"
            ) from None

    def _form(self, options: TranscriptionOptions, model: str) -> dict[str, Any]:
        data: dict[str, Any] = {
            "model": self._upstream_model(model),
            "response_format": "verbose_json",
            "temperature": str(options.temperature),
        }
        if options.prompt:
            data["prompt"] = options.prompt
        if options.task is Task.TRANSCRIBE:
            data["timestamp_granularities[]"] = (
                ["segment", "word"] if options.word_timestamps else ["segment"]
            )
            if options.language:
                data["language"] = options.language
        return data

    def iter_segments(
        self, audio: AudioInput, options: TranscriptionOptions, model: str
    ) -> SegmentStream:
        path = "/audio/translations" if options.task is Task.TRANSLATE else "/audio/transcriptions"
        body = self._post(path, self._form(options, model), encode_wav(audio))
        language = normalise_language(str(body.get("language") or "")) or options.language
        return SegmentStream(
            language="en" if options.task is Task.TRANSLATE else (language or "en"),
            language_probability=None,
            duration=audio.duration,
            segments=iter(_segments(body, audio.duration)),
        )

    def _post(self, path: str, data: dict[str, Any], wav: bytes) -> dict[str, Any]:
        files = {"file": ("audio.wav", wav, "audio/wav")}
        response = self._http.post(path, data=data, files=files)
        try:
            body = response.json()
        except ValueError:
            body = None
        if not isinstance(body, dict) or "text" not in body:
            raise FatalProviderError(
                f"{self.name}: upstream answered 200 without a transcript",
                code="upstream_bad_response",
            )
        return body


def _segments(body: Mapping[str, Any], duration: float) -> list[Segment]:
    """verbose_json segments (and top-level words, attached by time) -> canonical segments."""
    raw = body.get("segments") or []
    words = [
        Word(word=str(w["word"]), start=float(w["start"]), end=float(w["end"]), probability=1.0)
        for w in body.get("words") or []
    ]
    if not raw:
        text = str(body.get("text") or "")
        raw = [
            {"id": 0, "start": 0.0, "end": float(body.get("duration") or duration), "text": text}
        ]
    segments: list[Segment] = []
    for index, seg in enumerate(raw):
        start, end = float(seg.get("start", 0.0)), float(seg.get("end", 0.0))
        last = index == len(raw) - 1
        mine = [
            w for w in words if start <= (w.start + w.end) / 2 < end or (last and w.start >= start)
        ]
        avg_logprob = seg.get("avg_logprob")
        segments.append(
            Segment(
                id=int(seg.get("id", index)),
                start=start,
                end=end,
                text=str(seg.get("text", "")),
                confidence=min(1.0, float(np.exp(avg_logprob)))
                if avg_logprob is not None
                else None,
                words=mine or None,
                seek=int(seg.get("seek", 0)),
                tokens=list(seg.get("tokens") or []) or None,
                temperature=seg.get("temperature"),
                avg_logprob=avg_logprob,
                compression_ratio=seg.get("compression_ratio"),
                no_speech_prob=seg.get("no_speech_prob"),
            )
        )
    return segments
