"""Tool manifests: ``manifest.toml`` in each tool folder.

```toml
id = "thumbnail"
version = "1"
description = "Small previews"
inputs = ["image"]            # asset kinds, or "artifact:<kind>" for upstream artifacts
outputs = ["thumbnail"]       # artifact kinds it makes
resource = "cpu"              # task queue class: cpu | io | gpu
shape = "per-asset"           # or "aggregate" (one call over the whole selection)
entry = "python:tool:run"     # python:<module file without .py>:<function>, or exec:<file>
ui = "ui:register"            # optional: registers the tool's web UI (panels, pages, actions)
views = ["frames"]            # optional: media views it reads (req.views), see views.py
provides = { frames = "keyframe" }  # optional: views its outputs of that kind materialize

[params.size]                 # one table per parameter: type, default, help
type = "int"
default = 256
min = 16                      # optional bounds for int / float params (inclusive)
max = 4096
help = "longest side in pixels"
```
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mstore.errors import UsageError
from mstore.model.names import NAME_RULE, is_name
from mstore.model.records import RESOURCES
from mstore.tools.views import VIEWS

PARAM_TYPES = {"int": int, "float": (int, float), "str": str, "bool": bool, "list": list}
# an int param travels in msgpack/JSON records and requests: it must fit in 64 bits whatever
# the manifest's own bounds say
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
SHAPES = ("per-asset", "aggregate")


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: str
    default: Any
    help: str = ""
    choices: tuple[Any, ...] = ()
    min: float | None = None  # inclusive bounds of an int / float param
    max: float | None = None

    def coerce(self, value: Any) -> Any:
        """A value from the command line (a string) or TOML, checked against the type."""
        if isinstance(value, str) and self.type != "str":
            try:
                value = {"int": int, "float": float,
                         "bool": lambda v: {"true": True, "false": False}[v.lower()],
                         "list": lambda v: [x for x in v.split(",") if x]}[self.type](value)
            except (ValueError, KeyError):
                raise UsageError(f"param {self.name}: {value!r} is not a {self.type}") from None
        if not isinstance(value, PARAM_TYPES[self.type]) or (
                self.type != "bool" and isinstance(value, bool)):
            raise UsageError(f"param {self.name}: {value!r} is not a {self.type}")
        if self.choices and value not in self.choices:
            raise UsageError(f"param {self.name}: {value!r} is not one of {list(self.choices)}")
        if self.type in ("int", "float"):
            if value != value or value in (float("inf"), float("-inf")):  # nan, inf
                raise UsageError(f"param {self.name}: {value!r} is not a finite number")
            lo = self.min if self.min is not None else (INT_MIN if self.type == "int" else None)
            hi = self.max if self.max is not None else (INT_MAX if self.type == "int" else None)
            if (lo is not None and value < lo) or (hi is not None and value > hi):
                raise UsageError(f"param {self.name}: {value!r} is out of range "
                                 f"({_fmt_bound(lo)}..{_fmt_bound(hi)})")
        return value


def _fmt_bound(b: float | None) -> str:
    return "" if b is None else f"{b:g}" if isinstance(b, float) else str(b)


@dataclass(frozen=True)
class Manifest:
    id: str
    version: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    entry: str
    folder: Path
    resource: str = "cpu"
    shape: str = "per-asset"
    description: str = ""
    params: dict[str, ParamSpec] = field(default_factory=dict)
    ui: str = ""  # "<module>:<function>" that registers the tool's web UI
    views: tuple[str, ...] = ()  # media views it reads: offered in req.views
    provides: dict[str, str] = field(default_factory=dict)  # view -> output kind making it
    # aggregate tools: given their newest earlier call's outputs (req.previous), and the
    # labels whose keys start with one of these prefixes (req.labels)
    incremental: bool = False
    labels: tuple[str, ...] = ()

    @property
    def asset_kinds(self) -> set[str]:
        return {i for i in self.inputs if not i.startswith("artifact:")}

    @property
    def artifact_inputs(self) -> list[str]:
        return [i.split(":", 1)[1] for i in self.inputs if i.startswith("artifact:")]

    def resolve_params(self, given: dict[str, Any]) -> dict[str, Any]:
        """Defaults overlaid with ``given``; unknown names are an error."""
        unknown = set(given) - set(self.params)
        if unknown:
            raise UsageError(f"tool {self.id}: unknown params {sorted(unknown)} "
                             f"(known: {sorted(self.params)})")
        out = {n: p.default for n, p in self.params.items()}
        out.update({n: self.params[n].coerce(v) for n, v in given.items()})
        return dict(sorted(out.items()))


def load_manifest(path: Path) -> Manifest:
    try:
        raw = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise UsageError(f"{path}: {e}") from e
    try:
        params = {
            name: ParamSpec(name, spec["type"], spec.get("default"), spec.get("help", ""),
                            tuple(spec.get("choices", ())), spec.get("min"), spec.get("max"))
            for name, spec in raw.get("params", {}).items()
        }
        m = Manifest(id=raw["id"], version=str(raw["version"]), inputs=tuple(raw["inputs"]),
                     outputs=tuple(raw["outputs"]), entry=raw["entry"], folder=path.parent,
                     resource=raw.get("resource", "cpu"), shape=raw.get("shape", "per-asset"),
                     description=raw.get("description", ""), params=params,
                     ui=raw.get("ui", raw.get("panels", "")),
                     views=tuple(raw.get("views", ())), provides=dict(raw.get("provides", {})),
                     incremental=bool(raw.get("incremental", False)),
                     labels=tuple(str(k) for k in raw.get("labels", ())))
    except KeyError as e:
        raise UsageError(f"{path}: missing key {e}") from None
    except (TypeError, ValueError) as e:
        raise UsageError(f"{path}: {e}") from None
    for what, names in (("id", [m.id]), ("outputs", m.outputs),
                        ("inputs", [i.removeprefix("artifact:") for i in m.inputs])):
        bad = [n for n in names if not is_name(n)]
        if bad:
            raise UsageError(f"{path}: {what} {bad[0]!r}: use {NAME_RULE}")
    if m.resource not in RESOURCES:
        raise UsageError(f"{path}: resource must be one of {RESOURCES}")
    if m.shape not in SHAPES:
        raise UsageError(f"{path}: shape must be one of {SHAPES}")
    if not m.entry.startswith(("python:", "exec:")):
        raise UsageError(f"{path}: entry must be python:<module>:<function> or exec:<file>")
    if "ui" in raw and "panels" in raw:
        raise UsageError(f"{path}: give ui (panels is its older name), not both")
    if m.ui and not re.fullmatch(r"[A-Za-z_]\w*:[A-Za-z_]\w*", m.ui):
        raise UsageError(f"{path}: ui must be <module>:<function>, not {m.ui!r}")
    for view in [*m.views, *m.provides]:
        if view not in VIEWS:
            raise UsageError(f"{path}: unknown view {view!r} (views: {', '.join(VIEWS)})")
    for view, kind in m.provides.items():
        if kind not in m.outputs:
            raise UsageError(f"{path}: provides {view} = {kind!r}, which is not one of its "
                             f"outputs")
    if (m.incremental or m.labels) and m.shape != "aggregate":
        raise UsageError(f"{path}: incremental and labels are for aggregate tools")
    if any(not k for k in m.labels):
        raise UsageError(f"{path}: labels are non-empty key prefixes")
    for p in params.values():
        if p.type not in PARAM_TYPES:
            raise UsageError(f"{path}: param {p.name} has unknown type {p.type}")
        for bound in (p.min, p.max):
            if bound is not None and (p.type not in ("int", "float")
                                      or not isinstance(bound, int | float)
                                      or isinstance(bound, bool)):
                raise UsageError(f"{path}: param {p.name}: min / max need an int or float "
                                 f"param and a number")
        if p.default is not None:
            p.coerce(p.default)
    return m
