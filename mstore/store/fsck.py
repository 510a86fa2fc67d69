"""``mstore fsck``: check the index against the records and the records/objects against
their checksums.

fast: every segment's checksum; every segment applied; a fresh index built from
      the records in a scratch directory equals the live one, database by database;
      every pack's directory readable.
full: additionally rehash every object (loose and packed).
Damaged segments and objects are moved to ``local/quarantine/`` so the store
opens again; fsck then reports them and exits with the "damaged" code.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from mstore.errors import StoreDamagedError
from mstore.store.index import Index
from mstore.store.locks import pid_alive
from mstore.store.objects import object_id, read_pack_directory, verify_pack
from mstore.store.segments import list_segments, read_segment
from mstore.store.store import Store

# the databases that must equal a rebuild ("table" and "meta" hold caches and counters)
COMPARED_DBS = ("segments", "assets", "paths", "asset_paths", "history", "errors", "long_keys",
                "setaside")


@dataclass
class FsckReport:
    segments: int = 0
    objects: int = 0
    packs: int = 0
    applied_pending: int = 0
    temp_removed: int = 0
    problems: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.problems


def _quarantine(store: Store, path: Path, report: FsckReport) -> None:
    dest = store.layout.quarantine / path.relative_to(store.root)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(path), dest)
    report.quarantined.append(str(path.relative_to(store.root)))


def _db_digest(index: Index, name: str) -> tuple[int, str]:
    h = blake3.blake3()
    n = 0
    with index.read() as txn:
        for k, v in txn.cursor(db=index.db[name]):
            h.update(len(k).to_bytes(4, "big") + k + len(v).to_bytes(4, "big") + v)
            n += 1
    return n, h.hexdigest()


def _clean_temp(store: Store, report: FsckReport) -> None:
    """Remove temp files left by dead writers (a crash mid-write leaves them; harmless)."""
    tmp = store.layout.tmp
    if not tmp.is_dir():
        return
    for p in tmp.iterdir():
        parts = p.name.rsplit(".", 2)
        pid = int(parts[-2]) if len(parts) == 3 and parts[-2].isdigit() else 0
        if not pid_alive(pid):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            report.temp_removed += 1


def fsck(store: Store, *, full: bool = False) -> FsckReport:
    report = FsckReport()
    _clean_temp(store, report)
    # 1. segments: checksum and decode
    for seg in list(list_segments(store.layout.records)):
        report.segments += 1
        try:
            read_segment(seg.path)
        except StoreDamagedError as e:
            report.problems.append(f"damaged segment {seg.machine}/{seg.path.name}: {e.message}")
            _quarantine(store, seg.path, report)
    # 2. objects
    for pack in store.objects.packs():
        report.packs += 1
        problems = verify_pack(pack) if full else []
        if not full:
            try:
                report.objects += len(read_pack_directory(pack))
            except StoreDamagedError as e:
                problems.append(e.message)
        if problems:
            report.problems += problems
            _quarantine(store, pack, report)
    for path in store.objects.loose():
        report.objects += 1
        if full and object_id(path.read_bytes()) != path.name:
            report.problems.append(f"damaged object {path.name}")
            _quarantine(store, path, report)
    # 3. index vs records: apply what is pending, then compare with a fresh rebuild
    live = store.index  # opening applies pending segments
    report.applied_pending = 0
    scratch = store.layout.tmp / f"fsck-index.{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    fresh = Index(scratch)
    try:
        for seg in list_segments(store.layout.records):
            fresh.apply_segment(seg.key, seg.machine, read_segment(seg.path))
        for name in COMPARED_DBS:
            if _db_digest(live, name) != _db_digest(fresh, name):
                report.problems.append(
                    f"index database '{name}' differs from the records; run 'mstore reindex'")
        with live.read() as txn:
            for sa in live.set_aside(txn):
                report.problems.append(
                    f"record set aside: segment {sa.segment} position {sa.position} "
                    f"({sa.type}): {sa.error}")
    finally:
        fresh.close()
        shutil.rmtree(scratch, ignore_errors=True)
    return report


def reindex(store: Store) -> int:
    """Drop ``local/index`` and rebuild it from the records. Returns segments applied."""
    store.drop_index()
    _ = store.index  # reopen: catch_up applies every segment
    with store.index.read() as txn:
        return txn.stat(store.index.db["segments"])["entries"]
