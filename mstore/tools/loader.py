"""Loading a Python function from a tool's folder (its entry, or its UI panels)."""

from __future__ import annotations

import importlib.util
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

# (file, tool version) -> module: a long-lived process (a worker's tool process) loads a
# tool once per version, and loads it again when the tool changed (a new version)
_modules: dict[tuple[Path, str], ModuleType] = {}
_lock = threading.Lock()  # activities run in threads: load each module once


class LoadFailed(Exception):
    """The module file is missing or has no such function."""


def load_function(folder: Path, ref: str, owner: str, version: str = "") -> Callable[..., Any]:
    """``ref`` is ``<module file without .py>:<function>`` in ``folder``; the module is
    loaded once per process and ``version`` under a name of its own (tools may share
    module names)."""
    module, _, func = ref.partition(":")
    path = (folder / f"{module}.py").resolve()
    with _lock:
        mod = _modules.get((path, version))
        if mod is None:
            name = f"mstore_tool_{owner.replace('-', '_')}_{module}"
            spec = importlib.util.spec_from_file_location(name, path)
            if spec is None or spec.loader is None or not path.is_file():
                raise LoadFailed(f"tool {owner}: cannot load {path}")
            mod = importlib.util.module_from_spec(spec)
            sys.modules[name] = mod
            try:
                spec.loader.exec_module(mod)
            except BaseException:
                sys.modules.pop(name, None)
                raise
            _modules[(path, version)] = mod
    fn = getattr(mod, func, None)
    if not callable(fn):
        raise LoadFailed(f"tool {owner}: {path.name} has no function {func}")
    return fn
