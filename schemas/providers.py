"""Provider capability, health and model listing records."""

from __future__ import annotations

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
