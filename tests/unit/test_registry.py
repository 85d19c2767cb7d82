"""Model id resolution."""

from __future__ import annotations

import pytest

from providers.mock import MockProvider
from providers.registry import ProviderRegistry
from schemas.errors import InvalidRequest, ModelNotFound
from schemas.options import Task


class _Named(MockProvider):
    def __init__(self, name: str, models: list[str]) -> None:
        super().__init__()
        self.name = name
        self._models = models

    def available_models(self) -> list[str]:
        return self._models


@pytest.fixture
def registry() -> ProviderRegistry:
    return ProviderRegistry(
        {
            "fw": _Named("fw", ["tiny.en", "base"]),
            "alt": _Named("alt", ["base", "other"]),
            "mock": MockProvider(),
        },
        default_provider="fw",
        default_model="tiny.en",
        translation_model="base",
    )


def test_alias(registry: ProviderRegistry) -> None:
    assert registry.resolve("whisper-1").label == "fw:tiny.en"
    assert registry.resolve("whisper-1", Task.TRANSLATE).label == "fw:base"


def test_bare_name_prefers_default_provider(registry: ProviderRegistry) -> None:
    assert registry.resolve("base").label == "fw:base"
    assert registry.resolve("other").label == "alt:other"
    assert registry.resolve("mock").label == "mock:mock"


def test_pinned(registry: ProviderRegistry) -> None:
    assert registry.resolve("alt:base").label == "alt:base"
    with pytest.raises(ModelNotFound):
        registry.resolve("alt:tiny.en")
    with pytest.raises(ModelNotFound):
        registry.resolve("nope:base")


def test_errors(registry: ProviderRegistry) -> None:
    with pytest.raises(InvalidRequest):
        registry.resolve("  ")
    with pytest.raises(ModelNotFound):
        registry.resolve("large-v9")


def test_model_cards(registry: ProviderRegistry) -> None:
    ids = [c.id for c in registry.model_cards()]
    assert ids[0] == "whisper-1"
    assert {"tiny.en", "base", "other", "mock"} <= set(ids)
