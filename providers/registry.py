"""Resolve a request's ``model`` to a provider and one of its models.

Accepted ids: an alias (``whisper-1`` is the configured default), ``provider:model`` to pin a
provider, a provider's own name (its default model), or a bare model name served by some
provider (the default provider is asked first).

Fallback chains (:meth:`ProviderRegistry.chain`): the resolved target, then its CPU twin when
the target's provider runs on a GPU, then the per-request fallbacks or else the configured ones
for the requested id (``fallbacks`` keyed by the id as requested, by ``provider:model``, or by
``*`` for every model). :mod:`providers.fallback` walks the chain with the circuit breakers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from loguru import logger

from providers.base import Provider
from providers.breaker import BreakerBoard, BreakerPolicy
from schemas.errors import GatewayError, InvalidRequest, ModelNotFound
from schemas.options import Task
from schemas.providers import ModelCard, ProviderStatus

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
        fallbacks: Mapping[str, Sequence[str]] | None = None,
        cpu_twins: Mapping[str, str] | None = None,
        breakers: BreakerBoard | None = None,
    ) -> None:
        if default_provider not in providers:
            raise ValueError(f"default provider '{default_provider}' is not registered")
        self._providers = dict(providers)
        self.default_provider = default_provider
        self.default_model = default_model
        self.translation_model = translation_model
        self.fallbacks = {key: list(ids) for key, ids in (fallbacks or {}).items()}
        self.cpu_twins = dict(cpu_twins or {})
        self.breakers = breakers or BreakerBoard(BreakerPolicy())

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

    # -- fallback chains ------------------------------------------------------------------
    def chain(
        self,
        model_id: str | None,
        task: Task = Task.TRANSCRIBE,
        fallback: Sequence[str] | None = None,
    ) -> list[Resolved]:
        """The targets to try for a request, in order, without duplicates.

        ``fallback`` (the request's own order) replaces the configured one; its ids must all
        resolve. Configured ids that do not resolve here are skipped with a warning.
        """
        primary = self.resolve(model_id, task)
        targets = [primary]
        twin = self.cpu_twins.get(primary.provider.name)
        if twin in self._providers and primary.model in self._providers[twin].available_models():
            targets.append(Resolved(self._providers[twin], primary.model, primary.requested))
        if fallback is not None:
            targets += [self._resolve_fallback(f, task) for f in fallback]
        else:
            for configured in self.configured_fallbacks(primary):
                try:
                    targets.append(self.resolve(configured, task))
                except GatewayError as exc:
                    logger.warning("skipping fallback '{}': {}", configured, exc.message)
        unique: dict[str, Resolved] = {}
        for target in targets:
            unique.setdefault(target.label, target)
        return list(unique.values())

    def configured_fallbacks(self, primary: Resolved) -> list[str]:
        for key in (primary.requested, primary.label, "*"):
            if key in self.fallbacks:
                return self.fallbacks[key]
        return []

    def _resolve_fallback(self, model_id: str, task: Task) -> Resolved:
        try:
            return self.resolve(model_id, task)
        except ModelNotFound as exc:
            raise ModelNotFound(
                f"fallback model '{model_id}' does not exist or is not available here",
                param="fallback_models",
            ) from exc

    def statuses(self) -> list[ProviderStatus]:
        """Capabilities, health and breaker state of every provider (may block: thread it)."""
        return [
            ProviderStatus(
                name=name,
                default=name == self.default_provider,
                capabilities=provider.capabilities(),
                health=provider.healthcheck(),
                breaker=self.breakers.get(name).snapshot(),
            )
            for name, provider in self._providers.items()
        ]

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
