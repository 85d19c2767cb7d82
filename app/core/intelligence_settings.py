"""The transcript-intelligence settings (Docs/Transcript_Intelligence.md): quality report, audio
warnings, enhancement, summaries and emotion. ``app.core.config.Settings`` extends this class;
read settings through it (``load_settings``), never through this class alone.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings

#: a bound on the summary prompts' own tokens (app.services.summaries.prompts, about 200)
SUMMARY_PROMPT_TOKENS = 256


def env(name: str, default: Any, **kw: Any) -> Any:
    """A field read from the setting ``name`` (its environment name, the public contract)."""
    return Field(default, validation_alias=name, **kw)


class IntelligenceSettings(BaseSettings):
    # transcript intelligence: quality report and audio warnings (Docs/Transcript_Intelligence.md)
    quality_report: bool = env("STT_QUALITY_REPORT", True)
    quality_high_confidence: float = env("STT_QUALITY_HIGH_CONFIDENCE", 0.85, gt=0, le=1)
    quality_low_confidence: float = env("STT_QUALITY_LOW_CONFIDENCE", 0.5, ge=0, lt=1)
    audio_warnings: bool = env("STT_AUDIO_WARNINGS", True)
    warn_min_rms_dbfs: float = env("STT_WARN_MIN_RMS_DBFS", -40.0, ge=-120, le=0)
    warn_silence_dbfs: float = env("STT_WARN_SILENCE_DBFS", -50.0, ge=-120, le=0)
    warn_silence_fraction: float = env("STT_WARN_SILENCE_FRACTION", 0.9, gt=0, le=1)
    warn_clipping_fraction: float = env("STT_WARN_CLIPPING_FRACTION", 0.001, gt=0, le=1)
    warn_min_speech_s: float = env("STT_WARN_MIN_SPEECH_S", 1.0, ge=0, le=3600)
    # enhancement before transcription (Docs/Transcript_Intelligence.md#enhancement)
    enhance: Literal["off", "on", "auto"] = env("STT_ENHANCE", "auto")
    enhance_target_dbfs: float = env("STT_ENHANCE_TARGET_DBFS", -20.0, ge=-60, le=0)
    enhance_max_gain_db: float = env("STT_ENHANCE_MAX_GAIN_DB", 40.0, ge=0, le=80)
    enhance_highpass_hz: float = env("STT_ENHANCE_HIGHPASS_HZ", 80.0, ge=0, le=4000)
    enhance_lowpass_hz: float = env("STT_ENHANCE_LOWPASS_HZ", 7600.0, ge=0, le=8000)
    # meeting summaries by an OpenAI-compatible chat endpoint (off unless a base URL is set)
    summary_api_base: str | None = env("STT_SUMMARY_API_BASE", None, max_length=2048)
    summary_api_key: SecretStr | None = env("STT_SUMMARY_API_KEY", None)
    summary_model: str | None = env("STT_SUMMARY_MODEL", None, max_length=200)
    summary_context_tokens: int = env("STT_SUMMARY_CONTEXT_TOKENS", 8192, ge=512, le=2_000_000)
    summary_answer_tokens: int = env("STT_SUMMARY_ANSWER_TOKENS", 1024, ge=64, le=32_768)
    summary_timeout_s: float = env("STT_SUMMARY_TIMEOUT_S", 120.0, gt=0, le=3600)
    summary_max_retries: int = env("STT_SUMMARY_MAX_RETRIES", 2, ge=0, le=10)
    summary_backoff_s: float = env("STT_SUMMARY_BACKOFF_S", 1.0, ge=0, le=60)
    summary_json_mode: bool = env("STT_SUMMARY_JSON_MODE", True)
    # speech emotion recognition for emotion=true: a local checkpoint directory or a hub id
    emotion_model: str = env("STT_EMOTION_MODEL", "")
    emotion_batch_size: int = env("STT_EMOTION_BATCH_SIZE", 8, ge=1, le=64)

    @model_validator(mode="after")
    def _intelligence_coherent(self) -> IntelligenceSettings:
        if self.quality_low_confidence > self.quality_high_confidence:
            raise ValueError(
                "STT_QUALITY_LOW_CONFIDENCE must not exceed STT_QUALITY_HIGH_CONFIDENCE"
            )
        if 0 < self.enhance_lowpass_hz <= self.enhance_highpass_hz:
            raise ValueError("STT_ENHANCE_LOWPASS_HZ must be above STT_ENHANCE_HIGHPASS_HZ")
        return self

    @model_validator(mode="after")
    def _summaries_coherent(self) -> IntelligenceSettings:
        if not self.summary_api_base:
            return self
        if urlsplit(self.summary_api_base).scheme not in ("http", "https"):
            raise ValueError("STT_SUMMARY_API_BASE must be an http(s) URL")
        if not self.summary_model:
            raise ValueError("STT_SUMMARY_API_BASE needs STT_SUMMARY_MODEL (the chat model)")
        if self.summary_context_tokens < 3 * self.summary_answer_tokens + SUMMARY_PROMPT_TOKENS:
            raise ValueError(
                f"STT_SUMMARY_CONTEXT_TOKENS must be at least 3 x STT_SUMMARY_ANSWER_TOKENS + "
                f"{SUMMARY_PROMPT_TOKENS}: room for the instructions, the answer and two partial "
                "notes to merge"
            )
        return self
