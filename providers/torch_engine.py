"""What the optional PyTorch engines (transformers, NeMo) share: detecting their extra without
importing it, choosing the device, health and offline availability, and a load-once model cache
with one inference lock per model (PyTorch modules are not safe to call from two threads)."""

from __future__ import annotations

import importlib.util
import threading
from abc import abstractmethod
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, Protocol

from loguru import logger

from providers.base import Provider
from schemas.errors import (
    CapabilityNotSupported,
    FatalProviderError,
    ModelNotFound,
    ProviderError,
    RetriableProviderError,
)
from schemas.providers import Health


class EngineConfig(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def models(self) -> Mapping[str, str]: ...  # model name -> local location or hub id
    @property
    def allow_downloads(self) -> bool: ...
    @property
    def force_cpu(self) -> bool: ...


def missing_modules(modules: tuple[str, ...], extra: str) -> str | None:
    """Why the extra cannot be used here, or ``None`` when it can (checks without importing)."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            return (
                f"python package '{module}' is not installed (pip install 'stt-gateway[{extra}]')"
            )
    return None


def torch_device(force_cpu: bool) -> str:
    """``cuda`` when PyTorch sees a GPU and ``STT_FORCE_CPU`` is off, else ``cpu``."""
    if force_cpu:
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def is_oom(exc: BaseException) -> bool:
    return "out of memory" in str(exc).lower()


def inference_failure(exc: BaseException, what: str) -> ProviderError:
    """Out-of-memory is retriable (fallbacks, a job's next attempt), the rest fatal."""
    kind = RetriableProviderError if is_oom(exc) else FatalProviderError
    return kind(f"{what}: {exc}")


class TorchEngine(Provider):
    #: the pip extra, the modules it provides, and the setting that lists the models
    extra: ClassVar[str]
    modules: ClassVar[tuple[str, ...]]
    models_setting: ClassVar[str]

    def __init__(self, config: EngineConfig) -> None:
        self.name = config.name
        self._config = config
        self._models: dict[str, Any] = {}
        self._locks: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self._last_error: str | None = None
        self._missing = missing_modules(self.modules, self.extra)

    @abstractmethod
    def _is_local(self, location: str) -> bool:
        """``location`` loads without a network."""

    @abstractmethod
    def _load(self, model: str, location: str, device: str) -> Any:
        """Build the engine's model object (called once per model, under the load lock)."""

    # -- metadata -------------------------------------------------------------------------
    @property
    def device(self) -> str:
        return torch_device(bool(self._missing) or self._config.force_cpu)

    def available_models(self) -> list[str]:
        if self._missing:
            return []
        return [
            name
            for name, location in self._config.models.items()
            if self._is_local(location) or self._config.allow_downloads
        ]

    def healthcheck(self) -> Health:
        detail = self._missing or (
            None if self.available_models() else f"no model configured ({self.models_setting})"
        )
        # the device is only worth importing torch for once a model is loaded
        known = self._models or self._missing or self._config.force_cpu
        return Health(
            provider=self.name,
            available=detail is None,
            loaded_models=sorted(self._models),
            device=self.device if known else None,
            last_error=self._last_error,
            detail=detail,
        )

    # -- models ---------------------------------------------------------------------------
    def load(self, model: str) -> Any:
        if (loaded := self._models.get(model)) is not None:
            return loaded
        if self._missing:
            raise CapabilityNotSupported(f"provider '{self.name}' is unavailable: {self._missing}")
        if model not in self.available_models():
            raise ModelNotFound(
                f"model '{model}' is not configured or not available offline for '{self.name}'",
                param="model",
            )
        with self._lock:
            if (loaded := self._models.get(model)) is not None:
                return loaded
            location, device = self._config.models[model], self.device
            logger.info("loading {} model {} ({}) on {}", self.name, model, location, device)
            try:
                loaded = self._load(model, location, device)
            except (OSError, ValueError, RuntimeError) as exc:
                raise self.failure(exc, f"could not load {self.name} model '{model}'") from exc
            self._locks[model] = threading.Lock()
            self._models[model] = loaded
            return loaded

    @contextmanager
    def exclusive(self, model: str) -> Iterator[None]:
        """Hold ``model`` for one inference."""
        with self._locks[model]:
            yield

    def failure(self, exc: BaseException, what: str) -> ProviderError:
        """Remember ``exc`` for health; :func:`inference_failure`."""
        self._last_error = f"{what}: {exc}"
        return inference_failure(exc, what)
