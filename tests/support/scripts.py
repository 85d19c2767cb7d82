"""Load a Helper_Scripts/ program as a module, so tests can call its functions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HELPERS = Path(__file__).resolve().parents[2] / "Helper_Scripts"


def load_script(name: str) -> ModuleType:
    """``Helper_Scripts/<name>.py`` as the module ``name`` (loaded once per session)."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, HELPERS / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
