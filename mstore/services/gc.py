"""Garbage collection of expired sandbox artifacts, in two phases.

Phase 1 (mark) chooses the artifacts to drop: sandbox artifacts that expired more than
``grace`` hours ago, minus those something still needs — an input of an artifact that
stays (followed transitively, so a kept artifact's lineage stays whole) or the subject of
a ``Label.about``. Production artifacts never expire and are never candidates.

Phase 2 (sweep) writes one ``ArtifactsDropped`` record for them and deletes the payload
objects no remaining artifact (nor a run's unit list, nor a collection's member list)
names. Objects are write-once, so a pack holding a doomed object is replaced: first the
new pack without it, then the record, then the old files are unlinked. A crash leaves at
worst a duplicate copy (before the record) or garbage the next gc finds in its journal
(``local/gc/journal.json``, written before anything and removed after the unlinks).

Grace is the margin for what the records of this machine cannot show: clocks that
disagree between machines, and runs elsewhere that may still be reading or reusing an
artifact that has just expired. Runs executing here are a hard stop instead: gc refuses
while one is running or paused (``--force`` overrides), because a worker that finds an
object already stored does not write it again and could come to rely on a doomed copy.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mstore.errors import StoreDamagedError, StoreLockedError
from mstore.model.records import ArtifactsDropped
from mstore.store.fsutil import fsync_dir, write_once
from mstore.store.objects import ObjectStore, object_id, read_pack_directory
from mstore.store.store import Store

DEFAULT_GRACE_HOURS = 24.0
ACTIVE_STATES = ("running", "paused")


@dataclass
class GcPlan:
    now_ms: int
    cutoff_ms: int
    grace_hours: float
    expired: int = 0  # sandbox artifacts past the cutoff (the candidates)
    kept: list[str] = field(default_factory=list)  # candidates something still needs
    drop: list[str] = field(default_factory=list)  # artifact ids to drop
    objects: dict[str, int] = field(default_factory=dict)  # object id -> bytes in all copies
    shared: int = 0  # payloads of dropped artifacts that a remaining artifact also names
    loose: list[str] = field(default_factory=list)  # loose object files to unlink
    packs: list[str] = field(default_factory=list)  # pack files to rewrite without them
    active_runs: list[str] = field(default_factory=list)
    workers: list[int] = field(default_factory=list)  # pids of live run workers here
    leftover: int = 0  # objects from an interrupted gc's journal
    # expired artifacts left for later: remote name -> how many wait for it to be pulled
    waiting: dict[str, int] = field(default_factory=dict)

    @property
    def bytes(self) -> int:
        return sum(self.objects.values())


@dataclass
class GcReport:
    dry_run: bool
    grace_hours: float
    expired: int
    kept: int
    dropped: int
    objects: int
    bytes: int
    packs_rewritten: int
    shared_payloads: int
    active_runs: list[str]
    workers: list[int]
    leftover_objects: int
    waiting: dict[str, int]  # remote -> expired artifacts that wait for a pull from it

    def as_dict(self) -> dict:
        return asdict(self)


def _journal(store: Store) -> Path:
    return store.layout.local / "gc" / "journal.json"


def _read_journal(store: Store) -> list[str]:
    try:
        return list(json.loads(_journal(store).read_text()).get("objects", []))
    except FileNotFoundError:
        return []
    except (ValueError, AttributeError):  # a torn journal: nothing trustworthy in it
        return []


def mark(store: Store, *, grace_hours: float = DEFAULT_GRACE_HOURS,
         now_ms: int | None = None) -> GcPlan:
    """Phase 1: what would be dropped and deleted now. Reads only."""
    store.catch_up()
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    plan = GcPlan(now_ms=now_ms, cutoff_ms=now_ms - int(grace_hours * 3_600_000),
                  grace_hours=grace_hours)
    inputs_of: dict[str, list[str]] = {}  # candidate -> its inputs
    payload_of: dict[str, str] = {}  # candidate -> payload object
    needed: list[str] = []  # candidates named by something that stays
    live_payloads: set[str] = set()  # candidates' payloads that a non-candidate names too
    protected: set[str] = set()  # objects named by runs and collections
    pulled_at = _pulled_at(store)
    with store.reader() as r:
        # two passes over the artifacts, decoding only the fields gc needs, so memory
        # grows with the candidates rather than with the whole store
        for a in r.artifact_refs():
            if a.policy == "sandbox" and 0 < a.expires_ms < plan.cutoff_ms:
                behind = [n for n, pulled in pulled_at.items() if pulled <= a.expires_ms]
                for n in behind:
                    plan.waiting[n] = plan.waiting.get(n, 0) + 1
                if behind:
                    continue
                inputs_of[a.id] = a.inputs
                payload_of[a.id] = a.payload
        if inputs_of:
            payloads = set(payload_of.values())
            for a in r.artifact_refs():
                if a.id in inputs_of:
                    continue
                needed += [i for i in a.inputs if i in inputs_of]
                if a.payload in payloads:
                    live_payloads.add(a.payload)
        for lab in r.all_labels():
            if lab.about in inputs_of:
                needed.append(lab.about)
        for rid, info in r.runs():
            if info.started is not None:
                protected.add(info.started.units_object)
                if info.state in ACTIVE_STATES:
                    plan.active_runs.append(rid)
        for c in r.collections(deleted=True):
            if c.members_object:
                protected.add(c.members_object)
    plan.expired = len(inputs_of)
    # a kept candidate keeps its own inputs: the lineage of everything that stays is whole
    kept: set[str] = set()
    stack = [i for i in needed if i in inputs_of]
    while stack:
        c = stack.pop()
        if c in kept:
            continue
        kept.add(c)
        stack += [i for i in inputs_of[c] if i in inputs_of and i not in kept]
    plan.kept = sorted(kept)
    plan.drop = sorted(set(inputs_of) - kept)
    kept_payloads = {payload_of[c] for c in kept if payload_of[c]}
    doomed = {payload_of[d] for d in plan.drop if payload_of[d]}
    plan.shared = len(doomed & (live_payloads | kept_payloads | protected))
    leftovers = set(_read_journal(store)) - doomed
    doomed = (doomed | leftovers) - live_payloads - kept_payloads - protected
    _locate(store, plan, doomed)
    plan.leftover = len(leftovers & set(plan.objects))
    plan.workers = live_workers(store)
    return plan


def _pulled_at(store: Store) -> dict[str, int]:
    """Known remote -> when the last pull from it that finished had started (0: never).

    Another machine may still name an artifact that expired here: it may have reused it, or
    made results from it, before it expired (reuse never picks an expired artifact, so
    nothing names it anew afterwards). Once a pull that started after the expiry finished,
    every such record is here, and mark() sees what still needs the artifact; until then
    the artifact waits (docs/sync.md, "Garbage collection")."""
    from mstore.sync import remotes, state

    return {name: state.load(store, name).pulled_ms for name in remotes.remotes(store)}


def live_workers(store: Store) -> list[int]:
    """Pids of live processes holding a run worker lane (``lane-w<N>.lock``) here.

    A worker's object store caches where packed objects are; after gc replaced a pack,
    such a process fails to read the objects it kept until it rereads the packs (see
    ObjectStore.get), so the CLI tells the user to restart it."""
    from mstore.store.locks import WriteLock, holder_alive

    pids = []
    for path in sorted(store.layout.locks.glob("lane-w*.lock")):
        info = WriteLock(path).read_holder()
        if info and holder_alive(info):
            pids.append(int(info.get("pid", 0)))
    return pids


def _locate(store: Store, plan: GcPlan, doomed: set[str]) -> None:
    """Where the doomed objects are stored: loose files, and every pack holding a copy."""
    for oid in sorted(doomed):
        path = store.objects.loose_path(oid)
        try:
            plan.objects[oid] = plan.objects.get(oid, 0) + path.stat().st_size
            plan.loose.append(oid)
        except FileNotFoundError:
            pass
    for pack in store.objects.packs():
        hit = False
        for oid, _off, ln in read_pack_directory(pack):
            if oid in doomed:
                plan.objects[oid] = plan.objects.get(oid, 0) + ln
                hit = True
        if hit:
            plan.packs.append(pack.stem)


def _rewrite_pack(store: Store, pack_id: str, doomed: set[str]) -> None:
    """Write a new pack with every object of ``pack_id`` except the doomed ones (their
    bytes rehashed on the way: a damaged object must not be copied as if it were good)."""
    path = store.objects.dir / "packs" / f"{pack_id}.pack"
    data = path.read_bytes()
    keep: dict[str, bytes] = {}
    for oid, off, ln in read_pack_directory(path):
        if oid in doomed:
            continue
        payload = data[off:off + ln]
        if object_id(payload) != oid:
            raise StoreDamagedError(f"pack {pack_id}: object {oid} is damaged; run "
                                    "'mstore fsck --full' before gc")
        keep[oid] = payload
    if keep:
        # same content, same pack name: a retried rewrite is idempotent
        store.objects.write_pack(keep)


def sweep(store: Store, plan: GcPlan) -> None:
    """Phase 2: new packs, then the record, then the unlinks. Hold the gc lock."""

    doomed = set(plan.objects)
    journal = _journal(store)
    write_once(journal, json.dumps({"drop": len(plan.drop), "objects": sorted(doomed),
                                    "at_ms": plan.now_ms}).encode(), store.layout.tmp)
    for pack_id in plan.packs:
        _rewrite_pack(store, pack_id, doomed)
    if plan.drop:
        store.write_records([ArtifactsDropped(hlc=0, ids=plan.drop)])
    dirs: set[Path] = set()
    for pack_id in plan.packs:
        p = store.objects.dir / "packs" / f"{pack_id}.pack"
        p.unlink(missing_ok=True)
        dirs.add(p.parent)
    for oid in plan.loose:
        p = store.objects.loose_path(oid)
        p.unlink(missing_ok=True)
        dirs.add(p.parent)
    for d in dirs:
        if d.is_dir():
            fsync_dir(d)
    journal.unlink(missing_ok=True)
    # this process's object store cached the old pack listing
    store.objects = ObjectStore(store.layout.objects, store.layout.tmp)


def collect(store: Store, *, grace_hours: float = DEFAULT_GRACE_HOURS, dry_run: bool = False,
            force: bool = False) -> GcReport:
    """Mark, and unless ``dry_run`` sweep, under the store's gc lock."""
    if dry_run:
        plan = mark(store, grace_hours=grace_hours)
    else:
        with store.lock("gc"):
            plan = mark(store, grace_hours=grace_hours)
            if plan.active_runs and not force and (plan.drop or plan.objects):
                raise StoreLockedError(
                    f"run {', '.join(plan.active_runs[:3])} is "
                    f"{'executing' if len(plan.active_runs) == 1 else 'executing (and more)'}; "
                    "gc would race with its writes. Wait for it, 'mstore cancel' it if it is "
                    "stale, or pass --force")
            if plan.drop or plan.objects:
                sweep(store, plan)
            else:
                _journal(store).unlink(missing_ok=True)
    return GcReport(dry_run=dry_run, grace_hours=grace_hours, expired=plan.expired,
                    kept=len(plan.kept), dropped=len(plan.drop), objects=len(plan.objects),
                    bytes=plan.bytes, packs_rewritten=len(plan.packs),
                    shared_payloads=plan.shared, active_runs=plan.active_runs,
                    workers=plan.workers, leftover_objects=plan.leftover,
                    waiting=plan.waiting)

