"""``mstore fsck``: check the index against the records, the records and objects against
their checksums, and that every object a record names is there.

fast: every segment's checksum; every segment applied; a fresh index built from the
      records in a scratch directory equals the live one, database by database; every
      pack's directory readable; every object named by a record (artifact payloads, run
      unit lists, frozen collections) present, loose or in a pack.
full: additionally rehash every object (loose and packed).

Damaged segments and objects are moved to ``local/quarantine/`` so the store opens again
(the intact objects of a damaged pack are first copied into a new pack); fsck then
reports them and exits with the "damaged" code. What quarantine took away stays
reported by later runs: objects as missing for as long as a record names them, segments
for as long as the quarantined file is not back in ``records/`` (or deleted by the user).

Runs may write while fsck works: each run worker writes its own lane and applies its
segments to the live index. So the live index is compared as of one instant (one LMDB
read transaction) with a fresh index built from exactly the segments it had applied
then, and objects are listed after those segments: a writer stores objects before the
segment naming them, so nothing a compared record names can be missing unless it is.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import blake3
import lmdb

from mstore.errors import StoreDamagedError
from mstore.store import foreign, index_runs
from mstore.store.foreign import shown
from mstore.store.fsutil import temp_name, temp_owner_alive
from mstore.store.index import Index
from mstore.store.objects import intact_objects, object_id, read_pack_directory, verify_pack
from mstore.store.segments import (
    SegmentContent,
    SegmentRef,
    list_segments,
    load_segment,
    verify,
)
from mstore.store.store import Store
from mstore.store.storenames import is_segment_name

# the databases that must equal a rebuild ("table" and "meta" hold caches and counters)
COMPARED_DBS = ("segments", "assets", "paths", "asset_paths", "history", "errors", "long_keys",
                "setaside")
# the directories of local/tmp whose entries are named for their owner (fsutil.temp_name)
TEMP_DIRS = ("", "work")


@dataclass
class Missing:
    """An object that records name but the store does not hold, and what names it."""

    object: str
    named_by: list[dict] = field(default_factory=list)

    def describe(self) -> str:
        parts = [_namer(n) for n in self.named_by[:3]]
        more = len(self.named_by) - len(parts)
        return (f"missing object {self.object}: {'; '.join(parts)}"
                + (f"; and {more} more" if more else ""))


def _namer(n: dict) -> str:
    if n["record"] == "artifact":
        return f"payload of artifact {n['id']} ({n['kind']}, run {n['run']})"
    if n["record"] == "run":
        return f"unit list of run {n['run']}"
    return f"member list of collection '{n['name']}'"


@dataclass
class FsckReport:
    segments: int = 0
    loose: int = 0  # loose objects checked
    packed: int = 0  # objects in the packs checked
    packs: int = 0
    applied_pending: int = 0
    temp_removed: int = 0
    problems: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    salvaged: list[str] = field(default_factory=list)  # "<damaged pack> -> <new pack>: n"
    missing: list[Missing] = field(default_factory=list)
    # files under objects/ and records/ that are not mstore's (a sync tool's): never
    # applied, never removed; not a problem by themselves
    foreign: list[foreign.Foreign] = field(default_factory=list)

    @property
    def objects(self) -> int:
        return self.loose + self.packed

    @property
    def clean(self) -> bool:
        return not self.problems


def _quarantine(store: Store, path: Path, report: FsckReport) -> None:
    dest = store.layout.quarantine / path.relative_to(store.root)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), dest)
    report.quarantined.append(str(path.relative_to(store.root)))


def _digests(index: Index, txn: lmdb.Transaction) -> dict[str, tuple[int, str]]:
    out = {}
    for name in COMPARED_DBS:
        h = blake3.blake3()
        n = 0
        for k, v in txn.cursor(db=index.db[name]):
            h.update(len(k).to_bytes(4, "big") + k + len(v).to_bytes(4, "big") + v)
            n += 1
        out[name] = (n, h.hexdigest())
    return out


def _clean_temp(store: Store, report: FsckReport) -> None:
    """Remove the temp entries whose owner is dead on this host (a crash mid-write leaves
    them; harmless). Entries of live processes, and names that name no owner, stay."""
    for sub in TEMP_DIRS:
        d = store.layout.tmp / sub if sub else store.layout.tmp
        try:
            entries = list(os.scandir(d))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for e in entries:
            if temp_owner_alive(e.name) is not False:
                continue
            try:
                if e.is_dir(follow_symlinks=False):
                    shutil.rmtree(e.path)
                else:
                    os.unlink(e.path)
            except FileNotFoundError:
                continue  # its owner finished with it after all
            report.temp_removed += 1


def _read(store: Store, seg: SegmentRef, report: FsckReport) -> SegmentContent | None:
    """The segment's records, or None after quarantining it as damaged."""
    try:
        return load_segment(seg.path)
    except FileNotFoundError:
        return None
    except StoreDamagedError as e:
        report.problems.append(f"damaged segment {seg.machine}/{seg.path.name}: {e.message}")
        _quarantine(store, seg.path, report)
        return None


def _apply(index: Index, seg: SegmentRef, content: SegmentContent) -> bool:
    return index.apply_segment(seg.key, seg.machine, content.records, content.positions,
                               content.rejected)


def _check_set_aside(fresh: Index, report: FsckReport) -> None:
    """Records the index could not apply (docs/format.md §6.2): the store works without
    them, but they are not in it."""
    with fresh.read() as txn:
        for sa in fresh.set_aside(txn):
            report.problems.append(f"record set aside: segment {sa.segment} position "
                                   f"{sa.position} ({sa.type}): {sa.error}")


def _check_records(store: Store, fresh: Index, report: FsckReport) -> None:
    """Checksum every segment into ``fresh``; bring the live index up to date; compare the
    two as of one instant of the live index."""
    built: set[bytes] = set()
    for seg in list(list_segments(store.layout.records)):
        report.segments += 1
        recs = _read(store, seg, report)
        if recs is not None:
            _apply(fresh, seg, recs)
            built.add(seg.key)
    live = store.index  # opening applies what catch_up finds pending
    # catch_up skips lanes whose mtime did not change: fsck looks at every segment
    with live.read() as txn:
        unapplied = [s for s in list_segments(store.layout.records)
                     if s.key in built and not live.is_applied(txn, s.key)]
    for seg in unapplied:
        recs = _read(store, seg, report)
        if recs is not None and _apply(live, seg, recs):
            report.applied_pending += 1
    with live.read() as txn:
        # listed after the snapshot began: every segment the snapshot has applied is here
        for seg in list_segments(store.layout.records):
            if seg.key in built or not live.is_applied(txn, seg.key):
                continue  # already built, or arrived after the snapshot: checked next time
            report.segments += 1
            recs = _read(store, seg, report)
            if recs is not None:
                _apply(fresh, seg, recs)
        theirs = _digests(live, txn)
    with fresh.read() as txn:
        ours = _digests(fresh, txn)
    for name in COMPARED_DBS:
        if theirs[name] != ours[name]:
            report.problems.append(
                f"index database '{name}' differs from the records; run 'mstore reindex'")


def _salvage(store: Store, pack: Path, report: FsckReport) -> set[str]:
    """Copy the intact objects of a damaged pack into a new pack; their ids."""
    try:
        keep = intact_objects(pack.read_bytes())
    except OSError:
        return set()
    if keep:
        new = store.objects.write_pack(keep)
        report.salvaged.append(f"{pack.relative_to(store.root)} -> objects/packs/{new}.pack: "
                               f"{len(keep)} intact objects")
    return set(keep)


def _check_objects(store: Store, report: FsckReport, full: bool) -> set[str]:
    """Every object the store holds (loose or packed, undamaged): their ids."""
    present: set[str] = set()
    for pack in store.objects.packs():
        report.packs += 1
        try:
            entries = read_pack_directory(pack)
            problems = verify_pack(pack) if full else []
        except FileNotFoundError:
            continue
        except StoreDamagedError as e:
            entries, problems = [], [e.message]
        if problems:
            report.problems += problems
            present |= _salvage(store, pack, report)
            _quarantine(store, pack, report)
            continue
        report.packed += len(entries)
        present.update(oid for oid, _off, _ln in entries)
    for path in store.objects.loose():
        report.loose += 1
        if full and object_id(path.read_bytes()) != path.name:
            report.problems.append(f"damaged object {path.name}")
            _quarantine(store, path, report)
            continue
        present.add(path.name)
    return present


def _check_named(fresh: Index, present: set[str], report: FsckReport) -> None:
    """Every object a current record names must be present: the payload of every artifact
    (gc'd ones are not current), every run's unit list, every frozen collection's members."""
    missing: dict[str, Missing] = {}

    def need(oid: str, namer: dict) -> None:
        if oid and oid not in present:
            missing.setdefault(oid, Missing(oid)).named_by.append(namer)

    with fresh.read() as txn:
        for a in index_runs.all_artifacts(fresh, txn):
            need(a.payload, {"record": "artifact", "id": a.id, "kind": a.kind, "run": a.run})
        for rid, info in index_runs.all_runs(fresh, txn):
            if info.started is not None:
                need(info.started.units_object, {"record": "run", "run": rid})
        for c in index_runs.collections(fresh, txn):
            need(c.members_object, {"record": "collection", "name": c.name})
    for m in sorted(missing.values(), key=lambda m: m.object):
        report.missing.append(m)
        report.problems.append(m.describe())


def _check_quarantine(store: Store, report: FsckReport) -> None:
    """Segments quarantined by an earlier fsck: their records are missing from the store
    until a good copy is back in records/ or the user deletes the quarantined file."""
    qdir = store.layout.quarantine / "records"
    try:
        lanes = sorted(e.name for e in os.scandir(qdir) if e.is_dir())
    except FileNotFoundError:
        return
    for lane in lanes:
        for name in sorted(os.listdir(qdir / lane)):
            rel = f"records/{lane}/{name}"
            if rel in report.quarantined or (store.root / rel).exists():
                continue
            report.problems.append(
                f"segment {rel} is in local/quarantine/: its records are missing; put a good "
                "copy back (from a backup or another machine), or delete the quarantined "
                "file to accept the loss")


def fsck(store: Store, *, full: bool = False) -> FsckReport:
    """Check the store; the caller holds the write and gc locks."""
    report = FsckReport()
    _clean_temp(store, report)
    scratch = store.layout.tmp / temp_name("fsck-index")
    fresh = Index(scratch)
    try:
        _check_records(store, fresh, report)
        # objects after the segments: a record's objects are stored before its segment
        present = _check_objects(store, report, full)
        _check_named(fresh, present, report)
        _check_set_aside(fresh, report)
    finally:
        fresh.close()
        shutil.rmtree(scratch, ignore_errors=True)
    _check_quarantine(store, report)
    report.foreign = [_judge_copy(store, f, report) for f in foreign.scan(store.root)]
    return report


def _judge_copy(store: Store, f: foreign.Foreign, report: FsckReport) -> foreign.Foreign:
    """A conflict copy of a segment is a sign: segments are write-once, and only one
    machine writes a lane, so two versions of one segment mean two machines wrote that lane
    (one copied the other's local/machine-id). The copy's records are not applied."""
    lane = f.path.removeprefix("records/").rpartition("/")[0]
    if (f.copy_of is None or not f.path.startswith("records/") or "/" in lane or not lane
            or not is_segment_name(f.copy_of)):
        return f
    try:
        copy = (store.root / f.path).read_bytes()
        verify(copy)
    except (OSError, StoreDamagedError):
        return replace(f, note="not a whole segment")
    try:
        original = (store.root / "records" / lane / f.copy_of).read_bytes()
    except FileNotFoundError:
        report.problems.append(
            f"segment records/{lane}/{f.copy_of} is only in a {f.tool} conflict copy, "
            f"{shown(f.path)}: its records are not in the store. If no other "
            f"machine writes lane {lane}, rename the copy to {f.copy_of}")
        return replace(f, note=f"no {f.copy_of} beside it")
    if original == copy:
        return replace(f, note=f"the same bytes as {f.copy_of}")
    report.problems.append(
        f"two machines wrote lane {lane}: {shown(f.path)} ({f.tool} conflict copy) holds "
        f"other records than {f.copy_of}, and those are not in the store. Each machine needs "
        "its own id: on one of them delete local/machine-id (copied from the other), so "
        "its next write mints a new lane")
    return replace(f, note=f"other records than {f.copy_of}: two machines wrote this lane")


def reindex(store: Store) -> int:
    """Drop ``local/index`` and rebuild it from the records. Returns segments applied.
    The full-text index is dropped too; the next search rebuilds it."""
    import shutil

    store.drop_index()
    shutil.rmtree(store.layout.text_index.parent, ignore_errors=True)
    _ = store.index  # reopen: catch_up applies every segment
    with store.index.read() as txn:
        return txn.stat(store.index.db["segments"])["entries"]
