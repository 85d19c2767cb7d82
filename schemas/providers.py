"""Provider capability, health and model listing records."""

from __future__ import annotations

from enum import Enum

from pydantic import BaseModel, ConfigDict, Field


class Capabilities(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    models: list[str]
    languages: list[str] | None = Field(None, description="None means multilingual / any")
    streaming: bool = False
    word_timestamps: bool = False
    diarization: bool = False
    translation: bool = False
    language_detection: bool = False
    # transcribing without a language finds it (else the gateway detects it first)
    auto_language: bool = True
    hardware: list[str] = Field(default_factory=lambda: ["cpu"])
    max_duration_s: float | None = None


class Health(BaseModel):
    provider: str
    available: bool
    loaded_models: list[str] = Field(default_factory=list)
    device: str | None = None
    last_error: str | None = None
    detail: str | None = None


class LanguageDetection(BaseModel):
    language: str
    probability: float
    all_probs: list[tuple[str, float]]


class ModelCard(BaseModel):
    """OpenAI's model object, with the gateway's extras."""

    id: str
    object: str = "model"
    created: int = 0
    owned_by: str
    provider: str
    available: bool = True
    aliases: list[str] = Field(default_factory=list)
    capabilities: Capabilities | None = None


class ModelList(BaseModel):
    object: str = "list"
    data: list[ModelCard]


class BreakerState(str, Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerSnapshot(BaseModel):
    """A provider's circuit breaker as ``GET /v1/audio/providers`` shows it."""

    state: BreakerState
    consecutive_failures: int
    total_failures: int
    opened_for_s: float | None = None
    retry_in_s: float | None = None
    last_error: str | None = None


class ProviderStatus(BaseModel):
    """One entry of ``GET /v1/audio/providers``."""

    name: str
    default: bool = False
    capabilities: Capabilities
    health: Health
    breaker: BreakerSnapshot


class ProviderList(BaseModel):
    object: str = "list"
    data: list[ProviderStatus]
    fallback_chains: dict[str, list[str]] = Field(default_factory=dict)


class LanguageCandidate(BaseModel):
    language: str
    name: str
    probability: float


class LanguageResult(BaseModel):
    """``POST /v1/audio/language``: the most likely language and the top candidates."""

    language: str
    name: str
    probability: float
    candidates: list[LanguageCandidate]
    model: str
    duration: float
