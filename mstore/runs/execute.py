"""Executing units: the work inside an activity, independent of Temporal (testable alone).

For each unit (an asset) the per-asset steps run in pipeline order. A step whose
(tool, version, params, inputs) already has artifacts reuses them (recorded as
``reused``) unless the run says ``force``. Each artifact is written as soon as it
exists: payload object, then its ``ArtifactMade`` record, then the unit's
``UnitDone``. A unit already covered in this run (done, reused, skipped or failed) is
passed over, so a retried chunk (after a worker was killed) records every unit exactly
once in coverage.

A tool that raises ``NotApplicable`` (a video without an audio track for the audio
step) has the unit-step recorded ``skipped``: covered, not failed; the steps that need
its output are skipped for that unit too. A tool or write that runs out of a resource
(disk full, no memory, too many open files) is not the unit's fault: nothing is
recorded for that unit-step, the chunk stops there and raises ``ResourceExhausted``, and
Temporal retries the chunk later (skipping what is covered).

Inputs a tool lists in ``ToolResult.failed`` (asset id -> message) are failed units: a
per-asset step's unit-step fails with the message, as if the tool had raised
``BadInput``; an aggregate step records each such input as a failed unit of the step
(the step's ``*`` unit is done with the artifacts it made for the others), so they are
in ``mstore show RUN``'s failures and ``mstore rerun --failed`` runs them again.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import msgspec

from mstore.model.records import ArtifactMade, RunStarted, StepSpec, UnitDone
from mstore.runs.lineage import artifact_id, reuse_key
from mstore.store.fsutil import temp_name
from mstore.store.objects import object_id
from mstore.store.store import RecordWriter, Store
from mstore.tools.api import (
    BadInput,
    InputArtifact,
    NotApplicable,
    ToolInput,
    ToolRequest,
    ToolResult,
)
from mstore.tools.registry import Registry
from mstore.tools.runner import run_tool
from mstore.tools.views import offer

TRANSIENT_ATTEMPTS = 3
# a heartbeat crosses from the activity's thread to the worker's event loop and the SDK
# encodes its details: per unit it cost more than a noop unit itself (measured: 10k noop
# units 1.1 ms/unit with a heartbeat each). Once a second is plenty for liveness.
HEARTBEAT_EVERY_S = 1.0
BACKOFF_S = (0.5, 1.0, 2.0)
# errors about this machine, not about the unit: a unit never fails permanently of them
RESOURCE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.ENOMEM, errno.EMFILE,
                             errno.ENFILE})
COVERED = ("done", "reused", "skipped")  # a unit-step that needs no more work (with failed)


class ResourceExhausted(Exception):
    """A unit could not be processed for lack of a resource of this machine (disk full,
    memory, file descriptors). Not recorded as the unit's failure: the chunk stops and is
    retried later."""


def _resource_error(e: BaseException) -> bool:
    return isinstance(e, OSError) and e.errno in RESOURCE_ERRNOS


class SharedWriter:
    """One lane writer shared by the activity threads of a worker process."""

    def __init__(self, writer: RecordWriter) -> None:
        self.writer = writer
        self.lock = threading.RLock()

    def append(self, rec: object) -> None:
        with self.lock:
            rec.hlc = self.writer.now()  # type: ignore[attr-defined]
            self.writer.append(rec)  # type: ignore[arg-type]

    def put_object(self, data: bytes) -> str:
        with self.lock:
            return self.writer.store.objects.put(data)

    def flush(self) -> None:
        with self.lock:
            self.writer.flush()


@dataclass
class ChunkSummary:
    # unit-steps by the status recorded for them now (the UnitDone statuses)
    done: int = 0
    reused: int = 0
    failed: int = 0
    skipped: int = 0  # the step does not apply to the unit
    covered: int = 0  # already covered in this run (a retried chunk): nothing recorded
    errors: list[str] = field(default_factory=list)
    # units this machine cannot read (archive root not configured or not mounted here):
    # nothing recorded, left to another worker; their positions in the run's unit list
    declined: list[int] = field(default_factory=list)
    reason: str = ""  # why, for the first of them
    units: int = 0  # units gone through (all of the chunk unless paused or cancelled)
    stopped: str = ""  # "paused" / "cancelled": the chunk stopped before its end


@dataclass
class RunContext:
    store: Store
    writer: SharedWriter
    run: RunStarted
    registry: Registry
    _units: list[str] | None = None

    def units(self) -> list[str]:
        if self._units is None:
            self._units = self.store.run_units(self.run)
            if self._units is None:
                raise LookupError(f"run {self.run.run}: its unit list is not in this copy")
        return self._units


def load_run(store: Store, run_id: str) -> RunStarted:
    store.catch_up()
    with store.reader() as r:
        info = r.run(run_id)
    if info is None or info.started is None:
        raise LookupError(f"run {run_id} is not in the store")
    return info.started


def current_path(store: Store, aid: str) -> tuple[str, list[str]]:
    """An absolute path to read the asset from on this machine, and all its paths
    ("root/rel") for tools that care (e.g. exact duplicates)."""
    readable, shown, _why = locate(store, aid)
    return readable, shown


def locate(store: Store, aid: str) -> tuple[str, list[str], str]:
    """``current_path``, and why there is no readable path when there is none: the root
    is not configured on this machine, or its files are not there (not mounted)."""
    readable = ""
    shown = []
    why = ""
    with store.reader() as r:
        for root, rel in r.asset_paths(aid):
            st = r.path_state(root, rel)
            if st is None or not st.present or st.asset != aid:
                continue
            shown.append(f"{root}/{rel.decode('utf-8', 'backslashreplace')}")
            base = store.config.roots.get(root)
            if base is None:
                why = why or f"archive root '{root}' is not configured on this machine"
            elif not readable:
                path = os.fsencode(base) + b"/" + rel
                if os.path.exists(path):
                    readable = os.fsdecode(path)
                else:
                    why = why or _unreadable(root, base, shown[-1])
    return readable, sorted(shown), (why or "no readable path on this machine")


def _unreadable(root: str, base: Path, shown: str) -> str:
    """Why a configured root's file cannot be read: the root is not there at all (a
    share not mounted: the same words for every unit), or this one file is missing."""
    try:
        mounted = any(os.scandir(base))
    except OSError:
        mounted = False
    if not mounted:
        return f"archive root '{root}' is not mounted at {base} on this machine"
    return f"{shown} is missing under {base} on this machine"


def machine_name(store: Store) -> str:
    """How a worker names itself in a declined unit's reasons: its host and copy."""
    return f"{socket.gethostname()} ({store.machine_id})"


def _materialize(ctx: RunContext, art: ArtifactMade, work: Path) -> InputArtifact:
    path = None
    if art.payload:
        loose = ctx.store.objects.loose_path(art.payload)
        if loose.exists():
            path = str(loose)
        else:
            target = work / "inputs" / f"{art.id[:16]}-{art.filename or 'payload'}"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(ctx.store.objects.get(art.payload))
            path = str(target)
    return InputArtifact(id=art.id, kind=art.kind, path=path, data=art.data, meta=art.meta)


def _by_kind(ctx: RunContext, arts: list[ArtifactMade], work: Path) -> dict[str, InputArtifact]:
    """Upstream artifacts by kind; of several of one kind (keyframes) the first."""
    out: dict[str, InputArtifact] = {}
    for a in arts:
        if a.kind not in out:
            out[a.kind] = _materialize(ctx, a, work)
    return out


def _views(ctx: RunContext, step: StepSpec, upstream: list[ArtifactMade], work: Path) -> dict:
    """The media views the step's tool declares it reads (manifest ``views``), made by the
    views layer from the upstream artifacts that materialize them: those of the kind their
    own tool's manifest ``provides`` for the view."""
    wanted = ctx.registry.get(step.tool).views
    if not wanted:
        return {}
    provided: dict[str, list[InputArtifact]] = {}
    for a in upstream:
        producer = ctx.registry.tools.get(a.tool)
        for view, kind in (producer.provides.items() if producer else ()):
            if view in wanted and a.kind == kind:
                provided.setdefault(view, []).append(_materialize(ctx, a, work))
    return offer(wanted, provided)


def _artifacts(ctx: RunContext, ids: list[str]) -> list[ArtifactMade]:
    with ctx.store.reader() as r:
        return [a for i in ids if (a := r.artifact(i)) is not None]


def _reusable(ctx: RunContext, key: str) -> list[ArtifactMade]:
    with ctx.store.reader() as r:
        arts = r.reusable(key)
    return live_reusable(arts, ctx.run.policy, int(time.time() * 1000))


def live_reusable(arts: list[ArtifactMade], policy: str, now_ms: int) -> list[ArtifactMade]:
    """Of the results made under one reuse key, those a run of ``policy`` reuses.
    Production never depends on sandbox results (they expire); an expired sandbox
    result is not reused either: gc may drop it while the new run still needs it."""
    live = [a for a in arts if a.policy == policy
            and (not a.expires_ms or a.expires_ms > now_ms)]
    if not live:
        return []
    # one derivation made more than once (a --force run recomputed it): the newest set
    newest = max(live, key=lambda a: a.hlc).run
    return [a for a in live if a.run == newest]


def _record_outputs(ctx: RunContext, step: StepSpec, key: str, result: ToolResult,
                    out_dir: Path, subject: str, inputs: list[str],
                    per_asset: dict[str, list[str]] | None = None) -> list[ArtifactMade]:
    """Write the outputs of one tool call. ``per_asset`` (aggregate steps): each selected
    asset's own inputs (the asset and its upstream artifacts); an output naming
    ``members`` was made from those alone, so its lineage lists just them — not the
    whole selection, which the run's unit list and the reuse key already pin, and which
    at 100k assets would make every group record megabytes long."""
    now_ms = int(time.time() * 1000)
    expires = int(now_ms + ctx.run.ttl_days * 86_400_000) if ctx.run.policy == "sandbox" else 0
    made = []
    for k, out in enumerate(result.artifacts):
        payload = ""
        if out.file:
            src = (out_dir / out.file).resolve()
            if out_dir.resolve() not in src.parents:
                raise BadInput(f"tool {step.tool} wrote outside its output directory")
            payload = ctx.writer.put_object(src.read_bytes())
        art = ArtifactMade(
            hlc=0, id=artifact_id(key, out.kind, k, ctx.run.policy,
                                  ctx.run.run if ctx.run.force else ""), kind=out.kind,
            run=ctx.run.run, step=step.name, tool=step.tool, version=step.version,
            params=step.params, reuse_key=key,
            asset=out.asset or subject, members=list(out.members),
            inputs=[i for m in out.members for i in per_asset.get(m, ())]
            if per_asset is not None and out.members else inputs,
            payload=payload, filename=os.path.basename(out.file or ""), data=out.data,
            meta=dict(out.meta), policy=ctx.run.policy, expires_ms=expires,
            host=socket.gethostname())
        ctx.writer.append(art)
        made.append(art)
    return made


def _call_tool(ctx: RunContext, step: StepSpec, req: ToolRequest) -> tuple[ToolResult, int]:
    """Run a tool, retrying transient failures with backoff. BadInput and NotApplicable
    are not retried."""
    manifest = ctx.registry.get(step.tool)
    for attempt in range(1, TRANSIENT_ATTEMPTS + 1):
        try:
            return run_tool(manifest, req), attempt
        except (BadInput, NotApplicable):
            raise
        except Exception:  # noqa: BLE001 - any other failure is treated as transient
            if attempt == TRANSIENT_ATTEMPTS:
                raise
            time.sleep(BACKOFF_S[attempt - 1])
    raise AssertionError("unreachable")


def _empty(work: Path) -> None:
    """Remove what a unit left in a chunk's work directory, keeping the directories of
    the steps (creating and removing them per unit cost more than a noop unit)."""
    try:
        top = list(os.scandir(work))
    except FileNotFoundError:
        return
    for e in top:
        if e.is_dir(follow_symlinks=False):
            for sub in os.scandir(e.path):
                if sub.is_dir(follow_symlinks=False):
                    shutil.rmtree(sub.path, ignore_errors=True)
                else:
                    os.unlink(sub.path)
        else:
            os.unlink(e.path)


def process_unit(ctx: RunContext, aid: str, summary: ChunkSummary,
                 work: Path | None = None, steps: Collection[str] | None = None) -> bool:
    """The per-asset steps of one unit: ``steps`` (names), or every one. ``work``: a
    scratch directory to reuse (emptied afterwards); by default one made for this unit
    and removed.

    Steps of earlier stages (other resource classes, run by other activities) are read
    from the index; a step that needs one of them not yet covered for this unit is left
    pending (nothing is recorded).

    False, with nothing recorded, when this machine cannot read the asset and one of
    ``steps`` still needs doing: the unit is declined, for a worker that can
    (``summary.reason`` says why)."""
    with ctx.store.reader() as r:
        asset = r.asset(aid)
        states = {s.name: r.unit(ctx.run.run, s.name, aid) for s in ctx.run.steps}
    if asset is None:
        return True
    path, paths, why = locate(ctx.store, aid)
    if not path and any(
            s.shape == "per-asset" and (steps is None or s.name in steps)
            and (not s.kinds or asset.meta.kind in s.kinds) and states.get(s.name) is None
            for s in ctx.run.steps):
        summary.reason = summary.reason or why
        return False
    covered: dict[str, list[str]] = {}  # done or reused before: their artifact ids
    produced: dict[str, list[ArtifactMade]] = {}
    failed_steps: set[str] = set()
    skipped_steps: set[str] = set()  # not applicable to this unit
    waiting: set[str] = set()  # another stage's steps, not covered yet
    own = work is None
    if work is None:
        work = ctx.store.layout.tmp / "work" / temp_name(f"{ctx.run.run}-{aid[:16]}")
    try:
        for step in ctx.run.steps:
            if step.shape != "per-asset" or (step.kinds and asset.meta.kind not in step.kinds):
                continue
            mine = steps is None or step.name in steps
            st = states.get(step.name)
            if st is not None and st.status in ("done", "reused"):
                covered[step.name] = st.artifacts
                summary.covered += mine
                continue
            if st is not None:  # failed or skipped in this run: covered too (a rerun is new)
                (skipped_steps if st.status == "skipped" else failed_steps).add(step.name)
                summary.covered += mine
                continue
            if not mine:
                waiting.add(step.name)
                continue
            if any(n in waiting for n in step.needs):
                waiting.add(step.name)  # its input is not made yet: it stays pending
                continue
            t0 = time.monotonic()
            blocked = [n for n in step.needs if n in failed_steps]
            moot = [n for n in step.needs if n in skipped_steps]
            for n in step.needs:
                if n in covered and n not in produced:
                    produced[n] = _artifacts(ctx, covered[n])
            upstream = [a for n in step.needs for a in produced.get(n, [])]
            attempts = 1
            try:
                if blocked:
                    raise BadInput(f"needs {', '.join(blocked)}, which failed")
                if moot:
                    raise NotApplicable(f"needs {', '.join(moot)}, which does not apply")
                key = reuse_key(step.tool, step.version, step.params,
                                [aid] + [a.id for a in upstream])
                reused = [] if ctx.run.force else _reusable(ctx, key)
                if reused:
                    ids, status = [a.id for a in reused], "reused"
                    produced[step.name] = reused
                else:
                    out_dir = work / step.name
                    req = ToolRequest(
                        tool=step.tool, version=step.version, params=step.params,
                        inputs=[ToolInput(
                            asset=aid, kind=asset.meta.kind, mime=asset.meta.mime, path=path,
                            meta={**msgspec.to_builtins(asset.meta), "paths": paths},
                            artifacts=_by_kind(ctx, upstream, work))],
                        out_dir=str(out_dir), views=_views(ctx, step, upstream, work))
                    result, attempts = _call_tool(ctx, step, req)
                    if aid in result.failed:  # the tool's word for this input: as BadInput
                        raise BadInput(result.failed[aid] or f"{step.tool} failed on it")
                    # later steps read these from memory: the payloads may still sit in the
                    # object store's pending pack, the records in the writer's buffer
                    made = _record_outputs(ctx, step, key, result, out_dir, aid,
                                           [aid] + [a.id for a in upstream])
                    produced[step.name] = made
                    ids, status = [a.id for a in made], "done"
                ctx.writer.append(UnitDone(
                    hlc=0, run=ctx.run.run, step=step.name, unit=aid, status=status,
                    attempts=attempts, duration_ms=int((time.monotonic() - t0) * 1000),
                    artifacts=ids))
                setattr(summary, status, getattr(summary, status) + 1)
            except NotApplicable as e:
                skipped_steps.add(step.name)
                ctx.writer.append(UnitDone(
                    hlc=0, run=ctx.run.run, step=step.name, unit=aid, status="skipped",
                    attempts=attempts, duration_ms=int((time.monotonic() - t0) * 1000),
                    error=str(e)[:500]))
                summary.skipped += 1
            except Exception as e:  # noqa: BLE001 - a unit's failure never fails the chunk
                if _resource_error(e):  # this machine's trouble, not the unit's
                    raise ResourceExhausted(f"{aid[:12]} {step.name}: {e}") from e
                failed_steps.add(step.name)
                msg = f"{type(e).__name__}: {e}" if not isinstance(e, BadInput) else str(e)
                ctx.writer.append(UnitDone(
                    hlc=0, run=ctx.run.run, step=step.name, unit=aid, status="failed",
                    attempts=attempts if isinstance(e, BadInput) else TRANSIENT_ATTEMPTS,
                    duration_ms=int((time.monotonic() - t0) * 1000), error=msg[:500]))
                summary.failed += 1
                summary.errors.append(f"{aid[:12]} {step.name}: {msg[:200]}")
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
        else:
            _empty(work)
    return True


def fail_units(ctx: RunContext, aids: list[str], steps: Collection[str], reason: str) -> int:
    """Record ``steps`` of each unit failed with ``reason`` where they apply and are not
    covered yet: units no worker could read. Returns the unit-steps recorded."""
    n = 0
    with ctx.store.reader() as r:
        for aid in aids:
            asset = r.asset(aid)
            for step in ctx.run.steps:
                if (step.name not in steps or step.shape != "per-asset" or asset is None
                        or (step.kinds and asset.meta.kind not in step.kinds)
                        or r.unit(ctx.run.run, step.name, aid) is not None):
                    continue
                ctx.writer.append(UnitDone(hlc=0, run=ctx.run.run, step=step.name, unit=aid,
                                           status="failed", attempts=1, error=reason[:500]))
                n += 1
    return n


def execute_units(ctx: RunContext, start: int, end: int,
                  heartbeat: Callable[[int], None] = lambda _i: None,
                  stop: Callable[[], str] = lambda: "",
                  steps: Collection[str] | None = None, work: Path | None = None,
                  indices: Sequence[int] = ()) -> ChunkSummary:
    """Units ``start:end`` of the run, their per-asset ``steps`` (names; default: all of
    them). A retried chunk starts again at ``start``: what its
    earlier attempt finished is skipped by what the store holds, never by the attempt's
    heartbeat, which may count units whose records died in a killed worker's buffer.

    ``stop()`` is asked before each unit: "paused" or "cancelled" ends the chunk there
    (``summary.units`` says how far it got; the rest of a paused chunk is the workflow's
    to hand out again on resume). ``work``: a scratch directory of the caller's, emptied
    after each unit and kept (a worker keeps one: removing directories costs milliseconds
    on some file systems); by default one of the chunk's own, removed at its end."""
    summary = ChunkSummary()
    every = ctx.units()
    # ``indices``: these units of the run (declined elsewhere) instead of start:end
    where = list(indices) or list(range(start, min(end, len(every))))
    units = [every[i] for i in where]
    only = frozenset(steps) if steps is not None else None
    last_beat = 0.0
    own = work is None
    if work is None:
        work = ctx.store.layout.tmp / "work" / temp_name(
            f"{ctx.run.run}-{start}-{threading.get_ident()}")
    try:
        for i in range(len(units)):
            summary.stopped = stop()
            if summary.stopped:
                break
            if not process_unit(ctx, units[i], summary, work, only):
                summary.declined.append(where[i])
            summary.units += 1
            now = time.monotonic()
            if now - last_beat >= HEARTBEAT_EVERY_S:
                heartbeat(i + 1)
                last_beat = now
    finally:
        if own:
            shutil.rmtree(work, ignore_errors=True)
        else:
            _empty(work)
        ctx.writer.flush()  # also when a unit ran out of a resource: what is done is kept
    return summary


def _has_needs(kind: str, needs: list[StepSpec], states: list) -> bool:  # noqa: ANN001
    """Whether an aggregate step takes a unit: each step it needs is done or reused for
    it, or does not apply to it (not of that step's kinds, or skipped: the unit goes in
    without that artifact, e.g. a video's exact duplicates without an image hash). A unit
    whose need failed, or has not been covered, is left out."""
    for need, st in zip(needs, states, strict=True):
        if need.kinds and kind not in need.kinds:
            continue
        if st is None or st.status == "failed":
            return False
    return True


def _failed_inputs(ctx: RunContext, made: ArtifactMade, inputs: Collection[str]
                   ) -> dict[str, str]:
    """The inputs (of ``inputs``) that the aggregate call which made ``made`` failed on,
    with their messages: its run's failed units of its step."""
    out = {}
    with ctx.store.reader() as r:
        for aid in inputs:
            st = r.unit(made.run, made.step, aid)
            if st is not None and st.status == "failed":
                out[aid] = st.error
    return out


def _previous(ctx: RunContext, step: StepSpec) -> list[ArtifactMade]:
    """The artifacts of the newest earlier call of ``step``'s tool (any version) in a run
    of this one's policy, whose ``*`` unit is done or reused: what an incremental aggregate
    tool builds on. Production never builds on sandbox results (they expire)."""
    best: tuple[int, list[str]] | None = None
    now_ms = int(time.time() * 1000)
    with ctx.store.reader() as r:
        for rid, info in r.runs():
            rs = info.started
            if rs is None or rid == ctx.run.run or rs.policy != ctx.run.policy:
                continue
            for s in rs.steps:
                if s.tool != step.tool:
                    continue
                st = r.unit(rid, s.name, "*")
                if st is not None and st.status in ("done", "reused") and (
                        best is None or st.hlc > best[0]):
                    best = (st.hlc, st.artifacts)
    if best is None:
        return []
    return [a for a in _artifacts(ctx, best[1])
            if not a.expires_ms or a.expires_ms > now_ms]


def _same_result(step: StepSpec, previous: list[ArtifactMade], result: ToolResult,
                 out_dir: Path) -> bool:
    """Whether a call's outputs are exactly its earlier result's (same tool version and
    params; the same kinds, subjects, members, data, meta and payload bytes)."""
    if len(previous) != len(result.artifacts) or any(
            a.version != step.version or a.params != step.params for a in previous):
        return False

    def canon(kind: str, asset: str, members: list[str], data: object, meta: dict,
              payload: str) -> bytes:
        return msgspec.json.encode([kind, asset, sorted(members), data, meta, payload],
                                   order="sorted")

    def payload_of(file: str | None) -> str:
        if not file:
            return ""
        src = (out_dir / file).resolve()
        if out_dir.resolve() not in src.parents or not src.is_file():
            return "?"  # _record_outputs refuses it; never equal to a stored payload
        return object_id(src.read_bytes())

    before = sorted(canon(a.kind, a.asset, a.members, a.data, a.meta, a.payload)
                    for a in previous)
    now = sorted(canon(o.kind, o.asset or "", list(o.members), o.data, dict(o.meta),
                       payload_of(o.file)) for o in result.artifacts)
    return before == now


def _labels(ctx: RunContext, prefixes: tuple[str, ...]) -> list[dict[str, str]]:
    """The newest label per (asset, key, about) under ``prefixes``, cleared ones left out,
    oldest first (so a tool applying them in order lets the newer win)."""
    # the index keeps the newest per (asset, key, about); their order is (hlc, lane), so a
    # tool sees the same order on every machine
    with ctx.store.reader() as r:
        claims = [(order, lab) for order, lab in r.label_claims()
                  if lab.key.startswith(prefixes)]
    return [{"asset": lab.asset, "key": lab.key, "value": lab.value, "about": lab.about}
            for _order, lab in sorted(claims, key=lambda c: c[0]) if lab.value]


def _digest(labels: list[dict[str, str]]) -> str:
    import blake3

    return blake3.blake3(msgspec.json.encode(labels)).hexdigest()[:32]


@dataclass
class _AggregateNeeds:
    needs: list[str]  # the aggregate steps this one needs
    naming: dict[str, list[ArtifactMade]]  # asset -> their results naming it as a member


def _aggregate_needs(ctx: RunContext, step: StepSpec) -> _AggregateNeeds:
    """What an aggregate step gets from the aggregate steps it needs (``best`` needs
    ``duplicates``): each unit comes with the results that name it among their members.
    Of several of one kind naming a unit (an exact and a near duplicate group), the one
    about the most assets is the unit's (a tool sees one artifact per kind). A need that
    failed fails this step; one that did not apply gives nothing."""
    out = _AggregateNeeds(needs=[], naming={})
    for need in ctx.run.steps:
        if need.name not in step.needs or need.shape != "aggregate":
            continue
        out.needs.append(need.name)
        with ctx.store.reader() as r:
            st = r.unit(ctx.run.run, need.name, "*")
        if st is None or st.status == "failed":
            raise BadInput(f"needs {need.name}, which failed")
        for art in _artifacts(ctx, st.artifacts):
            for m in art.members:
                out.naming.setdefault(m, []).append(art)
    for arts in out.naming.values():
        arts.sort(key=lambda a: (len(a.members), a.id))  # the last of a kind is the unit's
    return out


def execute_aggregate(ctx: RunContext, step_name: str) -> ChunkSummary:
    """One aggregate step over every unit of the run that has the artifacts it needs."""
    summary = ChunkSummary()
    step = next(s for s in ctx.run.steps if s.name == step_name)
    with ctx.store.reader() as r:
        st = r.unit(ctx.run.run, step.name, "*")
    if st is not None and st.status in COVERED:
        summary.covered += 1
        return summary
    t0 = time.monotonic()
    inputs: list[ToolInput] = []
    input_ids: list[str] = []
    per_asset: dict[str, list[str]] = {}
    work = ctx.store.layout.tmp / "work" / temp_name(f"{ctx.run.run}-{step.name}")
    try:
        needs = [s for s in ctx.run.steps if s.name in step.needs and s.shape != "aggregate"]
        about = _aggregate_needs(ctx, step)
        for aid in ctx.units():
            with ctx.store.reader() as r:
                asset = r.asset(aid)
                states = [r.unit(ctx.run.run, n.name, aid)
                          for n in needs] if asset is not None else []
                # an aggregate need that failed on this unit (its tool's ``failed``)
                refused = any(
                    (u := r.unit(ctx.run.run, n, aid)) is not None
                    and u.status == "failed" for n in about.needs)
            if asset is None or refused or not _has_needs(asset.meta.kind, needs, states):
                continue
            arts = _artifacts(ctx, [i for s in states if s for i in s.artifacts])
            arts += about.naming.get(aid, [])
            path, paths = current_path(ctx.store, aid)
            inputs.append(ToolInput(
                asset=aid, kind=asset.meta.kind, mime=asset.meta.mime, path=path,
                meta={**msgspec.to_builtins(asset.meta), "paths": paths},
                artifacts={a.kind: InputArtifact(id=a.id, kind=a.kind, data=a.data, meta=a.meta)
                           for a in arts}))
            per_asset[aid] = [aid] + [a.id for a in arts]
            input_ids += per_asset[aid]
        manifest = ctx.registry.get(step.tool)
        previous = _previous(ctx, step) if manifest.incremental else []
        labels = _labels(ctx, manifest.labels) if manifest.labels else []
        # what the tool builds on and the person's labels it obeys are inputs too: a new
        # label, or a newer earlier result, makes a new call
        key = reuse_key(step.tool, step.version, step.params, input_ids + [
            a.id for a in previous] + ([f"labels:{_digest(labels)}"] if labels else []))
        input_ids += [a.id for a in previous]
        reused = [] if ctx.run.force else _reusable(ctx, key)
        if reused:
            ids, status, attempts = [a.id for a in reused], "reused", 1
            # the inputs the reused call failed on fail here too: the same call again
            failed = _failed_inputs(ctx, reused[0], per_asset)
        else:
            out_dir = work / "out"
            req = ToolRequest(tool=step.tool, version=step.version, params=step.params,
                              inputs=inputs, out_dir=str(out_dir),
                              previous=[_materialize(ctx, a, work) for a in previous],
                              labels=labels)
            result, attempts = _call_tool(ctx, step, req)
            failed = {a: m for a, m in result.failed.items() if a in per_asset}
            if previous and not failed and _same_result(step, previous, result, out_dir):
                # an incremental tool that changed nothing: its earlier result stands, and
                # a rerun over the same photos does not write every person again
                ids, status = [a.id for a in previous], "reused"
            else:
                ids = [a.id for a in _record_outputs(ctx, step, key, result, out_dir, "",
                                                     input_ids, per_asset)]
                status = "done"
        # each input the tool could not handle is a failed unit of this step, with its message
        ms = int((time.monotonic() - t0) * 1000)
        for aid, msg in failed.items():
            ctx.writer.append(UnitDone(hlc=0, run=ctx.run.run, step=step.name, unit=aid,
                                       status="failed", attempts=attempts, duration_ms=ms,
                                       error=(msg or f"{step.tool} failed on it")[:500]))
        summary.failed += len(failed)
        ctx.writer.append(UnitDone(hlc=0, run=ctx.run.run, step=step.name, unit="*",
                                   status=status, attempts=attempts, artifacts=ids,
                                   duration_ms=ms))
        setattr(summary, status, getattr(summary, status) + 1)
    except NotApplicable as e:
        ctx.writer.append(UnitDone(hlc=0, run=ctx.run.run, step=step.name, unit="*",
                                   status="skipped", error=str(e)[:500],
                                   duration_ms=int((time.monotonic() - t0) * 1000)))
        summary.skipped += 1
    except Exception as e:  # noqa: BLE001
        if _resource_error(e):
            raise ResourceExhausted(f"{step.name}: {e}") from e
        ctx.writer.append(UnitDone(hlc=0, run=ctx.run.run, step=step.name, unit="*",
                                   status="failed", error=f"{type(e).__name__}: {e}"[:500],
                                   duration_ms=int((time.monotonic() - t0) * 1000)))
        summary.failed += 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
        ctx.writer.flush()
    return summary
