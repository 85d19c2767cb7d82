"""Model name resolution: local dirs, offline packages, split parts joined once, downloads off."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from providers.faster_whisper.model_store import SPLIT_PACKAGES, ModelStore, SplitPackage
from schemas.errors import ModelNotFound


def _fake_model(path: Path) -> None:
    path.mkdir(parents=True)
    (path / "model.bin").write_bytes(b"weights")
    (path / "config.json").write_text("{}")


def test_local_dir_wins(tmp_path: Path) -> None:
    _fake_model(tmp_path / "models" / "my-model")
    store = ModelStore(
        model_dir=tmp_path / "models", cache_dir=tmp_path / "cache", allow_downloads=False
    )
    assert store.resolve("my-model") == str(tmp_path / "models" / "my-model")
    assert "my-model" in store.local_models()


def test_installed_packages(tmp_path: Path) -> None:
    store = ModelStore(model_dir=None, cache_dir=tmp_path, allow_downloads=False)
    assert Path(store.resolve("tiny.en"), "model.bin").is_file()
    assert {"tiny.en", "base"} <= set(store.local_models())


def test_unknown_model_without_downloads(tmp_path: Path) -> None:
    store = ModelStore(model_dir=None, cache_dir=tmp_path, allow_downloads=False)
    with pytest.raises(ModelNotFound, match="downloads are disabled"):
        store.resolve("large-v3")
    assert "large-v3" not in store.available_models()
    online = ModelStore(model_dir=None, cache_dir=tmp_path, allow_downloads=True)
    assert online.resolve("large-v3") == "large-v3"
    with pytest.raises(ModelNotFound):
        online.resolve("../../etc")


def test_split_parts_joined_once_concurrently(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = tmp_path / "p1", tmp_path / "p2"
    one.mkdir()
    two.mkdir()
    (one / "model.bin.part1").write_bytes(b"A" * 1000)
    (two / "model.bin.part2").write_bytes(b"B" * 10)
    (two / "config.json").write_text('{"x": 1}')
    (two / "tokenizer.json").write_text("{}")
    package = SplitPackage(("unused",))
    monkeypatch.setattr(package.__class__, "part_dirs", lambda self: [one, two])
    monkeypatch.setitem(SPLIT_PACKAGES, "fake", package)
    store = ModelStore(model_dir=None, cache_dir=tmp_path / "cache", allow_downloads=False)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(store.resolve("fake"))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    target = Path(results[0])
    assert len(set(results)) == 1
    assert (target / "model.bin").read_bytes() == b"A" * 1000 + b"B" * 10
    assert (target / "config.json").read_text() == '{"x": 1}'
    assert not (target / "model.bin.part2").exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["fake-joined"]
    mtime = (target / "model.bin").stat().st_mtime_ns
    store.resolve("fake")
    assert (target / "model.bin").stat().st_mtime_ns == mtime  # not joined again
