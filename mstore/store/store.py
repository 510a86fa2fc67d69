"""The ``Store``: opens a store directory and hands out its parts.

Write path: ``RecordWriter`` buffers records, writes them as one segment
(durable), then applies that segment to the index. Objects are flushed before
the segment that may point at them, so a record never points at an object that
is not durable yet. A crash between segment and index loses nothing: opening
the store applies every segment the index has not seen (``catch_up``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec

from mstore.errors import (
    NoStoreError,
    ReadOnlyStoreError,
    StoreDamagedError,
    StoreLockedError,
    UsageError,
)
from mstore.model.codec import LazyDecoder
from mstore.model.records import Record, RunStarted
from mstore.store import config as config_mod
from mstore.store import identity
from mstore.store.hlc import HybridClock
from mstore.store.index import Index, IndexDamagedError
from mstore.store.layout import STORE_DIRNAME, Layout, private_local
from mstore.store.locks import WriteLock, hostname
from mstore.store.notices import warn
from mstore.store.objects import ObjectStore
from mstore.store.segments import (
    SegmentRef,
    load_segment,
    new_segments,
    next_seq,
    write_segment,
)
from mstore.store.storenames import is_lane

if TYPE_CHECKING:
    from mstore.store.changes import ChangeWatch
    from mstore.store.reader import Reader

_dec_units = LazyDecoder(list[str])

SEGMENT_MAX_RECORDS = 5000
SEGMENT_MAX_SECONDS = 2.0
# written records applied to the index in one transaction. A transaction holds a copy of
# every page it changes until it commits, and asset ids are random keys: at a million
# assets 50k records changed ~100k pages (400 MB) where 20k change about half as many,
# for the same add time (measured: docs/catalog.md "Scale")
APPLY_MAX_RECORDS = 20_000
RACY_NS = 2_000_000_000  # a directory changed this recently may change again unseen
CLI_LANE = "cli"  # the lane of commands that record a few facts (docs/format.md section 1)


class Store:
    def __init__(self, root: Path) -> None:
        self.layout = Layout(root)
        try:
            is_store = self.layout.config.exists() and self.layout.records.is_dir()
        except OSError as e:  # e.g. a name too long: no store there either
            raise NoStoreError(f"{root} is not an mstore store ({e.strerror})") from None
        if not is_store:
            raise NoStoreError(f"{root} is not an mstore store (run 'mstore init')")
        self.config = config_mod.load(self.layout.config)
        # a store this process cannot write (a read-only mount, another user's store) still
        # answers read commands: its cache goes to a private directory of this user's
        self.readonly = not _writable(self.layout)
        if self.readonly:
            self.layout = Layout(root, private_local(root))
        self.objects = ObjectStore(self.layout.objects, self.layout.tmp)
        self._index: Index | None = None
        self._machine: str | None = None

    @property
    def root(self) -> Path:
        return self.layout.root

    @property
    def machine_id(self) -> str:
        if self._machine is None:
            self._machine = self._machine_id()
        return self._machine

    @property
    def store_id(self) -> str:
        """The id every copy of this store shares (``[store] id``; store/identity.py)."""
        section = self.config.raw.setdefault("store", {})
        if not section.get("id"):
            section["id"] = self._record_store_id()
        return str(section["id"])

    def _record_store_id(self) -> str:
        """A store made before ids: derive one, and write it into config.toml once (under a
        lock, so two first commands at once agree)."""
        if self.readonly:
            return identity.derived_id(self.layout.records)
        import fcntl

        self.layout.locks.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.layout.locks / "config.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            again = config_mod.load(self.layout.config).raw.get("store", {}).get("id")
            if again:
                return str(again)
            sid = identity.derived_id(self.layout.records)
            identity.record_id(self.layout.config, sid)
            return sid
        finally:
            os.close(fd)

    def check_writable(self) -> None:
        if self.readonly:
            raise ReadOnlyStoreError(
                f"the store {self.root} is read-only here (a read-only file system, or "
                "another user's store); read commands work, this one needs to write")

    def _machine_id(self) -> str:
        """This copy's writer id. local/ is never synced, so each machine mints its own; the
        file also names the store path and host, so a copy that dragged local/ along (a
        naive rsync) mints a fresh id instead of writing into the original's records."""
        path = self.layout.machine_id
        here = f"{hostname()} {self.root}"
        try:
            mid, _, where = path.read_text().strip().partition(" ")
            if where == here or not where:
                return mid
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        mid = os.urandom(6).hex()  # what secrets.token_hex(6) gives
        tmp = path.with_suffix(f".{os.getpid()}")
        tmp.write_text(f"{mid} {here}\n")
        os.replace(tmp, path)
        return mid

    # -- creation and discovery ----------------------------------------------
    @classmethod
    def init(cls, root: Path, archive_roots: list[Path]) -> Store:
        root = root.absolute()
        layout = Layout(root)
        if layout.config.exists():
            raise UsageError(f"{root} is already a store")
        named: dict[str, Path] = {}
        for path in archive_roots:
            real = path.resolve()
            if not real.is_dir():
                raise UsageError(f"archive root {path} is not a directory")
            name = real.name or "root"
            base, i = name, 2
            while name in named:
                name, i = f"{base}-{i}", i + 1
            named[name] = real
        return cls.create(root, config_mod.render(named, identity.new_id()))

    @classmethod
    def create(cls, root: Path, config_text: str) -> Store:
        """Make the directories of an empty store with this ``config.toml`` (init, clone)."""
        layout = Layout(root)
        for d in (layout.objects / "packs", layout.records, layout.hooks, layout.local):
            d.mkdir(parents=True, exist_ok=True)
        layout.config.write_text(config_text)
        (layout.local / "README").write_text(
            "This machine only: index, locks, temp files. Never sync this directory;\n"
            "'mstore reindex' rebuilds it from objects/ and records/.\n"
        )
        return cls(root)

    @classmethod
    def discover(cls, explicit: Path | None = None, start: Path | None = None) -> Store:
        """``--store`` / $MSTORE_DIR, else the nearest ``.mstore`` upwards, like git."""
        if explicit is None and os.environ.get("MSTORE_DIR"):
            explicit = Path(os.environ["MSTORE_DIR"])
        if explicit is not None:
            return cls(explicit.absolute())
        here = (start or Path.cwd()).absolute()
        for d in (here, *here.parents):
            if (d / STORE_DIRNAME / "config.toml").exists():
                return cls(d / STORE_DIRNAME)
        raise NoStoreError("not inside an mstore store (no .mstore found); run 'mstore init' "
                           "or pass --store DIR")

    # -- the index --------------------------------------------------------------
    @property
    def index(self) -> Index:
        if self._index is None:
            try:
                self._index = Index(self.layout.index)
            except IndexDamagedError as e:  # a cache: rebuild it from the records
                import shutil

                warn(f"the local index is damaged ({e.message}); rebuilding it from the "
                     "records")
                shutil.rmtree(self.layout.index, ignore_errors=True)
                self._index = Index(self.layout.index)
            self.catch_up()
        return self._index

    def reader(self) -> AbstractContextManager[Reader]:
        """``with store.reader() as r:``: the index, brought up to date, for reading."""
        return self.index.reader()

    def run_units(self, rs: RunStarted) -> list[str] | None:
        """The asset ids a run was started over, in run order: the object its RunStarted
        names (runs/plan.py writes it). None while that object has not reached this copy
        (a run another copy started, whose objects ``mstore pull`` has not brought yet);
        StoreDamagedError when it is here and cannot be read."""
        try:
            return _dec_units.decode(self.objects.get(rs.units_object))
        except KeyError:
            return None
        except (OSError, msgspec.DecodeError) as e:
            raise StoreDamagedError(f"run {rs.run}: its unit list {rs.units_object[:12]} "
                                    f"cannot be read ({e}); run 'mstore fsck'") from None

    def watch_changes(self) -> ChangeWatch:
        """Start counting what this process's writer changes in the catalog (changes.py)."""
        from mstore.store.changes import ChangeWatch

        return ChangeWatch(self.index)

    def catch_up(self) -> int:
        """Apply every segment the index has not seen yet (after a crash or a sync).

        Every command runs this, so it must not cost O(segments): per lane directory the
        index keeps the directory's mtime and a watermark (every segment up to it is
        applied). A lane whose mtime is unchanged is skipped without listing it; a
        changed one is listed, and only names past the watermark are looked at. An mtime
        within RACY_NS of now is not trusted (a file renamed in during the same clock
        tick leaves it unchanged), as git treats racily-clean index entries.
        """
        idx = self._index if self._index is not None else self.index
        records = self.layout.records
        try:
            lanes = sorted((e.name, e.stat().st_mtime_ns) for e in os.scandir(records)
                           if e.is_dir() and is_lane(e.name))
        except FileNotFoundError:
            return 0
        now = time.time_ns()
        pending: list[SegmentRef] = []
        seen: dict[str, tuple[int, int]] = {}
        with idx.read() as txn:
            for lane, mtime in lanes:
                known_mtime, mark = idx.lane_seen(txn, lane)
                if mtime == known_mtime:
                    continue
                refs, new_mark = new_segments(records, lane, mark)
                pending += [r for r in refs if not idx.is_applied(txn, r.key)]
                seen[lane] = (mtime if now - mtime > RACY_NS else 0, new_mark)
        damaged: set[str] = set()
        for seg in pending:
            try:
                content = load_segment(seg.path)
            except StoreDamagedError as e:
                # not applied, so found again next time; fsck moves it aside
                warn(f"{e.message}; skipped (run 'mstore fsck')")
                damaged.add(seg.machine)
                continue
            idx.apply_segment(seg.key, seg.machine, content.records, content.positions,
                              content.rejected)
        seen = {lane: v for lane, v in seen.items() if lane not in damaged}
        if seen:
            idx.set_lanes_seen(seen)  # only once what they cover is applied
        return len(pending)

    def drop_index(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None
        import shutil  # here, not at the top: read commands start faster without it

        shutil.rmtree(self.layout.index, ignore_errors=True)

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    # -- writing ----------------------------------------------------------------
    def lock(self, name: str = "write") -> WriteLock:
        self.check_writable()
        return WriteLock(self.layout.locks / f"{name}.lock")

    def writer(self) -> RecordWriter:
        """The writer of the main lane (``records/<machine>/``); hold ``lock()`` first."""
        return RecordWriter(self)

    def write_records(self, records: list[Record], lane: str = CLI_LANE) -> None:
        """Append a few records (a command's: a run requested, a label, a collection)
        through this machine's command lane, so they never wait for ``add`` or ``watch``
        (a busy command lane is waited for). Their hlc is stamped here."""
        writer, lock = self.lane_writer(lane, wait=30.0)
        try:
            for rec in records:
                rec.hlc = writer.now()
                writer.append(rec)
            writer.flush()
        finally:
            lock.release()

    def lane_writer(self, lane: str, *, wait: float = 0.0) -> tuple[RecordWriter, WriteLock]:
        """A writer of its own lane, ``records/<machine>.<lane>/``, and the lock that makes it
        the lane's only writer. Processes that write beside the catalog (run workers, run
        commands) each take a lane, so they never wait for ``add`` or ``watch``.

        ``lane`` ending in ``*`` takes the first free numbered lane (``w*`` -> w1, w2, ...).
        """
        names = [lane[:-1] + str(i) for i in range(1, 65)] if lane.endswith("*") else [lane]
        deadline = time.monotonic() + wait
        while True:
            for name in names:
                lock = self.lock(f"lane-{name}")
                try:
                    lock.acquire()
                except StoreLockedError:
                    continue
                return RecordWriter(self, f"{self.machine_id}.{name}"), lock
            if time.monotonic() >= deadline:
                raise StoreLockedError(f"every writer lane '{lane}' of this store is busy")
            time.sleep(0.05)


def _writable(layout: Layout) -> bool:
    """Whether this process may write the store: its records, objects and local cache."""
    dirs = [d if d.exists() else layout.root for d in (layout.records, layout.objects,
                                                        layout.local)]
    return all(os.access(d, os.W_OK | os.X_OK) for d in dirs)


class RecordWriter:
    """Buffers records and writes them as segments; the caller holds the write lock.

    A segment is written (durably) every SEGMENT_MAX_RECORDS records or
    SEGMENT_MAX_SECONDS, and the written segments are applied to the index together,
    in one transaction, once APPLY_MAX_RECORDS records or SEGMENT_MAX_SECONDS are
    waiting: a commit costs a sync of the index and rewrites the pages on the paths to
    every key it touched, so a bulk add commits every fourth segment, not every one.
    ``flush`` writes and applies everything. A crash in between loses nothing: the
    next command applies the segments the index has not seen (``catch_up``).
    """

    def __init__(self, store: Store, writer_id: str | None = None) -> None:
        self.store = store
        self.writer_id = writer_id or store.machine_id
        idx = store.index
        with idx.read() as txn:
            last = idx.meta_int(txn, b"clock")
        self.clock = HybridClock(last)
        self.seq = next_seq(store.layout.records, self.writer_id)
        self._buf: list[Record] = []
        self._since = time.monotonic()
        self._unapplied: list[tuple[bytes, str, list[Record]]] = []  # written, not applied
        self._unapplied_records = 0
        self._applied_at = time.monotonic()

    def now(self) -> int:
        return self.clock.now()

    def stamps(self, n: int) -> int:
        """The first of ``n`` consecutive stamps, for records made together."""
        return self.clock.take(n)

    def append(self, rec: Record) -> None:
        self._buf.append(rec)
        self._check()

    def extend(self, recs: Iterable[Record]) -> None:
        self._buf.extend(recs)
        self._check()

    def _check(self) -> None:
        if (len(self._buf) >= SEGMENT_MAX_RECORDS
                or time.monotonic() - self._since >= SEGMENT_MAX_SECONDS):
            self._write()
            if (self._unapplied_records >= APPLY_MAX_RECORDS
                    or time.monotonic() - self._applied_at >= SEGMENT_MAX_SECONDS):
                self._apply()

    def flush(self) -> None:
        """Write the buffered records as a segment and apply every written segment."""
        self._write()
        self._apply()

    def _write(self) -> None:
        self._since = time.monotonic()
        if not self._buf:
            return
        st = self.store
        st.objects.flush()  # objects before the records that may name them
        seg = write_segment(st.layout.records, st.layout.tmp, self.writer_id, self.seq, self._buf)
        self.seq += 1
        self._unapplied.append((seg.key, seg.machine, self._buf))
        self._unapplied_records += len(self._buf)
        self._buf = []

    def _apply(self) -> None:
        self._applied_at = time.monotonic()
        if self._unapplied:
            batch, self._unapplied, self._unapplied_records = self._unapplied, [], 0
            self.store.index.apply_segments(batch)
