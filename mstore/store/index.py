"""The local LMDB index: a cache of the records, rebuilt by ``mstore reindex``.

Never truth: everything here is derived from record segments, so losing
``local/index`` loses nothing. Applying a record is idempotent and
order-independent (latest hlc wins per path; history is keyed by hlc), so
segments can arrive in any order, e.g. from another machine after a sync.

Databases (keys are bytes; ``pk`` = the bounded form (keys.py) of root name + b"\\0" +
relative path)::

    meta         b"schema", b"data_gen", b"table_gen", b"last_add", b"clock" (max hlc seen),
                 b"derived_built" (the derived db was filled for artifacts applied before it)
    segments     b"<machine>/<seq>" -> b"" once applied
    assets       asset id (32 bytes) -> msgpack AssetRecorded
    paths        pk -> msgpack PathState (current claim about the path)
    asset_paths  asset id + pk -> b""       every path an asset was ever seen at
    history      pk + b"\\0" + hlc (8 bytes) + machine -> msgpack HistoryEvent
    errors       pk -> msgpack ErrorState
    table        the catalog snapshot (query/snapshot.py): b"head", b"cols", b"c<tag>/<column>",
                 b"delta" (store/table_db.py)
    dirty        b"a" + asset id / b"e" + pk -> data_gen of the last change to that asset's row
                 or that path's error since the snapshot (meta b"dirty_over": the data_gen of a
                 change not recorded because more than DIRTY_CAP entries were waiting)
    long_keys    a hashed key part (keys.bounded) -> the full value it stands for
    setaside     segment key + b"#" + position (4 bytes) -> msgpack SetAside: a record the
                 index could not apply, kept out so that the rest of the store works
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from itertools import islice, takewhile
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lmdb
import msgspec

from mstore.errors import MstoreError, NoSpaceError, StoreDamagedError, UsageError
from mstore.model.codec import LazyDecoder
from mstore.model.meta import Meta
from mstore.model.records import (
    AddFinished,
    AssetRecorded,
    LinkGone,
    LinkSeen,
    PathError,
    PathGone,
    PathOk,
    PathSeen,
    Record,
)
from mstore.store import keys
from mstore.store.fsutil import free_bytes, is_network_fs
from mstore.store.index_file import data_file_problem
from mstore.store.index_links import LINK_DBS, apply_link_record, link_hlc
from mstore.store.index_runs import RUN_DBS, apply_run_record, asset_arrived, build_derived
from mstore.store.keys import CUT, bounded, is_hashed, path_key, scan_prefix, split_path_key
from mstore.store.scan import prefix_items, prefix_keys
from mstore.store.segments import Rejected

if TYPE_CHECKING:
    from mstore.store.present_paths import PresentPaths
    from mstore.store.reader import Reader

INDEX_SCHEMA = 1
DBS = ("meta", "segments", "lanes", "assets", "paths", "asset_paths", "history", "errors",
       "table", "dirty", "long_keys", "setaside", *RUN_DBS, *LINK_DBS)
INITIAL_MAP = 1 << 30  # grows by doubling on MapFullError
LOW_SPACE = 16 << 20  # an LMDB commit that failed with less free space than this: disk full
# the snapshot is rebuilt beyond 20k dirty entries anyway (query/snapshot.py), so
# past this many only the generation of the overflow is kept
DIRTY_CAP = 20_001
PRESENT_BATCH = 65_536  # path states present_states_under reads at a time


class PathState(msgspec.Struct, array_like=True, gc=False):  # plain values: never in a cycle
    asset: str
    size: int
    mtime_ns: int
    inode: int
    hlc: int
    present: bool
    # the PathSeen's ctime_ns, or -1 when it was racy (its stat must not be trusted)
    ctime_ns: int = 0


class HistoryEvent(msgspec.Struct, array_like=True):
    event: str  # "seen" | "gone" | "error" | "ok"
    asset: str  # "" for an error
    detail: str = ""


class ErrorState(msgspec.Struct, array_like=True):
    reason: str
    detail: str
    hlc: int


class SetAside(msgspec.Struct):
    """A record the index could not apply (docs/format.md §6.2)."""

    segment: str  # <lane>/<seq>
    position: int  # the record's position in that segment
    type: str  # its record type ("t")
    hlc: int  # its stamp (0 when its fields could not be decoded)
    error: str


def _prefix_end(prefix: bytes) -> bytes | None:
    """The least key above every key that starts with ``prefix`` (None: there is none)."""
    head = prefix.rstrip(b"\xff")
    return head[:-1] + bytes([head[-1] + 1]) if head else None


def record_fault(e: BaseException) -> bool:
    """Whether an error applying a record is the record's fault (set it aside) rather than
    the environment's (disk, map size, damaged index: those must stop and be reported)."""
    if isinstance(e, lmdb.BadValsizeError):
        return True  # a key or value LMDB refuses
    return isinstance(e, Exception) and not isinstance(e, lmdb.Error | OSError | MstoreError)


class AssetInfo(msgspec.Struct, array_like=True):
    id: str
    size: int
    meta: Meta
    first_hlc: int  # the earliest asset record
    probe: int = 0  # the ``probe`` version of the record ``meta`` comes from
    meta_hlc: int = 0  # ... and its hlc (0: first_hlc, as in indexes made before)


# the full name of a path (root, NUL, relative path); its key in the index is bounded(pk)
pk = path_key
split_pk = split_path_key


_enc = msgspec.msgpack.Encoder()
_encode = _enc.encode
_pack_hlc = struct.Struct(">Q").pack
_dec_path = LazyDecoder(PathState)
_dec_path_list = LazyDecoder(list[PathState])
_dec_hist = LazyDecoder(HistoryEvent)
_dec_err = LazyDecoder(ErrorState)
_dec_asset = LazyDecoder(AssetInfo)
_dec_add = LazyDecoder(AddFinished)
_dec_setaside = LazyDecoder(SetAside)


class IndexDamagedError(StoreDamagedError):
    """The index cannot be used as it is; being a cache, it is rebuilt (Store.index)."""


class Index:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        if is_network_fs(path):
            raise UsageError(
                f"{path} is on a network filesystem; LMDB needs a local disk. "
                "Keep the store's local/ on a local disk (see docs/format.md)."
            )
        self.path = path
        self._pid = os.getpid()
        self._touched: set[bytes] = set()  # dirty keys of the segment being applied
        self._held: dict[str, bool] = {}  # _may_hold's answers in the transaction applying
        # bumped whenever this process maps the file anew (the map grew): views of values
        # taken before point at the old mapping (table_db.TableTxn keeps views until then)
        self.map_epoch = 0
        # what this process's writer (apply_segments) changed in the catalog: how many
        # data_gen steps, and, while a caller collects them, the dirty keys (snapshot.py)
        self.writer_bumps = 0
        self.touch_log: set[bytes] | None = None
        problem = data_file_problem(path / "data.mdb")  # before LMDB maps it
        if problem:
            raise IndexDamagedError(problem)
        try:
            self.env = lmdb.open(
                str(path), map_size=INITIAL_MAP, max_dbs=64, max_readers=1024,
                subdir=True, readahead=False, lock=True,
            )
        except lmdb.Error as e:
            raise IndexDamagedError(f"cannot open it: {e}") from e
        try:
            self.env.reader_check()  # clear reader slots of dead processes
            self.db = self._open_dbs()
            # the databases every file of an add touches, without a dict lookup
            self._db_assets, self._db_paths = self.db["assets"], self.db["paths"]
            self._db_history, self._db_asset_paths = self.db["history"], self.db["asset_paths"]
            with self.write() as txn:
                schema = txn.get(b"schema", db=self.db["meta"])
                if schema is None:
                    txn.put(b"schema", str(INDEX_SCHEMA).encode(), db=self.db["meta"])
                elif schema != str(INDEX_SCHEMA).encode():
                    raise IndexDamagedError("it was made by another version of mstore")
                build_derived(self, txn)  # an additive upgrade of an older index, done once
        except (lmdb.Error, IndexDamagedError) as e:
            self.env.close()
            if isinstance(e, lmdb.MapFullError | lmdb.DiskError):
                raise
            raise e if isinstance(e, IndexDamagedError) else IndexDamagedError(str(e)) from e

    def _open_dbs(self) -> dict[str, Any]:
        """The named databases. Opening one begins a transaction, which fails when another
        process grew the map since this one mapped it (a busy worker does, at scale):
        adopt the new size and open again — it is not damage."""
        while True:
            try:
                return {name: self.env.open_db(name.encode()) for name in DBS}
            except lmdb.MapResizedError:
                self.set_mapsize(0)

    def set_mapsize(self, size: int) -> None:
        """``0``: adopt the size another process grew the map to."""
        self.env.set_mapsize(size)
        self.map_epoch += 1

    def close(self) -> None:
        self.env.close()

    # -- transactions with LMDB's growth rules -------------------------------
    def _check_fork(self) -> None:
        if os.getpid() != self._pid:
            raise RuntimeError("an LMDB environment must not be used across fork()")

    def read(self, buffers: bool = False) -> lmdb.Transaction:
        """A read transaction; ``buffers``: its values are views of the map (valid while
        it lasts and the map is not grown in this process), not copies."""
        self._check_fork()
        try:
            return self.env.begin(buffers=buffers)
        except lmdb.MapResizedError:
            self.set_mapsize(0)  # another process grew the map: adopt its size
            return self.env.begin(buffers=buffers)

    def write(self) -> lmdb.Transaction:
        self._check_fork()
        try:
            return self.env.begin(write=True)
        except lmdb.MapResizedError:
            self.set_mapsize(0)
            return self.env.begin(write=True)

    @contextmanager
    def reader(self) -> Iterator[Reader]:
        """A consistent view of the index for reading (store/reader.py)."""
        from mstore.store.reader import Reader

        with self.read() as txn:
            yield Reader(self, txn)

    def grow(self) -> None:
        self.set_mapsize(self.env.info()["map_size"] * 2)

    def run_write(self, fn, *args, grow: bool = True):  # noqa: ANN001, ANN201
        """Run ``fn(txn, *args)`` in a write transaction, growing the map when full.

        ``grow=False``: raise lmdb.MapFullError instead, for a caller that holds views of
        the map (a read transaction's values), which growing it would leave dangling."""
        while True:
            try:
                with self.write() as txn:
                    return fn(txn, *args)
            except lmdb.MapFullError:
                if not grow:
                    raise
                self.grow()
            except lmdb.Error as e:
                # LMDB reports a full disk as an I/O error of the commit; the data file keeps
                # its last committed state, and the records are durable already
                if 0 <= free_bytes(self.path) < LOW_SPACE:
                    raise NoSpaceError(f"no space left on the disk holding {self.path}; "
                                       "free some and run the command again") from e
                raise

    # -- applying records -----------------------------------------------------
    def lane_seen(self, txn: lmdb.Transaction, lane: str) -> tuple[int, int]:
        """(directory mtime_ns when last found unchanged, segment watermark) of a lane."""
        raw = txn.get(lane.encode(), db=self.db["lanes"])
        return struct.unpack(">qq", raw) if raw is not None else (0, 0)

    def set_lanes_seen(self, seen: dict[str, tuple[int, int]]) -> None:
        with self.write() as txn:
            for lane, (mtime, mark) in seen.items():
                txn.put(lane.encode(), struct.pack(">qq", mtime, mark), db=self.db["lanes"])

    def is_applied(self, txn: lmdb.Transaction, seg_key: bytes) -> bool:
        return txn.get(seg_key, db=self.db["segments"]) is not None

    def apply_segment(self, seg_key: bytes, machine: str, records: list[Record],
                      positions: list[int] | None = None,
                      rejected: Iterable[Rejected] = ()) -> bool:
        """Apply one segment's records in one transaction; False if it was applied already.

        A record the index cannot apply (a key LMDB refuses, an id that is not one, fields
        that do not decode: ``rejected``) must not stop the store: it is set aside with its
        reason in ``setaside`` and the rest of the segment applies. ``positions`` are the
        records' positions in the segment file (default: their order here)."""
        where = positions if positions is not None else list(range(len(records)))

        def do(txn: lmdb.Transaction, one_by_one: bool) -> bool:
            if self.is_applied(txn, seg_key):
                return False
            changed = False
            self._touched = set()
            self._held = {}
            for pos, rec in zip(where, records, strict=True):
                if not one_by_one:
                    changed |= self._apply(txn, machine, rec)
                    continue
                try:  # a child transaction: a record that fails leaves nothing behind
                    with self.env.begin(write=True, parent=txn) as child:
                        changed |= self._apply(child, machine, rec)
                except Exception as e:
                    if not record_fault(e):
                        raise
                    self._set_aside(txn, seg_key, pos, type(rec).__struct_config__.tag,
                                    rec.hlc, f"{type(e).__name__}: {e}")
            for r in rejected:
                self._set_aside(txn, seg_key, r.position, r.type, 0, r.error)
            txn.put(seg_key, b"", db=self.db["segments"])
            top = max((r.hlc for r in records), default=0)
            if top > self.meta_int(txn, b"clock"):
                txn.put(b"clock", str(top).encode(), db=self.db["meta"])
            if changed:
                self._bump(txn, b"data_gen")
                self._mark_dirty(txn)
            return True

        try:
            return self.run_write(do, False)
        except Exception as e:
            if not record_fault(e):
                raise
        return self.run_write(do, True)  # again, record by record

    def apply_segments(self, segments: list[tuple[bytes, str, list[Record]]]) -> int:
        """Apply several segments (key, lane, records) in one transaction: what a writer
        has written since its last apply. Returns how many were not applied before.

        The same as ``apply_segment`` on each (applying is order-independent); if a
        record cannot be applied, they are applied one segment at a time instead, so
        that it is set aside (``apply_segment``)."""

        def do(txn: lmdb.Transaction) -> int:
            changed = False
            self._touched = set()
            self._held = {}
            top = 0
            new = 0
            for seg_key, machine, records in segments:
                if self.is_applied(txn, seg_key):
                    continue
                lane = machine.encode()
                for rec in records:
                    t = type(rec)  # the two record types of a bulk add without the dispatch
                    if t is PathSeen:
                        changed |= self._apply_path(txn, lane, rec, True)
                    elif t is AssetRecorded:
                        changed |= self._apply_asset(txn, rec)
                    else:
                        changed |= self._apply(txn, machine, rec)
                txn.put(seg_key, b"", db=self.db["segments"])
                top = max(top, max((r.hlc for r in records), default=0))
                new += 1
            if top > self.meta_int(txn, b"clock"):
                txn.put(b"clock", str(top).encode(), db=self.db["meta"])
            touched = self._touched
            if changed:
                self._bump(txn, b"data_gen")
                self._mark_dirty(txn)
            return new, changed, touched

        try:
            new, changed, touched = self.run_write(do)
        except Exception as e:
            if not record_fault(e):
                raise
            return sum(self.apply_segment(*seg) for seg in segments)
        if changed:
            self.writer_bumps += 1
            if self.touch_log is not None:
                self.touch_log |= touched
        return new

    def _set_aside(self, txn: lmdb.Transaction, seg_key: bytes, pos: int, rtype: str, hlc: int,
                   error: str) -> None:
        entry = SetAside(seg_key.decode(), pos, rtype, hlc, error[:500])
        txn.put(seg_key + b"#" + struct.pack(">I", pos), _enc.encode(entry),
                db=self.db["setaside"])

    def set_aside_count(self, txn: lmdb.Transaction) -> int:
        return txn.stat(self.db["setaside"])["entries"]

    def set_aside(self, txn: lmdb.Transaction) -> list[SetAside]:
        """The records the index could not apply, by segment and position."""
        return [_dec_setaside.decode(v) for _, v in txn.cursor(db=self.db["setaside"])]

    def put_key(self, txn: lmdb.Transaction, full: bytes) -> bytes:
        """The key part for ``full`` (keys.bounded), remembering the full value of a hashed
        one so that listings can give it back."""
        key = bounded(full)
        if is_hashed(key):
            txn.put(key, full, db=self.db["long_keys"])
        return key

    def full_key(self, txn: lmdb.Transaction, key: bytes) -> bytes:
        """The full value a key part stands for (itself unless it is hashed)."""
        if not is_hashed(key):
            return key
        full = txn.get(key, db=self.db["long_keys"])
        if full is None:
            raise StoreDamagedError("index has a hashed key without its full value; "
                                    "run 'mstore reindex'")
        return bytes(full)

    def _bump(self, txn: lmdb.Transaction, key: bytes) -> None:
        cur = txn.get(key, db=self.db["meta"])
        txn.put(key, str(int(cur or 0) + 1).encode(), db=self.db["meta"])

    def _history(self, txn: lmdb.Transaction, key: bytes, hlc: int, machine: str,
                 ev: HistoryEvent) -> None:
        hkey = key + b"\0" + _pack_hlc(hlc) + machine.encode()
        txn.put(hkey, _enc.encode(ev), db=self.db["history"])

    def _ok_after(self, txn: lmdb.Transaction, key: bytes, hlc: int) -> bool:
        """Whether the history of path key ``key`` has an "ok" later than ``hlc``: an
        error applied after the "ok" that cleared it (records arrive in any order) stays
        cleared. Read only when an error is applied, which is rare."""
        events = keys.history_key(key)
        cur = txn.cursor(db=self.db["history"])
        if not cur.set_range(keys.history_key(key, hlc + 1)):
            return False
        for hkey, val in cur:
            if not bytes(hkey).startswith(events):
                return False
            if _dec_hist.decode(val).event == "ok":
                return True
        return False

    def _may_hold(self, txn: lmdb.Transaction, name: str) -> bool:
        """Whether database ``name`` may have entries: looked up once per transaction
        applying records, and set by the records that add to it. Lets a bulk add skip
        lookups of errors and pending run units, which almost never exist."""
        held = self._held.get(name)
        if held is None:
            held = self._held[name] = txn.stat(self.db[name])["entries"] > 0
        return held

    def _apply(self, txn: lmdb.Transaction, machine: str, rec: Record) -> bool:
        db = self.db
        if isinstance(rec, PathSeen | PathGone):
            return self._apply_path(txn, machine.encode(), rec, isinstance(rec, PathSeen))
        if isinstance(rec, AssetRecorded):
            return self._apply_asset(txn, rec)
        if isinstance(rec, PathError):
            key = self.put_key(txn, pk(rec.root, rec.path))
            self._touched.add(b"e" + key)
            self._held["errors"] = True
            self._history(txn, key, rec.hlc, machine, HistoryEvent("error", "", rec.reason))
            old = txn.get(key, db=db["errors"])
            if old is not None and _dec_err.decode(old).hlc > rec.hlc:
                return True
            state = txn.get(key, db=db["paths"])
            if state is not None and _dec_path.decode(state).hlc > rec.hlc:
                return True  # a later sighting already cleared this error
            if link_hlc(self, txn, key) > rec.hlc:
                return True  # so did a later sighting of a link there
            if self._ok_after(txn, key, rec.hlc):
                return True  # ... or a later "ok"
            txn.put(key, _enc.encode(ErrorState(rec.reason, rec.detail, rec.hlc)), db=db["errors"])
            return True
        if isinstance(rec, PathOk):
            key = self.put_key(txn, pk(rec.root, rec.path))
            self._touched.add(b"e" + key)
            self._history(txn, key, rec.hlc, machine, HistoryEvent("ok", ""))
            old = txn.get(key, db=db["errors"])
            if old is not None and _dec_err.decode(old).hlc < rec.hlc:
                txn.delete(key, db=db["errors"])
            return True
        if isinstance(rec, LinkSeen | LinkGone):
            return apply_link_record(self, txn, machine, rec)
        if isinstance(rec, AddFinished):
            old = txn.get(b"last_add", db=db["meta"])
            if old is None or _dec_add.decode(old).hlc < rec.hlc:
                txn.put(b"last_add", _enc.encode(rec), db=db["meta"])
            return False
        # runs, coverage, artifacts, collections, labels (index_runs.py): they do not
        # change the catalog, so they do not invalidate its snapshot
        self._held["kind_pending"] = True  # they may add to it
        apply_run_record(self, txn, rec, machine)
        return False

    def _apply_asset(self, txn: lmdb.Transaction, rec: AssetRecorded) -> bool:
        db = self._db_assets
        aid = bytes.fromhex(rec.id)
        hlc = rec.hlc
        info = AssetInfo(rec.id, rec.size, rec.meta, hlc, rec.probe, hlc)
        # a new asset (the common case) is one put; only a known one is read and merged
        if txn.put(aid, _encode(info), overwrite=False, db=db):
            old = None
        else:
            old = txn.get(aid, db=db)
            # the facts of the best prober win, among equals the earliest record's
            o = _dec_asset.decode(old)
            better = (rec.probe, -rec.hlc) > (o.probe, -(o.meta_hlc or o.first_hlc))
            if not better and o.first_hlc <= rec.hlc:
                return False
            if not better:  # only seen earlier than thought
                info = msgspec.structs.replace(o, first_hlc=rec.hlc,
                                               meta_hlc=o.meta_hlc or o.first_hlc)
            else:
                info.first_hlc = min(rec.hlc, o.first_hlc)
            txn.put(aid, _enc.encode(info), db=db)
        self._touched.add(b"a" + aid)
        if old is None and self._may_hold(txn, "kind_pending"):
            asset_arrived(self, txn, rec.id)  # runs that counted it before it came
        return True

    def _apply_path(self, txn: lmdb.Transaction, lane: bytes, rec: PathSeen | PathGone,
                    seen: bool) -> bool:
        """A PathSeen or PathGone. Called once per file of an add: written to be cheap."""
        full = rec.root.encode() + b"\0" + rec.path  # keys.path_key
        key = full if len(full) <= CUT else self.put_key(txn, full)
        asset = rec.asset
        aid = bytes.fromhex(asset)
        hlc = rec.hlc
        txn.put(key + b"\0" + _pack_hlc(hlc) + lane,
                _encode(HistoryEvent("seen" if seen else "gone", asset)), db=self._db_history)
        txn.put(aid + key, b"", db=self._db_asset_paths)
        touched = self._touched
        touched.add(b"a" + aid)
        if seen:
            st = PathState(asset, rec.size, rec.mtime_ns, rec.inode, hlc, True,
                           -1 if rec.racy else rec.ctime_ns)
        else:  # a gone path keeps no stat: the state must not depend on apply order
            st = PathState(asset, 0, 0, 0, hlc, False)
        value = _encode(st)
        paths = self._db_paths
        # a path seen for the first time (the common case) is one put; a known one is
        # read, and its state replaced only by a later claim
        if not txn.put(key, value, overwrite=False, db=paths):
            old_st = _dec_path.decode(txn.get(key, db=paths))
            touched.add(b"a" + bytes.fromhex(old_st.asset))  # the asset it replaces here
            if old_st.hlc > hlc:
                return True
            txn.put(key, value, db=paths)
        held = self._held.get("errors")
        if held is None:
            held = self._may_hold(txn, "errors")
        if held:
            err = txn.get(key, db=self.db["errors"])
            if err is not None:  # cleared, or shown on the asset instead of on its own row
                touched.add(b"e" + key)
                if _dec_err.decode(err).hlc < hlc:
                    txn.delete(key, db=self.db["errors"])
        return True

    # -- dirty tracking for the catalog snapshot (query/snapshot.py) -----------
    def _mark_dirty(self, txn: lmdb.Transaction) -> None:
        """Record the rows this segment changed, with the data_gen that includes the change.

        A snapshot built at generation g still holds every row whose key has a value
        above g, so readers patch just those instead of rebuilding.
        """
        db = self.db["dirty"]
        gen = str(self.meta_int(txn, b"data_gen")).encode()
        room = DIRTY_CAP - txn.stat(db)["entries"]
        for key in self._touched:
            if room <= 0:
                # too many: the snapshot must be rebuilt, which is all a reader needs to
                # know (a rebuild clears this only if it holds this generation)
                txn.put(b"dirty_over", gen, db=self.db["meta"])
                break
            if txn.replace(key, gen, db=db) is None:
                room -= 1
        self._touched = set()

    def dirty(self, txn: lmdb.Transaction) -> Iterator[tuple[bytes, int]]:
        """(key, data_gen) of every dirty entry: b"a" + asset id, or b"e" + the full pk."""
        for key, val in txn.cursor(db=self.db["dirty"]):
            key = bytes(key)
            if key[:1] == b"e":
                key = b"e" + self.full_key(txn, key[1:])
            yield key, int(bytes(val))

    def dirty_count(self, txn: lmdb.Transaction) -> int:
        return txn.stat(self.db["dirty"])["entries"]

    def clear_dirty(self, txn: lmdb.Transaction, upto: int) -> None:
        """Forget the changes a snapshot built at data_gen ``upto`` already holds."""
        db = self.db["dirty"]
        if self.meta_int(txn, b"data_gen") <= upto:
            txn.drop(db, delete=False)
        else:
            for key, val in list(txn.cursor(db=db)):
                if int(bytes(val)) <= upto:
                    txn.delete(key, db=db)
        if self.meta_int(txn, b"dirty_over") <= upto:
            txn.delete(b"dirty_over", db=self.db["meta"])

    # -- reading --------------------------------------------------------------
    def meta_int(self, txn: lmdb.Transaction, key: bytes) -> int:
        return int(txn.get(key, db=self.db["meta"]) or 0)

    def last_add(self, txn: lmdb.Transaction) -> AddFinished | None:
        raw = txn.get(b"last_add", db=self.db["meta"])
        return _dec_add.decode(raw) if raw is not None else None

    def asset(self, txn: lmdb.Transaction, aid: str) -> AssetInfo | None:
        raw = txn.get(bytes.fromhex(aid), db=self.db["assets"])
        return _dec_asset.decode(raw) if raw is not None else None

    def assets_with_prefix(self, txn: lmdb.Transaction, prefix: str, limit: int = 2) -> list[str]:
        """Asset ids starting with the hex ``prefix`` (at most ``limit``)."""
        lo = bytes.fromhex(prefix[: len(prefix) // 2 * 2])
        out: list[str] = []
        for key in prefix_keys(txn, self.db["assets"], lo):
            hexid = key.hex()
            if hexid.startswith(prefix):
                out.append(hexid)
                if len(out) >= limit:
                    break
        return out

    def path_state(self, txn: lmdb.Transaction, root: str, path: bytes) -> PathState | None:
        raw = txn.get(bounded(pk(root, path)), db=self.db["paths"])
        return _dec_path.decode(raw) if raw is not None else None

    def iter_paths(self, txn: lmdb.Transaction, root: str | None = None, prefix: bytes = b""
                   ) -> Iterator[tuple[str, bytes, PathState]]:
        """Path states in key order; with ``root``, only that root's paths starting with
        ``prefix``."""
        for full, val in self._scan_paths(txn, "paths", root, prefix):
            r, p = split_pk(full)
            yield r, p, _dec_path.decode(val)

    def present_in_dir(self, txn: lmdb.Transaction, root: str, d: bytes,
                       known: dict[bytes, str] | None = None,
                       decode: Callable[[memoryview], PathState] | None = None
                       ) -> list[tuple[bytes, str]]:
        """(name, asset) of the present paths directly in directory ``d`` of ``root``
        (b"": its top), in name order: one cursor pass that jumps over subdirectories,
        so a folder's few files are found without reading the tree below it. ``known``
        names (present, with these assets) are taken without decoding their state;
        ``decode`` decodes a PathState (default: the whole record)."""
        known = known or {}
        decode = decode or _dec_path.decode
        prefix = root.encode() + b"\0" + (d + b"/" if d else b"")
        start, _check = scan_prefix(prefix)
        plen = len(prefix)
        out: list[tuple[bytes, str]] = []
        cur = txn.cursor(db=self.db["paths"])
        ok = cur.set_range(start)
        while ok:
            ok = False
            for raw, val in cur:  # from where the cursor is
                key = bytes(raw)
                if not key.startswith(start):
                    return out
                hashed = is_hashed(key)
                if hashed:  # a long path (keys.py): compare its full name
                    key = self.full_key(txn, key)
                    if not key.startswith(prefix):
                        continue
                name = key[plen:]
                slash = name.find(b"/")
                if slash >= 0:
                    if hashed:  # hashed keys do not sort by full name: no jumping past them
                        continue
                    # a subdirectory: jump past it ("0" sorts right after "/")
                    ok = cur.set_range(prefix + name[:slash] + b"0")
                    break
                aid = known.get(name)
                if aid is None:
                    st = decode(val)
                    if st.present:
                        out.append((name, st.asset))
                else:
                    out.append((name, aid))
        return out

    def _scan_paths(self, txn: lmdb.Transaction, db: str, root: str | None, prefix: bytes
                    ) -> Iterator[tuple[bytes, bytes]]:
        """(full pk, value) of a pk-keyed database's entries under ``root`` + ``prefix``."""
        want = pk(root, prefix) if root is not None else b""
        start, check = scan_prefix(want)
        for key, val in prefix_items(txn, self.db[db], start):
            full = self.full_key(txn, key)
            if not check or full.startswith(want):
                yield full, val

    def path_states_under(self, txn: lmdb.Transaction, root: str, prefix: bytes = b""
                          ) -> Iterator[tuple[bytes, PathState]]:
        """(relative path, state) of one root's paths starting with ``prefix``: the hot loop
        of an unchanged rescan, so it avoids the per-key split of ``iter_paths`` and runs
        its own cursor loop (not ``scan.prefix_items``: one generator less per file)."""
        want = pk(root, prefix)
        start, check = scan_prefix(want)
        skip = len(root.encode()) + 1
        cur = txn.cursor(db=self.db["paths"])
        if not cur.set_range(start):
            return
        decode = _dec_path.get().decode
        for key, val in cur:
            if not key.startswith(start):
                break
            if len(key) > CUT:  # a hashed key: its full path is elsewhere
                key = self.full_key(txn, key)
                if check and not key.startswith(want):
                    continue
            yield key[skip:], decode(val)

    def present_states_under(self, txn: lmdb.Transaction, root: str, prefix: bytes = b""
                             ) -> PresentPaths:
        """One root's present paths starting with ``prefix``, with their states, packed
        (store/present_paths.py): what ``add`` compares its walk with, so the first thing
        an unchanged rescan pays for. Read PRESENT_BATCH entries at a time with C-level
        loops (the keys, then as many values, then every state decoded in one call), so
        that what is held beyond the packed result is one batch."""
        from mstore.store.present_paths import PresentPaths

        out = PresentPaths()
        want = pk(root, prefix)
        start, check = scan_prefix(want)
        end = _prefix_end(start)
        skip = len(root.encode()) + 1
        cur = txn.cursor(db=self._db_paths)
        if not cur.set_range(start):
            return out
        while True:
            at = bytes(cur.key())
            keys = list(islice(takewhile(end.__gt__, cur.iternext(values=False))
                               if end is not None else cur.iternext(values=False),
                               PRESENT_BATCH))
            if not keys:
                return out
            cur.set_key(at)
            vals = list(islice(cur.iternext(keys=False), len(keys)))
            last = bytes(keys[-1])
            if max(map(len, keys)) > CUT:  # hashed keys: their full paths are elsewhere
                pairs = [(full, v) for k, v in zip(keys, vals, strict=True)
                         if (full := self.full_key(txn, k)).startswith(want) or not check]
                keys, vals = [k for k, _ in pairs], [v for _, v in pairs]
            states = _dec_path_list.decode(b"\xdd" + struct.pack(">I", len(vals))
                                           + b"".join(vals))
            out.extend(list(map(itemgetter(slice(skip, None)), keys)), states)
            if not cur.set_range(last) or not cur.next():
                return out

    def iter_assets(self, txn: lmdb.Transaction) -> Iterator[AssetInfo]:
        for _, val in txn.cursor(db=self.db["assets"]):
            yield _dec_asset.decode(val)

    def iter_errors(self, txn: lmdb.Transaction, root: str | None = None, prefix: bytes = b""
                    ) -> Iterator[tuple[str, bytes, ErrorState]]:
        """Paths in error in key order; with ``root``, only that root's paths starting with
        ``prefix`` (a range scan: ``add PATH`` and the watcher do not read every error)."""
        for full, val in self._scan_paths(txn, "errors", root, prefix):
            r, p = split_pk(full)
            yield r, p, _dec_err.decode(val)

    def error_at(self, txn: lmdb.Transaction, root: str, path: bytes) -> ErrorState | None:
        raw = txn.get(bounded(pk(root, path)), db=self.db["errors"])
        return _dec_err.decode(raw) if raw is not None else None

    def asset_seen(self, txn: lmdb.Transaction, aid: str) -> bool:
        """Whether any path was ever recorded holding asset ``aid``."""
        for _ in prefix_keys(txn, self.db["asset_paths"], bytes.fromhex(aid)):
            return True
        return False

    def asset_path_keys(self, txn: lmdb.Transaction, aid: str) -> list[tuple[str, bytes]]:
        return [split_pk(self.full_key(txn, key[32:]))
                for key in prefix_keys(txn, self.db["asset_paths"], bytes.fromhex(aid))]

    def path_history(self, txn: lmdb.Transaction, root: str, path: bytes
                     ) -> list[tuple[int, str, HistoryEvent]]:
        """(hlc, machine, event) for one path, oldest first."""
        part = bounded(pk(root, path))
        out = []
        for key, val in prefix_items(txn, self.db["history"], keys.history_key(part)):
            stamp = keys.split_history_key(part, key)
            if stamp is not None:
                out.append((*stamp, _dec_hist.decode(val)))
        return out

    def counts(self, txn: lmdb.Transaction) -> dict[str, int]:
        return {name: txn.stat(self.db[name])["entries"] for name in DBS}

