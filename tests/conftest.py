"""Shared fixtures: isolated settings, synthesised speech, a live server."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

# Tests never read a developer's config.txt or .env files.
os.environ["STT_CONFIG_FILE"] = "/nonexistent/config.txt"

from app.core.config import Settings, load_settings
from tests.support.server import running_server
from tests.support.tracing import spans  # noqa: F401  (the ``spans`` fixture, suite-wide)

SettingsFactory = Callable[..., Settings]


@pytest.fixture
def make_settings(tmp_path: Path) -> SettingsFactory:
    """Settings with a private data directory; keyword arguments override fields."""

    def factory(**overrides: Any) -> Settings:
        overrides.setdefault("data_dir", tmp_path / "data")
        return load_settings(_env_file=None, **overrides)

    return factory


@pytest.fixture
def settings(make_settings: SettingsFactory) -> Settings:
    return make_settings()


@pytest.fixture
def live_server(settings: Settings) -> Iterator[str]:
    with running_server(settings) as url:
        yield url


@pytest.fixture(scope="session")
def shared_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("shared-data")


@pytest.fixture(scope="session")
def tiny_emotion_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random wav2vec2 emotion classifier saved for this session (STT_EMOTION_MODEL)."""
    pytest.importorskip("transformers")
    from tests.providers.tiny_models import build_tiny_emotion

    return build_tiny_emotion(tmp_path_factory.mktemp("emotion") / "tiny-emotion")


@pytest.fixture(scope="session")
def model_server(shared_data_dir: Path) -> Iterator[str]:
    """One live server with the real models, shared by the end-to-end tests of a session."""
    settings = load_settings(_env_file=None, data_dir=shared_data_dir, max_file_size_mb=2)
    with running_server(settings) as url:
        yield url
