"""``mstore export``: copy artifact payloads of selected assets out of the store, with a
manifest that keeps their lineage.

Files are named ``<asset id, 12 hex>-<kind>-<n>.<ext>``; ``n`` counts the artifacts of that
kind for the asset (a video has many keyframes). Which artifacts: those of ``--run`` when
given, else those of the newest run that made the kind for the asset, a production run
before any sandbox one (a sandbox result is a trial; production is what was kept).
Nothing existing is overwritten without ``force``, and that is checked for every file
before the first one is written.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from mstore.errors import StoreDamagedError, UsageError
from mstore.model.records import ArtifactMade
from mstore.services.describe import current_paths, payload_bytes, payload_ext
from mstore.store.store import Store

MANIFEST = "manifest.json"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class ExportItem:
    file: str
    asset: str
    paths: list[str]
    art: ArtifactMade


@dataclass
class ExportPlan:
    items: list[ExportItem]
    assets: int  # assets the query matched
    without: int  # of them, how many had no artifact of the kind


def _choose(arts: list[ArtifactMade], run: str | None) -> list[ArtifactMade]:
    if run is not None:
        chosen = [a for a in arts if a.run == run]
    else:
        newest: dict[str, tuple[bool, int]] = {}
        for a in arts:
            rank = (a.policy == "production", a.hlc)
            newest[a.run] = max(newest.get(a.run, rank), rank)
        if not newest:
            return []
        best = max(newest, key=lambda r: newest[r])
        chosen = [a for a in arts if a.run == best]
    return sorted(chosen, key=lambda a: (a.hlc, a.id))  # made order: keyframe 1, 2, ...


def plan_export(store: Store, query: str, kind: str, run: str | None = None) -> ExportPlan:
    from mstore.query.evaluate import evaluate
    from mstore.query.snapshot import load_table
    from mstore.query.terms import TermContext

    store.catch_up()
    table = load_table(store)
    ids = [rid for i in evaluate(query, table, TermContext(store)) if (rid := table.row_id(i))]
    items: list[ExportItem] = []
    names: set[str] = set()
    without = 0
    safe_kind = _UNSAFE.sub("_", kind)
    with store.reader() as r:
        for aid in ids:
            chosen = _choose(r.artifacts_of(aid, kind), run)
            if not chosen:
                without += 1
                continue
            paths = current_paths(r, aid)
            stem = aid[:12]
            if any(n.startswith(f"{stem}-{safe_kind}-") for n in names):
                stem = aid  # two assets sharing 12 hex digits: the full id tells them apart
            for n, art in enumerate(chosen, 1):
                name = f"{stem}-{safe_kind}-{n}.{payload_ext(art)}"
                names.add(name)
                items.append(ExportItem(name, aid, paths, art))
    return ExportPlan(items, len(ids), without)


def _write(path: Path, data: bytes) -> None:
    """Whole or not at all: a temp file next to the target, then a rename."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_export(store: Store, plan: ExportPlan, out: Path, *, kind: str, query: str,
                 run: str | None, force: bool = False) -> dict:
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a directory")
    targets = [out / it.file for it in plan.items] + [out / MANIFEST]
    if not force:
        clash = [p.name for p in targets if os.path.lexists(p)]
        if clash:
            raise UsageError(f"{out}: {len(clash)} file(s) exist, e.g. {clash[0]}; "
                             "nothing written (use --force to overwrite)")
    missing = [it.art.payload for it in plan.items
               if it.art.payload and not store.objects.has(it.art.payload)]
    if missing:
        raise StoreDamagedError(f"{len(missing)} payload object(s) missing, e.g. "
                                f"{missing[0]} (not synced here yet, or lost; see "
                                "'mstore fsck'); nothing written")
    out.mkdir(parents=True, exist_ok=True)
    files = []
    total = 0
    for it in plan.items:
        data = payload_bytes(store, it.art)
        _write(out / it.file, data)
        total += len(data)
        a = it.art
        files.append({"file": it.file, "asset": it.asset, "paths": it.paths, "artifact": a.id,
                      "kind": a.kind, "tool": a.tool, "version": a.version,
                      "params": a.params, "run": a.run, "step": a.step, "policy": a.policy,
                      "size": len(data), "payload": a.payload or None,
                      "filename": a.filename or None})
    manifest = {"kind": kind, "query": query, "run": run, "exported_ms": int(time.time() * 1000),
                "store": str(store.root), "files": files}
    _write(out / MANIFEST, msgspec.json.format(msgspec.json.encode(manifest), indent=2) + b"\n")
    return {"dir": str(out), "files": len(files), "bytes": total, "assets": plan.assets,
            "without": plan.without, "manifest": str(out / MANIFEST)}
