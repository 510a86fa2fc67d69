"""Pipelines: TOML files naming steps (a tool with params), shipped in this package's
``pipelines/`` and added by users in ``<store>/pipelines/`` (same name overrides).

Three shapes, no general DAG: per-asset steps run in order for each unit (a step
may use the artifacts of earlier steps it ``needs``); aggregate steps (tools whose
manifest says ``shape = "aggregate"``) run once over the whole selection after the
per-asset steps.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mstore.errors import UsageError
from mstore.model.names import NAME_RULE, is_name

SHIPPED = Path(__file__).resolve().parent / "pipelines"


@dataclass(frozen=True)
class StepDef:
    name: str
    tool: str
    params: dict[str, Any] = field(default_factory=dict)
    sandbox: dict[str, Any] = field(default_factory=dict)  # params overriding under --sandbox
    needs: tuple[str, ...] = ()
    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class Pipeline:
    name: str
    description: str
    steps: tuple[StepDef, ...]
    sandbox_sample: str = "50"
    sandbox_ttl_days: float = 7.0
    source: Path | None = None


def load_pipeline(path: Path) -> Pipeline:
    try:
        raw = tomllib.loads(path.read_text())
        steps = tuple(
            StepDef(name=s["name"], tool=s["tool"], params=dict(s.get("params", {})),
                    sandbox=dict(s.get("sandbox", {})), needs=tuple(s.get("needs", ())),
                    kinds=tuple(s.get("kinds", ())))
            for s in raw["steps"])
        sb = raw.get("sandbox", {})
        p = Pipeline(name=raw.get("name", path.stem), description=raw.get("description", ""),
                     steps=steps, sandbox_sample=str(sb.get("sample", "50")),
                     sandbox_ttl_days=float(sb.get("ttl_days", 7.0)), source=path)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError) as e:
        raise UsageError(f"pipeline {path}: {e}") from e
    names = [s.name for s in p.steps]
    for name in (p.name, *names, *(k for s in p.steps for k in s.kinds)):
        if not is_name(name):
            raise UsageError(f"pipeline {path}: name {str(name)[:80]!r}: use {NAME_RULE}")
    if len(set(names)) != len(names):
        raise UsageError(f"pipeline {path}: step names must be unique")
    for i, s in enumerate(p.steps):
        for need in s.needs:
            if need not in names[:i]:
                raise UsageError(f"pipeline {path}: step {s.name} needs {need}, "
                                 "which is not an earlier step")
    return p


def pipeline_dirs(store_root: Path | None) -> list[Path]:
    dirs = [SHIPPED]
    if store_root is not None:
        dirs.append(store_root / "pipelines")
    return dirs


def all_pipelines(store_root: Path | None) -> dict[str, Pipeline]:
    out: dict[str, Pipeline] = {}
    for d in pipeline_dirs(store_root):
        if d.is_dir():
            for f in sorted(d.glob("*.toml")):
                p = load_pipeline(f)
                out[p.name] = p
    return out


def get_pipeline(store_root: Path | None, name: str) -> Pipeline:
    if name.endswith(".toml") and Path(name).is_file():
        return load_pipeline(Path(name))
    pipes = all_pipelines(store_root)
    if name not in pipes:
        raise UsageError(f"unknown pipeline '{name}' (known: {', '.join(sorted(pipes))})")
    return pipes[name]
