"""The JSON that scripts read: the shapes of ``show --json``, ``find --json``,
``log --json`` and the others', as types.

These are a promise (docs/cli.md lists them, and a test checks that the list and these
types agree): a shape only ever gains keys. The command line converts what a service
returns into its shape before printing it, so output that drifts from its shape fails
loudly instead of reaching a script. ``UNSET`` fields are left out of the JSON.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType


class Shape(msgspec.Struct, kw_only=True, omit_defaults=False):
    pass


# -- show ASSET --------------------------------------------------------------------------
class HistoryEntry(Shape):
    hlc: int
    machine: str
    event: str
    asset: str | None
    detail: str | None


class AssetPath(Shape):
    root: str
    path: str
    current: bool
    history: list[HistoryEntry]


class AssetError(Shape, omit_defaults=True):
    reason: str
    detail: str
    root: str | UnsetType = UNSET
    path: str | UnsetType = UNSET


class Related(Shape):
    relation: Literal["sidecar", "sidecar-of", "live-pair", "copy"]
    root: str
    path: str
    asset: str


class LinkToAsset(Shape):
    root: str
    path: str
    target: str


class AssetArtifact(Shape):
    id: str
    tool: str
    version: str
    run: str
    step: str
    policy: str
    expires_ms: int | None
    made_ms: int
    aggregate: bool


class LabelEntry(Shape):
    key: str
    value: str
    about: str | None
    hlc: int
    at_ms: int


class AssetFace(Shape):
    n: int  # ASSET#N names this face (mstore people split)
    box: list[float]  # x, y, w, h as fractions of the upright image
    t: float | None  # a video frame's time, seconds
    score: float | None
    quality: float | None
    person: str | None
    name: str | None
    artifact: str  # the faces artifact it is from


class AssetShow(Shape):
    id: str
    kind: str
    mime: str
    size: int
    first_seen_hlc: int
    missing: bool
    meta: dict[str, Any]
    paths: list[AssetPath]
    errors: list[AssetError]
    related: list[Related]
    links: list[LinkToAsset]
    artifacts: dict[str, list[AssetArtifact]]
    labels: list[LabelEntry]
    faces: list[AssetFace]


# -- show PATH (a path that holds no asset) ----------------------------------------------
class LinkTarget(Shape):
    path: str
    asset: str | None


class PathError(Shape):
    reason: str
    detail: str
    hlc: int


class PathShow(Shape):
    root: str
    path: str
    link: LinkTarget | None
    error: PathError | None
    history: list[HistoryEntry]


# -- show RUN ----------------------------------------------------------------------------
class StepEntry(Shape):
    name: str
    tool: str
    version: str
    params: dict[str, Any]
    shape: str
    kinds: list[str]
    needs: list[str]
    resource: str
    units: int
    done: int
    reused: int
    failed: int
    skipped: int
    pending: int
    ms: int
    avg_ms: float | None


class FailureEntry(Shape):
    asset: str | None
    step: str
    error: str
    attempts: int
    path: str | None


class ArtifactSummary(Shape):
    id: str
    kind: str
    step: str
    tool: str
    version: str
    run: str
    asset: str | None
    members: int
    filename: str | None
    payload: str | None
    policy: str
    expires_ms: int | None
    made_ms: int


class RunShow(Shape):
    type: Literal["run"]
    id: str
    pipeline: str
    policy: str
    state: str
    state_detail: str
    selection: str
    sample: str
    parent: str | None
    force: bool
    ttl_days: float | None
    caps: dict[str, Any]
    host: str
    total: int
    done: int
    failed: int
    pending: int
    started_ms: int
    last_ms: int
    throughput: float
    eta_s: float | None
    steps: list[StepEntry]
    failures: list[FailureEntry]
    artifacts: int
    recent_artifacts: list[ArtifactSummary]
    temporal_url: str | None


# -- show ARTIFACT -----------------------------------------------------------------------
class Subject(Shape):
    id: str
    kind: str | None
    path: str | None


class AssetInput(Shape, tag_field="type", tag="asset"):
    id: str
    kind: str
    path: str | None


class ArtifactInput(Shape, tag_field="type", tag="artifact", omit_defaults=True):
    """An input artifact: its lineage facts, or ``missing`` ("dropped" by gc, "unknown")
    when it is not in the index; ``inputs`` (its own) while ``--depth`` goes on."""

    id: str
    kind: str | None
    tool: str | UnsetType = UNSET
    version: str | UnsetType = UNSET
    step: str | UnsetType = UNSET
    run: str | UnsetType = UNSET
    policy: str | UnsetType = UNSET
    asset: str | None | UnsetType = UNSET
    missing: str | UnsetType = UNSET
    inputs: list[AssetInput | ArtifactInput] | UnsetType = UNSET


class Derived(Shape):
    id: str
    kind: str
    tool: str
    version: str
    run: str
    step: str
    policy: str


class Payload(Shape):
    object: str
    size: int | None
    filename: str | None
    present: bool


class ArtifactShow(Shape):
    type: Literal["artifact"]
    id: str
    kind: str
    run: str
    run_state: str | None
    pipeline: str | None
    step: str
    tool: str
    version: str
    params: dict[str, Any]
    shape: str | None
    reuse_key: str | None
    asset: Subject | None
    members: list[str]
    inputs: list[AssetInput | ArtifactInput]
    derived: list[Derived]
    policy: str
    expires_ms: int | None
    expired: bool
    made_hlc: int
    made_ms: int
    host: str | None
    payload: Payload | None
    meta: dict[str, Any]
    data: Any
    data_bytes: int


# -- find, log -------------------------------------------------------------------------
class FindRow(Shape):
    id: str | None
    kind: str
    size: int
    taken: str | None
    paths: list[str]
    camera: str | None
    error: str | None
    match: dict[str, Any] | None  # what each matched provider term says ("text:x": snippet)


class LogRow(Shape):
    id: str
    pipeline: str
    policy: str
    state: str
    total: int
    steps: list[str]
    done: int
    failed: int
    step_counts: dict[str, dict[str, int]]
    started_ms: int
    last_ms: int
    throughput: float
    eta_s: float | None
    artifacts: int
    selection: str
    sample: str
    parent: str
    state_detail: str


# -- diff RUN_A RUN_B ------------------------------------------------------------------------
class DiffRun(Shape):
    run: str
    pipeline: str
    policy: str
    selection: str
    sample: str | None
    units: int


class DiffUnits(Shape):
    both: int
    only_a: int
    only_b: int


class DiffStep(Shape):
    name: str
    a: str | None  # tool@version in run a; null: the step is not in it
    b: str | None
    params: dict[str, list[Any]]  # key -> [value in a, value in b], the differing ones
    same: int
    differs: int
    one_only: int


class RunDiff(Shape):
    a: DiffRun
    b: DiffRun
    units: DiffUnits
    steps: list[DiffStep]


# -- people ------------------------------------------------------------------------------
class PersonEntry(Shape):
    id: str
    name: str | None
    faces: int
    assets: int


class PeopleList(Shape):
    people: list[PersonEntry]
    run: str | None  # the people run whose result this is
    policy: str | None


# -- pull / push / sync ----------------------------------------------------------------------
class Planned(Shape):
    objects: int
    bytes: int
    segments: int


class Transfer(Shape):
    direction: str
    objects: int
    object_bytes: int
    segments: int
    segment_bytes: int
    had: int
    gone: int
    rejected: list[str]
    planned: Planned
    seconds: float


class SyncSummary(Shape, omit_defaults=True):
    remote: str
    url: str
    kinds: list[str] | None
    pull: Transfer | UnsetType = UNSET
    push: Transfer | UnsetType = UNSET


SHAPES: dict[str, type[Shape]] = {
    "show ASSET": AssetShow, "show PATH": PathShow, "show RUN": RunShow,
    "show ARTIFACT": ArtifactShow, "find": FindRow, "log": LogRow,
    "people": PeopleList, "pull/push/sync/clone": SyncSummary, "diff": RunDiff,
}


def shaped(obj: dict[str, Any], shape: type[Shape]) -> Shape:
    """``obj`` as its promised shape (a missing key or a wrong type is a bug: it raises)."""
    return msgspec.convert(obj, shape, strict=False)


def render(shape: type[Shape] | Any) -> str:
    """The shape as docs/cli.md writes it: keys, nested objects and lists of them (a shape
    inside itself, like an input's inputs, as ``...``)."""
    return _render(shape, ())


def _render(tp: Any, outer: tuple[Any, ...]) -> str:
    import typing

    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        if tp in outer:
            return "..."
        parts = []
        tag = tp.__struct_config__.tag
        if tp.__struct_config__.tag_field and isinstance(tag, str):
            parts.append(f'"{tp.__struct_config__.tag_field}": "{tag}"')
        hints = typing.get_type_hints(tp)
        for name in tp.__struct_fields__:
            inner = _render(hints[name], (*outer, tp))
            optional = _is_unset(hints[name])
            key = f'"{name}"' + ("?" if optional else "")
            parts.append(f"{key}: {inner}" if inner else key)
        return "{" + ", ".join(parts) + "}"
    if origin is list:
        inner = _render(args[0], outer)
        return f"[{inner}]" if inner else ""
    if origin is dict:
        inner = _render(args[1], outer)
        return "{kind: " + inner + "}" if inner else ""
    if args:  # a union: render its structured members
        rendered = [r for a in args if (r := _render(a, outer))]
        return " | ".join(dict.fromkeys(rendered))
    return ""


def _is_unset(tp: Any) -> bool:
    import typing

    return UnsetType in typing.get_args(tp)
