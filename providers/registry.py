"""Resolve a request's ``model`` to a provider and one of its models.

Accepted ids: an alias (``whisper-1`` is the configured default), ``provider:model`` to pin a
provider, a provider's own name (its default model), or a bare model name served by some
provider (the default provider is asked first).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from providers.base import Provider
from schemas.errors import InvalidRequest, ModelNotFound
from schemas.options import Task
from schemas.providers import ModelCard

OPENAI_ALIAS = "whisper-1"


@dataclass(frozen=True)
class Resolved:
    provider: Provider
    model: str
    requested: str

    @property
    def label(self) -> str:
        return f"{self.provider.name}:{self.model}"


class ProviderRegistry:
    def __init__(
        self,
        providers: Mapping[str, Provider],
        *,
        default_provider: str,
        default_model: str,
        translation_model: str,
    ) -> None:
        if default_provider not in providers:
            raise ValueError(f"default provider '{default_provider}' is not registered")
        self._providers = dict(providers)
        self.default_provider = default_provider
        self.default_model = default_model
        self.translation_model = translation_model

    def providers(self) -> dict[str, Provider]:
        return dict(self._providers)

    def get(self, name: str) -> Provider:
        try:
            return self._providers[name]
        except KeyError:
            raise ModelNotFound(f"provider '{name}' is not registered", param="model") from None

    def resolve(self, model_id: str | None, task: Task = Task.TRANSCRIBE) -> Resolved:
        requested = (model_id or "").strip()
        if not requested:
            raise InvalidRequest(
                "you must provide a model parameter",
                param="model",
                code="missing_required_parameter",
            )
        if requested == OPENAI_ALIAS:
            target = self.translation_model if task is Task.TRANSLATE else self.default_model
            return self._pick(self.default_provider, target, requested)
        if ":" in requested:
            provider_name, _, model = requested.partition(":")
            return self._pick(provider_name, model, requested)
        if requested in self._providers:
            provider = self._providers[requested]
            return Resolved(provider, provider.available_models()[0], requested)
        order = [self.default_provider, *(n for n in self._providers if n != self.default_provider)]
        for name in order:
            if requested in self._providers[name].available_models():
                return Resolved(self._providers[name], requested, requested)
        raise ModelNotFound(
            f"the model '{requested}' does not exist or is not available here", param="model"
        )

    def _pick(self, provider_name: str, model: str, requested: str) -> Resolved:
        provider = self.get(provider_name)
        if model not in provider.available_models():
            raise ModelNotFound(
                f"the model '{requested}' does not exist or is not available here", param="model"
            )
        return Resolved(provider, model, requested)

    def model_cards(self) -> list[ModelCard]:
        cards = [
            ModelCard(
                id=OPENAI_ALIAS,
                owned_by="stt-gateway",
                provider=self.default_provider,
                aliases=[f"{self.default_provider}:{self.default_model}"],
            )
        ]
        for name, provider in self._providers.items():
            caps = provider.capabilities()
            for model in provider.available_models():
                cards.append(
                    ModelCard(
                        id=model,
                        owned_by=name,
                        provider=name,
                        aliases=[f"{name}:{model}"],
                        capabilities=caps,
                    )
                )
        return cards

    def model_card(self, model_id: str) -> ModelCard:
        resolved = self.resolve(model_id)
        return ModelCard(
            id=model_id,
            owned_by=resolved.provider.name,
            provider=resolved.provider.name,
            aliases=[resolved.label],
            capabilities=resolved.provider.capabilities(),
        )
