"""The reading side of runs and artifacts for ``show``, ``cat`` and ``export``: resolving a
target (run, asset, artifact or path), a run's coverage and recent results, an artifact's
lineage, an asset's artifacts and labels.

Everything is read from the index (after ``store.catch_up()``), so it is right while a
run executes and on any machine that has the records. Nothing here imports temporalio:
the Temporal link is built by ``mstore.orchestration.settings``, which does not.
"""

from __future__ import annotations

import os
import time
from typing import Any

import msgspec

from mstore.errors import StoreDamagedError, UsageError
from mstore.model.records import ArtifactMade, Label, RunStarted
from mstore.store.objects import read_pack_directory
from mstore.store.reader import Reader
from mstore.store.store import Store

DATA_INLINE_MAX = 64 * 1024  # show an artifact's JSON data only up to this size


# -- small helpers ----------------------------------------------------------------------
def current_paths(r: Reader, aid: str) -> list[str]:
    """The asset's current paths as "root/rel" (non-UTF-8 bytes as \\xNN), sorted."""
    out = []
    for root, rel in r.asset_paths(aid):
        st = r.path_state(root, rel)
        if st is not None and st.present and st.asset == aid:
            out.append(f"{root}/{rel.decode('utf-8', 'backslashreplace')}")
    return sorted(out)


class ObjectSizes:
    """Payload sizes without reading payloads: a loose object's file size, a packed one's
    length from the pack directories (listed once, on the first packed lookup)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._packed: dict[str, int] | None = None

    def get(self, oid: str) -> int | None:
        try:
            return self.store.objects.loose_path(oid).stat().st_size
        except FileNotFoundError:
            pass
        if self._packed is None:
            self._packed = {}
            for pack in self.store.objects.packs():
                try:
                    for o, _off, ln in read_pack_directory(pack):
                        self._packed[o] = ln
                except (StoreDamagedError, FileNotFoundError):
                    continue  # fsck reports damaged packs; a vanished one was rewritten by gc
        return self._packed.get(oid)


def hlc_ms(hlc: int) -> int:
    return hlc >> 16


def _step_spec(rs: RunStarted, name: str) -> Any:
    return next((s for s in rs.steps if s.name == name), None)


# -- runs ---------------------------------------------------------------------------------
def _expected_per_step(store: Store, r: Reader, rs: RunStarted) -> dict[str, int]:
    """How many units each step applies to: every unit for an aggregate step's one call
    ("*" counts 1), the units of the step's kinds for a per-asset step."""
    from mstore.runs.progress import unit_kinds

    per_asset = [s for s in rs.steps if s.shape == "per-asset"]
    out = {s.name: 1 for s in rs.steps if s.shape != "per-asset"}
    kind_sets = {frozenset(s.kinds) for s in rs.steps}
    by_kind = unit_kinds(store, r, rs) if len(kind_sets) > 1 else None
    if by_kind is None:
        # one kind set: the planner selected only units of the steps' kinds, so each step
        # covers all (a rerun's explicit units are failures of such a step, hence of those
        # kinds too); or the unit list has not been synced here yet: assume every unit
        out.update({s.name: rs.total for s in per_asset})
        return out
    for s in per_asset:
        out[s.name] = sum(n for k, n in by_kind.items() if not s.kinds or k in s.kinds)
    return out


def art_summary(art: ArtifactMade) -> dict:
    return {"id": art.id, "kind": art.kind, "step": art.step, "tool": art.tool,
            "version": art.version, "run": art.run, "asset": art.asset or None,
            "members": len(art.members), "filename": art.filename or None,
            "payload": art.payload or None, "policy": art.policy,
            "expires_ms": art.expires_ms or None, "made_ms": hlc_ms(art.hlc)}


def temporal_url(store: Store, run: str) -> str:
    # settings() reads config.toml only; it is the one orchestration module show needs
    from mstore.orchestration.settings import settings

    try:
        return settings(store).run_url(run)
    except (ValueError, TypeError):  # a malformed [temporal] section: no link, no failure
        return ""


def describe_run(store: Store, run_id: str, *, limit: int = 20, failures: int = 50) -> dict:
    from mstore.runs.progress import view

    store.catch_up()
    v = view(store, run_id, failures=failures)
    if v is None:
        raise UsageError(f"run {run_id} has no RunStarted record here (not synced yet?)")
    with store.reader() as r:
        info = r.run(run_id)
        assert info is not None and info.started is not None
        rs = info.started
        expected = _expected_per_step(store, r, rs)
        # while a run goes (gc refuses to drop anything then) the index's running count
        # is exact, and the page asks every second: no need to count by scanning
        live = info.state in ("running", "paused")
        n_arts, recent = r.recent_artifacts(run_id, limit, info.artifacts if live else None)
        fails = []
        for f in v.failures:
            paths = current_paths(r, f["unit"]) if f["unit"] != "*" else []
            fails.append({"asset": None if f["unit"] == "*" else f["unit"], "step": f["step"],
                          "error": f["error"], "attempts": f["attempts"],
                          "path": paths[0] if paths else None})
    steps = []
    for s in rs.steps:
        c = v.step_counts.get(s.name, {"done": 0, "reused": 0, "failed": 0, "ms": 0,
                                       "skipped": 0})
        covered = c["done"] + c["reused"] + c["failed"] + c["skipped"]
        exp = expected.get(s.name, 0)
        steps.append({"name": s.name, "tool": s.tool, "version": s.version, "params": s.params,
                      "shape": s.shape, "kinds": s.kinds, "needs": s.needs,
                      "resource": s.resource, "units": exp,
                      "done": c["done"], "reused": c["reused"], "failed": c["failed"],
                      "skipped": c["skipped"], "pending": max(exp - covered, 0), "ms": c["ms"],
                      "avg_ms": round(c["ms"] / covered, 1) if covered else None})
    return {
        "type": "run", "id": run_id, "pipeline": rs.pipeline, "policy": rs.policy,
        "state": v.state, "state_detail": v.state_detail, "selection": rs.selection,
        "sample": rs.sample, "parent": rs.parent or None, "force": rs.force,
        "ttl_days": rs.ttl_days, "caps": rs.caps, "host": rs.host,
        "total": rs.total, "done": v.done, "failed": v.failed,
        "pending": max(rs.total - v.done - v.failed, 0),
        "started_ms": v.started_ms, "last_ms": v.last_ms,
        "throughput": round(v.throughput, 3), "eta_s": v.eta_s,
        "steps": steps, "failures": fails,
        # counted from the index's per-run list, which gc keeps exact (RunInfo.artifacts
        # counts every artifact ever applied, and depends on the order records arrive in)
        "artifacts": n_arts, "recent_artifacts": [art_summary(a) for a in recent],
        "temporal_url": temporal_url(store, run_id) or None,
    }


# -- artifacts ----------------------------------------------------------------------------
def _input_entry(r: Reader, iid: str, depth: int, seen: set[str]) -> dict:
    """One input of an artifact: an asset (kind = its media kind) or an artifact (kind = its
    artifact kind, with its own lineage while ``depth`` > 1)."""
    try:
        asset = r.asset(iid)
    except ValueError:  # not hex: cannot be an asset id
        asset = None
    if asset is not None:
        paths = current_paths(r, iid)
        return {"type": "asset", "id": iid, "kind": asset.meta.kind,
                "path": paths[0] if paths else None}
    art = r.artifact(iid)
    if art is None:
        gone = r.is_dropped(iid)
        return {"type": "artifact", "id": iid, "kind": None,
                "missing": "dropped" if gone else "unknown"}
    entry = {"type": "artifact", "id": iid, "kind": art.kind, "tool": art.tool,
             "version": art.version, "step": art.step, "run": art.run, "policy": art.policy,
             "asset": art.asset or None}
    if depth > 1 and iid not in seen:
        entry["inputs"] = [_input_entry(r, i, depth - 1, seen | {iid})
                           for i in art.inputs]
    return entry


def describe_artifact(store: Store, art_id: str, *, depth: int = 1) -> dict:
    store.catch_up()
    sizes = ObjectSizes(store)
    with store.reader() as r:
        art = r.artifact(art_id)
        if art is None:
            raise UsageError(f"no artifact {art_id}")
        info = r.run(art.run)
        inputs = [_input_entry(r, i, depth, {art.id}) for i in art.inputs]
        derived = sorted(({"id": a.id, "kind": a.kind, "tool": a.tool, "version": a.version,
                           "run": a.run, "step": a.step, "policy": a.policy}
                          for a in r.derived_from(art.id)),
                         key=lambda x: (x["kind"], x["id"]))
        subject = None
        if art.asset:
            a = r.asset(art.asset)
            paths = current_paths(r, art.asset)
            subject = {"id": art.asset, "kind": a.meta.kind if a else None,
                       "path": paths[0] if paths else None}
    data: Any = art.data
    data_bytes = len(msgspec.json.encode(art.data)) if art.data is not None else 0
    if data_bytes > DATA_INLINE_MAX:
        data = None  # too big to print; `mstore cat` writes all of it
    payload = None
    if art.payload:
        payload = {"object": art.payload, "size": sizes.get(art.payload),
                   "filename": art.filename or None,
                   "present": store.objects.has(art.payload)}
    now_ms = int(time.time() * 1000)
    rs = info.started if info is not None else None
    spec = _step_spec(rs, art.step) if rs is not None else None
    return {
        "type": "artifact", "id": art.id, "kind": art.kind,
        "run": art.run, "run_state": info.state if info is not None else None,
        "pipeline": rs.pipeline if rs is not None else None,
        "step": art.step, "tool": art.tool, "version": art.version, "params": art.params,
        "shape": spec.shape if spec is not None else None,
        "reuse_key": art.reuse_key or None,
        "asset": subject, "members": art.members, "inputs": inputs, "derived": derived,
        "policy": art.policy, "expires_ms": art.expires_ms or None,
        "expired": bool(art.expires_ms and art.expires_ms < now_ms),
        "made_hlc": art.hlc, "made_ms": hlc_ms(art.hlc), "host": art.host or None,
        "payload": payload, "meta": art.meta, "data": data, "data_bytes": data_bytes,
    }


# -- an asset's artifacts and labels ------------------------------------------------------
def asset_artifacts(store: Store, aid: str) -> dict[str, list[dict]]:
    """The asset's artifacts (its own, and aggregate ones naming it as a member), by kind,
    newest first within a kind."""
    with store.reader() as r:
        arts = r.artifacts_of(aid)
    out: dict[str, list[dict]] = {}
    for a in sorted(arts, key=lambda a: (a.kind, -a.hlc)):
        out.setdefault(a.kind, []).append(
            {"id": a.id, "tool": a.tool, "version": a.version, "run": a.run, "step": a.step,
             "policy": a.policy, "expires_ms": a.expires_ms or None,
             "made_ms": hlc_ms(a.hlc), "aggregate": not a.asset})
    return out


def label_dict(lab: Label) -> dict:
    return {"key": lab.key, "value": lab.value, "about": lab.about or None,
            "hlc": lab.hlc, "at_ms": hlc_ms(lab.hlc)}


def asset_labels(store: Store, aid: str) -> list[dict]:
    with store.reader() as r:
        return [label_dict(lab) for lab in r.labels(aid)]


# -- payloads -----------------------------------------------------------------------------
def payload_bytes(store: Store, art: ArtifactMade) -> bytes:
    """What ``cat`` writes: the payload object, or the JSON of the data (with a newline)."""
    if art.payload:
        try:
            return store.objects.get(art.payload)
        except KeyError:
            from mstore.sync.state import partial_sources

            where = partial_sources(store, art.kind)
            if where:  # a partial copy: say which remote holds it and how to bring it
                raise StoreDamagedError(
                    f"payload object {art.payload} of artifact {art.id[:16]} ({art.kind}) is "
                    f"not in this copy: it was pulled from '{where[0]}' without {art.kind} "
                    f"payloads; 'mstore pull {where[0]} --kinds {art.kind}' brings them"
                ) from None
            raise StoreDamagedError(
                f"payload object {art.payload} of artifact {art.id[:16]} is missing "
                "(not synced here yet, or lost; see 'mstore fsck')") from None
    return msgspec.json.encode(art.data) + b"\n"


def payload_ext(art: ArtifactMade) -> str:
    """The file extension an exported payload gets: the tool's own, json for data."""
    if not art.payload:
        return "json"
    ext = os.path.splitext(art.filename)[1].lstrip(".").lower()
    return ext if ext and ext.isalnum() else "bin"
