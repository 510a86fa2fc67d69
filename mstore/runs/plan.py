"""Planning a run: which assets (units), which tools at which versions with which
params, under which policy. The result is a ``RunStarted`` record; the unit list is
stored as an object so a million units do not bloat a record."""

from __future__ import annotations

import heapq
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import blake3
import msgspec

from mstore.errors import EXIT_NOTHING, MstoreError, UsageError
from mstore.model.meta import KINDS
from mstore.model.records import RunStarted, StepSpec
from mstore.runs.pipelines import Pipeline
from mstore.store.store import Store
from mstore.tools.registry import Registry

POLICIES = ("sandbox", "production")


class NothingToRun(MstoreError):
    """The selection holds no unit the pipeline applies to: nothing is recorded or started."""

    exit_code = EXIT_NOTHING


@dataclass
class RunRequest:
    pipeline: Pipeline
    selection: str = ""  # a query, or "@collection"
    policy: str = "sandbox"  # safe experimentation first: production is asked for
    sample: str = ""  # sandbox: "N" or "P%"
    params: dict[str, dict[str, Any]] | None = None  # step -> {param: value}
    force: bool = False
    max_units: int = 0
    max_concurrency: int = 0
    max_bytes: int = 0
    parent: str = ""
    units: list[str] | None = None  # explicit units (rerun of failures)


def new_run_id() -> str:
    return time.strftime("r%Y%m%d-%H%M%S-") + os.urandom(2).hex()


def parse_param_overrides(items: list[str]) -> dict[str, dict[str, Any]]:
    """``step.key=value`` strings -> {step: {key: value}} (values coerced later)."""
    out: dict[str, dict[str, Any]] = {}
    for item in items:
        left, eq, value = item.partition("=")
        step, dot, key = left.partition(".")
        if not eq or not dot or not step or not key:
            raise UsageError(f"--param {item!r}: expected STEP.KEY=VALUE")
        out.setdefault(step, {})[key] = value
    return out


def check_sample(spec: str) -> None:
    """A sample is N units (N >= 1) or P% (0 < P <= 100); anything else is a usage error."""
    if not spec:
        return
    try:
        value = float(spec[:-1]) if spec.endswith("%") else int(spec)
    except ValueError:
        raise UsageError(f"--sample {spec!r}: expected N (units) or P% (a percentage)") from None
    if spec.endswith("%"):
        if not 0 < value <= 100:  # also rejects nan
            raise UsageError(f"--sample {spec!r}: a percentage must be above 0 and at most 100")
    elif value < 1:
        raise UsageError(f"--sample {spec!r}: a sample is at least 1 unit")


def sample_units(units: list[str], spec: str) -> list[str]:
    """A deterministic sample: the units whose BLAKE3(id) sort first. The same selection
    gives the same sample every time, and a bigger sample contains a smaller one."""
    if not spec:
        return units
    check_sample(spec)
    if spec.endswith("%"):
        n = max(1, round(len(units) * float(spec[:-1]) / 100))
    else:
        n = int(spec)
    if n >= len(units):
        return units

    def key(u: str) -> bytes:
        return blake3.blake3(b"sample\0" + u.encode()).digest()

    # a few (a sample of 50 of a million units: 0.7 s, not 2.3): the n smallest without
    # sorting them all, which costs more than the sort once n is a fair part of the units
    keyed = heapq.nsmallest(n, units, key=key) if n * 64 < len(units) else sorted(
        units, key=key)[:n]
    chosen = set(keyed)
    return [u for u in units if u in chosen]  # keep selection order


def resolve_steps(req: RunRequest, registry: Registry) -> list[StepSpec]:
    overrides = dict(req.params or {})
    names = {s.name for s in req.pipeline.steps}
    unknown = set(overrides) - names
    if unknown:
        raise UsageError(f"--param: no step {sorted(unknown)} in pipeline "
                         f"{req.pipeline.name} (steps: {', '.join(sorted(names))})")
    steps = []
    for s in req.pipeline.steps:
        m = registry.get(s.tool)
        given = dict(s.params)
        if req.policy == "sandbox":
            given.update(s.sandbox)
        given.update(overrides.get(s.name, {}))
        kinds = list(s.kinds) or sorted(m.asset_kinds - {"any"})
        steps.append(StepSpec(name=s.name, tool=m.id, version=m.version,
                              params=m.resolve_params(given), shape=m.shape, kinds=kinds,
                              needs=list(s.needs), resource=m.resource))
    return steps


def select_units(store: Store, selection: str, kinds: set[str]) -> list[str]:
    """Asset ids matched by a query (or ``@collection``), limited to ``kinds``, in catalog
    order; missing assets are skipped (there is no file to read)."""
    from mstore.query.collections import collection_units
    from mstore.query.evaluate import evaluate
    from mstore.query.snapshot import load_table
    from mstore.query.table import F_MISSING, KIND_CODES, NO_ID
    from mstore.query.terms import TermContext

    table = load_table(store)
    # whole columns once, not a row at a time: a million units are planned in about a second
    kind_of, flags, ids = table.kinds, table.flags, table.ids
    if selection.startswith("@"):
        allowed = {bytes.fromhex(aid) for aid in collection_units(store, selection[1:])}
        rows = [i for i in range(table.n) if ids[32 * i:32 * i + 32] in allowed]
    else:
        rows = evaluate(selection, table, TermContext(store))
    codes = {KIND_CODES[k] for k in kinds if k in KIND_CODES}
    out = []
    for i in rows:
        if (codes and kind_of[i] not in codes) or flags[i] & F_MISSING:
            continue
        raw = ids[32 * i:32 * i + 32]
        if raw != NO_ID:
            out.append(raw.hex())
    return out


def bytes_cap(store: Store, units: list[str], max_bytes: int) -> list[str]:
    """The first units (in run order) whose assets hold at most ``max_bytes`` together: the
    unit that would pass the cap and every one after it are left out. Decided here, not
    while the run goes: the cap is then exact (chunks in flight cannot overshoot it), the
    unit list says what the run covers, and the run completes like any other."""
    idx = store.index
    total = 0
    with idx.read() as txn:
        for n, aid in enumerate(units):
            a = idx.asset(txn, aid)
            total += a.size if a is not None else 0
            if total > max_bytes:
                if n == 0:
                    raise NothingToRun(
                        f"nothing to run: the first unit alone is {total:,} bytes, more than "
                        f"--max-bytes {max_bytes:,}; no run was recorded")
                return units[:n]
    return units


@dataclass
class Plan:
    record: RunStarted  # without hlc and units_object (the caller stores the list)
    units: bytes  # the encoded unit list, to store as an object
    selected: int  # units the selection held before the sample and --max-units
    unit_ids: list[str]  # ... and the list itself, for what reads it before it is stored


def plan(store: Store, req: RunRequest, registry: Registry | None = None
         ) -> tuple[RunStarted, bytes]:
    """The RunStarted record (without hlc) and the encoded unit list to store as an object."""
    p = plan_run(store, req, registry)
    return p.record, p.units


def plan_run(store: Store, req: RunRequest, registry: Registry | None = None) -> Plan:
    """Every check of a run request happens here, before anything is recorded or started:
    policy, sample, caps, params (types and ranges), the selection; a selection that holds
    no unit the pipeline applies to raises NothingToRun."""
    if req.policy not in POLICIES:
        raise UsageError(f"policy must be one of {POLICIES}")
    if req.policy == "production" and req.sample:
        raise UsageError("--sample is for sandbox runs: a production run covers every "
                         "selected unit (use --max-units N to cap it)")
    check_sample(req.sample)
    for name, cap in (("--max-units", req.max_units), ("--max-concurrency", req.max_concurrency),
                      ("max_bytes", req.max_bytes)):
        if cap < 0:
            raise UsageError(f"{name} {cap}: must be at least 1")
    registry = registry or Registry.for_store(store.root)
    steps = resolve_steps(req, registry)
    # every kind some step applies to: an aggregate step (duplicate groups) may take kinds
    # that none of the per-asset steps before it handle
    kinds = {k for s in steps for k in (s.kinds or KINDS)}
    if req.units is not None:
        units = req.units
    else:
        units = select_units(store, req.selection, kinds or set(KINDS))
    selected = len(units)
    if not units:
        what = f"'{req.selection}' matches" if req.selection else "the catalog holds"
        raise NothingToRun(f"nothing to run: {what} no {' / '.join(sorted(kinds))} asset "
                           f"(what {req.pipeline.name} applies to); no run was recorded")
    sample = ""
    if req.policy == "sandbox" and req.units is None:  # a rerun's units are not sampled again
        sample = req.sample or req.pipeline.sandbox_sample
        units = sample_units(units, sample)
    if req.max_units and len(units) > req.max_units:
        units = units[: req.max_units]
    if req.max_bytes:
        units = bytes_cap(store, units, req.max_bytes)
    caps = {k: v for k, v in (("max_concurrency", req.max_concurrency),
                               ("max_units", req.max_units), ("max_bytes", req.max_bytes)) if v}
    encoded = msgspec.msgpack.encode(units)
    rec = RunStarted(
        hlc=0, run=new_run_id(), pipeline=req.pipeline.name, steps=steps, policy=req.policy,
        selection=req.selection, units_object="", total=len(units), sample=sample, caps=caps,
        parent=req.parent, ttl_days=req.pipeline.sandbox_ttl_days if req.policy == "sandbox"
        else 0.0, force=req.force, host=socket.gethostname())
    return Plan(rec, encoded, selected, units)
