"""Build, cache and patch the catalog table and the status summary.

LSM-style: a *snapshot* (the table's columns and the stats, made by one full
pass over the index, ~2 s per 100k assets) plus a small *delta*. The index
records in its ``dirty`` database every asset id and error path that a record
touched, with the data_gen of the change (``Index._mark_dirty``). A reader takes
the snapshot minus the rows of the dirty assets/paths plus a delta table built
from the index for just those (and for the assets next to them, whose sidecar
and Live Photo flags, and the capture time and place a Google Takeout JSON or an XMP
sidecar lends them, may change), merged in output order (:class:`MergedTable`),
and adjusts the stats by the same rows. So after ``mstore add one-file`` or a
``watch`` batch the next ``find`` costs milliseconds more, not a rebuild.

A full rebuild happens on ``refresh(store, full=True)``, when the snapshot is
missing or of an older layout, or when the delta grows past ``delta_limit``
(2 % of the rows, at least 200 and at most 20k): then a reader pays it once and
the dirty entries the new snapshot holds are cleared. A delta that is slow to
compute is cached (``b"delta"``) for the readers that follow until the index
changes again; ``refresh`` (run by ``add`` and ``reindex``) always caches it.

Layout in the index's ``table`` database::

    b"head"       msgpack SnapshotHead: layout version, data_gen it holds, TableHead, stats
    b"cols"       the tag of the columns' keys (store/table_db.py)
    b"c<tag>/<name>"  one column each (CatalogTable.to_columns; err_keys: every error pk),
                  named b"c/<name>" here
    b"delta"      msgpack CachedDelta
"""

from __future__ import annotations

import time
from array import array
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterator
from functools import cached_property
from itertools import compress
from typing import TYPE_CHECKING, NamedTuple

import msgspec

from mstore.model.codec import LazyDecoder
from mstore.model.meta import SidecarFacts
from mstore.query.fresh import FreshRows
from mstore.query.related import (
    DirNames,
    is_json_name,
    is_sidecar,
    split_dir,
)
from mstore.query.rowfacts import lender_facts
from mstore.query.rowfacts import taken_int as taken_int  # used from here by the UI
from mstore.query.rows import (
    NAME_DATED,
    DirExtras,
    Row,
    asset_row,
    dir_extras,
    error_row,
    fresh_row,
    group_flags,
    row_order,
    stem_groups,
    table_from_rows,
)
from mstore.query.table import (
    F_MISSING,
    F_PROBE_ERROR,
    F_TAKEN,
    KIND_CODES,
    KIND_NAMES,
    NO_ID,
    CatalogTable,
    MergedTable,
    TableHead,
)
from mstore.query.table_merge import joined_names, merge_columns
from mstore.store.reader import AssetInfo, PathState, Reader
from mstore.store.table_db import (
    DIRTY_CAP,
    NeedsRoom,
    TableTxn,
    grow,
    split_pk,
    store_delta,
    store_table,
)

if TYPE_CHECKING:
    from mstore.store.store import Store

# bump when the snapshot's layout or derivation changes: old snapshots are then rebuilt
SNAPSHOT_VERSION = 10
DELTA_MIN, DELTA_MAX = 200, 20_000
assert DELTA_MAX < DIRTY_CAP  # past the cap the index stops listing changes
CACHE_SECONDS = 0.02  # a reader caches a delta that took longer than this to compute
ERROR_KIND = KIND_CODES["error"]


class Stats(msgspec.Struct):
    assets: int = 0
    bytes: int = 0
    by_kind: dict[str, int] = {}
    bytes_by_kind: dict[str, int] = {}
    missing: int = 0
    errors: int = 0  # paths in error plus assets whose probe failed
    paths: int = 0


class SnapshotHead(msgspec.Struct):
    version: int
    gen: int  # the index's data_gen the snapshot was built from
    table: TableHead
    stats: Stats


class CachedDelta(msgspec.Struct):
    base_gen: int  # SnapshotHead.gen of the snapshot it patches
    gen: int  # data_gen it was computed at
    removed: bytes  # array("I"): snapshot rows it replaces, sorted
    positions: bytes  # array("I"): per delta row, the snapshot row it goes before
    table: bytes  # CatalogTable.to_bytes of the delta rows
    stats: Stats  # the merged stats


def delta_limit(rows: int) -> int:
    """Dirty entries beyond which a full rebuild is cheaper than patching."""
    return min(DELTA_MAX, max(DELTA_MIN, rows // 50))


def _stats_add(stats: Stats, kind: int, size: int, flags: int, npaths: int, sign: int) -> None:
    """Add (sign 1) or take away (-1) one asset row's share of the stats."""
    name = KIND_NAMES[kind]
    stats.assets += sign
    stats.bytes += sign * size
    stats.by_kind[name] = stats.by_kind.get(name, 0) + sign
    stats.bytes_by_kind[name] = stats.bytes_by_kind.get(name, 0) + sign * size
    stats.missing += sign * bool(flags & F_MISSING)
    stats.errors += sign * bool(flags & F_PROBE_ERROR)
    stats.paths += 0 if flags & F_MISSING else sign * npaths


def _stats_plus(stats: Stats, more: Stats) -> None:
    """Add ``more`` (the stats of other rows) to ``stats``."""
    stats.assets += more.assets
    stats.bytes += more.bytes
    for name, n in more.by_kind.items():
        stats.by_kind[name] = stats.by_kind.get(name, 0) + n
    for name, n in more.bytes_by_kind.items():
        stats.bytes_by_kind[name] = stats.bytes_by_kind.get(name, 0) + n
    stats.missing += more.missing
    stats.errors += more.errors
    stats.paths += more.paths


def _tidy(stats: Stats) -> Stats:
    """Kinds in a fixed order and without zero counts, however the stats were summed."""
    kinds = [k for k in KIND_CODES if stats.by_kind.get(k)]
    stats.by_kind = {k: stats.by_kind[k] for k in kinds}
    stats.bytes_by_kind = {k: stats.bytes_by_kind[k] for k in kinds}
    return stats


def _table_stats(t: CatalogTable, path_errors: int) -> Stats:
    """The stats of a whole table in a few C-level passes (what _stats_add sums per row)."""
    stats = Stats(by_kind={}, bytes_by_kind={})
    kinds, sizes, flags = t.kinds, t.sizes, t.flags
    for code, name in KIND_NAMES.items():
        count = kinds.count(code) if code != ERROR_KIND else 0
        if count:
            mask = kinds.translate(bytes(int(c == code) for c in range(256)))
            stats.by_kind[name] = count
            stats.bytes_by_kind[name] = sum(compress(sizes, mask))
    stats.assets = sum(stats.by_kind.values())
    stats.bytes = sum(stats.bytes_by_kind.values())
    stats.missing = sum(map(F_MISSING.__and__, flags)) // F_MISSING
    stats.errors = sum(map(F_PROBE_ERROR.__and__, flags)) // F_PROBE_ERROR + path_errors
    # a missing asset's row and an error-only row each show one path that is not current
    stats.paths = t.npaths - stats.missing - kinds.count(ERROR_KIND)
    return _tidy(stats)


# -- full build --------------------------------------------------------------------


def _gather(r: Reader) -> tuple[list[Row], list[bytes]]:
    """Every row in output order, and the key (pk) of every path error."""
    current: dict[str, list[bytes]] = defaultdict(list)
    last_known: dict[str, bytes] = {}
    # present paths by (root, directory): sidecars, Live Photo halves, Takeout JSONs
    dirs: dict[tuple[bytes, bytes], list[tuple[bytes, str]]] = defaultdict(list)
    for root, path, st in r.paths():
        rb = root.encode()
        full = rb + b"/" + path
        if st.present:
            current[st.asset].append(full)
            d, name = split_dir(path)
            dirs[(rb, d)].append((name, st.asset))
        else:
            last_known.setdefault(st.asset, full)
    errors: dict[bytes, str] = {}
    err_keys: list[bytes] = []
    for root, path, err in r.errors():
        errors[root.encode() + b"/" + path] = err.reason
        err_keys.append(root.encode() + b"\0" + path)
    assets = list(r.assets())
    for a in assets:  # a missing asset is shown at the last path it was seen at
        if a.id not in current and a.id not in last_known:
            keys = r.asset_paths(a.id)
            if keys:
                last_known[a.id] = keys[-1][0].encode() + b"/" + keys[-1][1]

    kind_of = {a.id: a.meta.kind for a in assets}.get
    lender_of = {a.id: f for a in assets if (f := lender_facts(a.meta)) is not None}.get
    extra: dict[str, int] = defaultdict(int)
    # an asset borrows from the sidecar of the first of its paths that has one, in key order
    lent: dict[str, tuple[tuple[bytes, bytes], SidecarFacts]] = {}
    for (rb, d), members in dirs.items():
        ex = dir_extras(members, kind_of, lender_of)
        for aid, fl in ex.flags.items():
            extra[aid] |= fl
        if ex.lent:
            asset_of = dict(members)
            for name, facts in ex.lent.items():
                where = (rb, d + b"/" + name if d else name)
                aid = asset_of[name]
                if aid not in lent or where < lent[aid][0]:
                    lent[aid] = (where, facts)
    error_of = errors.get if errors else None
    rows = [asset_row(a, current.get(a.id, ()), last_known.get(a.id, b""), extra.get(a.id, 0),
                       error_of, lent[a.id][1] if a.id in lent else None) for a in assets]
    present = {p for ps in current.values() for p in ps}
    rows.extend(error_row(p, reason) for p, reason in errors.items() if p not in present)
    rows.sort(key=row_order)
    return rows, err_keys


def build(store: Store) -> tuple[CatalogTable, Stats]:
    """The whole table and stats from the index, in memory (nothing is cached)."""
    with store.reader() as r:
        rows, err_keys = _gather(r)
    table = table_from_rows(rows)
    return table, _table_stats(table, len(err_keys))


_head_dec = LazyDecoder(SnapshotHead)
_delta_dec = LazyDecoder(CachedDelta)
_path_dec = LazyDecoder(PathState)
rebuilds = 0  # full rebuilds made by this process (tests check that a delta avoided one)
column_merges = 0  # merges of an add's new rows done column by column (query/table_merge.py)


def _decode_head(raw: memoryview | bytes | None) -> SnapshotHead | None:
    if raw is None:
        return None
    try:
        head = _head_dec.decode(raw)
    except msgspec.DecodeError:  # an older layout
        return None
    return head if head.version == SNAPSHOT_VERSION else None


def _rebuild(store: Store) -> None:
    """Build the snapshot and store it, clearing the dirty entries it holds."""
    global rebuilds
    rebuilds += 1
    with store.reader() as r:
        gen = r.data_gen()
        rows, err_keys = _gather(r)
    _store_table(store, table_from_rows(rows), err_keys, gen)


def _store_table(store: Store, table: CatalogTable, err_keys: list[bytes], gen: int) -> None:
    """Store ``table`` as the snapshot of data_gen ``gen`` (unless a newer one is there),
    clearing the dirty entries it holds."""
    cols, thead = table.to_columns()
    _store_columns(store, lambda: iter(cols.items()), thead,
                   _table_stats(table, len(err_keys)), err_keys, gen)


def _store_columns(store: Store, columns: Callable[[], Iterator[tuple[str, bytes]]],
                   thead: TableHead, stats: Stats, err_keys: list[bytes], gen: int,
                   views_held: bool = False) -> None:
    """Store the columns ``columns()`` makes (called again if the write is retried) and
    the head as the snapshot of data_gen ``gen``; ``views_held``: see table_db.store_table."""
    head = msgspec.msgpack.encode(SnapshotHead(SNAPSHOT_VERSION, gen, thead, stats))

    def entries() -> Iterator[tuple[bytes, bytes]]:
        for name, raw in columns():
            yield b"c/" + name.encode(), raw
            del raw  # not held while the next column is made
        yield b"c/err_keys", msgspec.msgpack.encode(err_keys)
        yield b"head", head

    def newer_there(raw: memoryview | None) -> bool:  # another process stored a newer one
        cur = _decode_head(raw)
        return cur is not None and cur.gen > gen

    store_table(store, entries, gen, str(gen * 1000 + SNAPSHOT_VERSION).encode(), newer_there,
                views_held=views_held)


# -- reading: the snapshot, patched by a delta -------------------------------------


class _Source:
    """Columns of the stored snapshot, read from one read transaction.

    The transaction (``buffers=True``: values are views of the map, so a column
    is copied or decoded straight from it, and an unused one is never touched)
    stays open as long as a table uses it: every column then comes from the
    same consistent state. A view is used only until the next ``get``: growing
    the map in this process would leave a kept view dangling. Only while
    ``pinned`` (computing a delta, which writes nothing) are views kept, since a
    ``get`` of a multi-megabyte value costs microseconds, and a delta does
    thousands of them.
    """

    def __init__(self, tt: TableTxn) -> None:
        self.tt = tt
        self.pinned: dict[str, memoryview | None] | None = None

    def get(self, name: str) -> memoryview | None:
        if self.pinned is None:
            return self.tt.get(b"c/" + name.encode())
        if name not in self.pinned:
            self.pinned[name] = self.tt.get(b"c/" + name.encode())
        return self.pinned[name]


class _Delta(NamedTuple):
    table: CatalogTable  # the delta rows, in output order
    removed: array  # snapshot rows they replace, sorted
    positions: array  # per delta row, the snapshot row it goes before
    stats: Stats | None  # the merged stats, when computed


class _Siblings:
    """Present paths by (root, directory), read from the index a directory at a time,
    with what they lend each other (sidecar/live flags, Takeout and XMP facts)."""

    def __init__(self, tt: TableTxn, kind_of: Callable[[str], str | None],
                 lender_of: Callable[[str], SidecarFacts | None]) -> None:
        self.tt = tt
        self.kind_of, self.lender_of = kind_of, lender_of
        self.dirs: dict[tuple[str, bytes], list[tuple[bytes, str]]] = {}
        self._extras: dict[tuple[str, bytes], DirExtras] = {}
        self._indexed: dict[tuple[str, bytes], tuple[DirNames, dict[bytes, str],
                                                     dict[bytes, list[bytes]]]] = {}

    def members(self, root: str, d: bytes, known: dict[bytes, str] | None = None
                ) -> list[tuple[bytes, str]]:
        """(name, asset) of the present paths in ``d``; ``known`` names (present, with
        these assets: an add's new files) are taken without decoding their state."""
        got = self.dirs.get((root, d))
        if got is None:
            got = self.dirs[(root, d)] = self._scan(root, d, known or {})
        return got

    def extras(self, root: str, path: bytes) -> DirExtras:
        return self.extras_in(root, split_dir(path)[0])

    def extras_in(self, root: str, d: bytes) -> DirExtras:
        ex = self._extras.get((root, d))
        if ex is None:
            ex = self._extras[(root, d)] = dir_extras(self.members(root, d), self.kind_of,
                                                      self.lender_of)
        return ex

    def related(self, root: str, path: bytes) -> list[str]:
        """Assets whose row may change with ``path``: those of its stem group and of the
        Takeout JSON / media files paired with it, itself included."""
        d, name = split_dir(path)
        names, asset_of, paired_with = self._names(root, d)
        out = [asset_of[n] for n in names.stem_group(name)]
        pairs = self.extras(root, path).takeout
        partners = {pairs.get(name), *paired_with.get(name, ())}
        # by name, whether or not they pair now (either side may just have gone or changed)
        partners.update(names.takeout_partners(name))
        out += [asset_of[n] for n in partners if n in asset_of]
        return out

    def _names(self, root: str, d: bytes
               ) -> tuple[DirNames, dict[bytes, str], dict[bytes, list[bytes]]]:
        """A directory's names indexed (``DirNames``), each name's asset, and each
        Takeout JSON's media files as they pair now: made once per directory."""
        got = self._indexed.get((root, d))
        if got is None:
            members = self.members(root, d)
            paired_with: dict[bytes, list[bytes]] = {}
            for media, json in self.extras_in(root, d).takeout.items():
                paired_with.setdefault(json, []).append(media)
            got = self._indexed[(root, d)] = (DirNames(n for n, _ in members), dict(members),
                                              paired_with)
        return got

    def _scan(self, root: str, d: bytes, known: dict[bytes, str]) -> list[tuple[bytes, str]]:
        return self.tt.present_in_dir(root, d, known, _path_dec.get().decode)


class _Snapshot:
    """What one read transaction sees: the stored snapshot and the changes since."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.tt = TableTxn(store)
        self.data_gen = self.tt.meta_int(b"data_gen")
        self.head = _decode_head(self.tt.get(b"head"))
        self.dirty: list[bytes] = []
        self.stale = self.head is None
        if self.head is not None:
            over = self.tt.meta_int(b"dirty_over")
            if over > self.head.gen or self.tt.dirty_count() > delta_limit(self.head.table.n):
                self.stale = True
            else:
                self.dirty = [k for k, g in self.tt.dirty() if g > self.head.gen]
        self.src = _Source(self.tt)

    def close(self) -> None:
        self.tt.close()

    @cached_property
    def base(self) -> CatalogTable:
        assert self.head is not None
        return CatalogTable.stored(self.src, self.head.table)

    def table(self) -> CatalogTable | MergedTable:
        base = self.base
        if not self.dirty:
            return base
        d = self.delta(stats=False, cache=False)
        return MergedTable(base, d.table, _segments(base.n, d.removed, d.positions))

    def stats(self) -> Stats:
        assert self.head is not None
        if not self.dirty:
            return self.head.stats
        stats = self.delta(stats=True, cache=False).stats
        assert stats is not None
        return stats

    def delta(self, stats: bool, cache: bool) -> _Delta:
        """The delta over this snapshot: cached, or computed (and cached when slow or
        when ``cache``)."""
        assert self.head is not None
        raw = self.tt.get(b"delta")
        if raw is not None:
            c = _delta_dec.decode(raw)
            if c.base_gen == self.head.gen and c.gen == self.data_gen:
                return _Delta(CatalogTable.from_bytes(c.table), _arr(c.removed),
                              _arr(c.positions), c.stats)
        start = time.perf_counter()
        self.src.pinned = {}
        try:
            d = _compute_delta(self.tt, self.base, self.dirty)
        finally:
            self.src.pinned = None
        if stats or cache or time.perf_counter() - start > CACHE_SECONDS:
            d = d._replace(stats=self._merged_stats(d))
        if cache or time.perf_counter() - start > CACHE_SECONDS:
            self._store(d)
        return d

    def _merged_stats(self, d: _Delta) -> Stats:
        """The snapshot's stats minus the replaced rows plus the delta rows."""
        assert self.head is not None
        s = self.head.stats
        stats = Stats(s.assets, s.bytes, dict(s.by_kind), dict(s.bytes_by_kind), s.missing,
                      s.errors, s.paths)
        base = self.base
        kinds, sizes, flags = base.kinds, base.sizes, base.flags
        for r in d.removed:
            if kinds[r] != ERROR_KIND:
                npaths = base.first_path(r + 1) - base.first_path(r)
                _stats_add(stats, kinds[r], sizes[r], flags[r], npaths, -1)
        # the delta's rows in a few C-level passes (a bulk add's are most of the table)
        _stats_plus(stats, _table_stats(d.table, 0))
        # path errors are counted by key, whether or not they have a row of their own
        err_keys = [k[1:] for k in self.dirty if k[:1] == b"e"]
        if err_keys:
            old = set(msgspec.msgpack.decode(bytes(self.src.get("err_keys") or b"\x90")))
            for key in err_keys:
                root, path = split_pk(key)
                now = self.tt.reader.error_at(root, path) is not None
                stats.errors += now - (key in old)
        return _tidy(stats)

    def _store(self, d: _Delta) -> None:
        """Cache the delta for the readers that follow (best effort: it is only a cache)."""
        assert self.head is not None and d.stats is not None
        blob = msgspec.msgpack.encode(CachedDelta(
            self.head.gen, self.data_gen, d.removed.tobytes(), d.positions.tobytes(),
            d.table.to_bytes(), d.stats))
        base_gen = self.head.gen

        def still_current(raw: memoryview | None) -> bool:
            cur = _decode_head(raw)
            return cur is not None and cur.gen == base_gen

        store_delta(self.store, blob, still_current)


def _arr(raw: bytes) -> array:
    a = array("I")
    a.frombytes(raw)
    return a


def _compute_delta(tt: TableTxn, base: CatalogTable,
                   dirty: list[bytes], fresh: FreshRows | None = None,
                   fresh_in_base: bool = True) -> _Delta:
    """The rows of the dirty assets and error paths as they are now, and the snapshot
    rows they replace.

    Besides the dirty assets themselves: every asset ever seen at a dirty error
    path (its row may show that error), and every asset in a sidecar/Live Photo
    group (same directory and stem) of any path a dirty asset was ever seen at,
    since a sibling appearing or leaving changes their flags.

    The rows of ``fresh`` assets (new in an add, see query/fresh.py) are made from
    their facts (``_fresh_rows``); ``fresh_in_base``: the snapshot may already hold
    some of them (it was built during that add).
    """
    r = tt.reader
    assets: set[str] = set()
    err_keys: list[bytes] = []
    for key in dirty:
        if key[:1] == b"a":
            assets.add(key[1:].hex())
        else:
            err_keys.append(key[1:])
    for key in err_keys:
        root, path = split_pk(key)
        st = r.path_state(root, path)
        if st is not None:
            assets.add(st.asset)
        assets.update(ev.asset for _, _, ev in r.history(root, path) if ev.asset)
    infos: dict[str, AssetInfo | None] = {}

    def info(aid: str) -> AssetInfo | None:
        if aid not in infos:
            infos[aid] = r.asset(aid)
        return infos[aid]

    fresh_assets = fresh.assets if fresh is not None else {}

    def kind_of(aid: str) -> str | None:
        f = fresh_assets.get(aid)
        if f is not None:  # the kind of a fresh asset is known without decoding its record
            return KIND_NAMES[f[1].kind]
        a = info(aid)
        return a.meta.kind if a is not None else None

    def lender_of(aid: str) -> SidecarFacts | None:
        a = info(aid)
        return lender_facts(a.meta) if a is not None else None

    hinted: dict[str, Row] = {}
    sib = _Siblings(tt, kind_of, lender_of)
    if fresh is not None:
        hinted, neighbours = _fresh_rows(fresh, assets, sib)
        assets = (assets - hinted.keys()) | neighbours
    keys_of = {aid: r.asset_paths(aid) for aid in assets}
    affected = set(assets)
    for keys in keys_of.values():
        for root, path in keys:
            affected.update(sib.related(root, path))
    for aid in affected & hinted.keys():  # its row is made from the index after all
        del hinted[aid]

    rows: list[Row] = list(hinted.values())
    for aid in affected:
        a = info(aid)
        if a is None:
            continue
        keys = keys_of.get(aid)
        if keys is None:
            keys = r.asset_paths(aid)
        current: list[bytes] = []
        last: bytes | None = None
        errs: dict[bytes, str] = {}
        extra = 0
        lent: SidecarFacts | None = None
        for root, path in keys:
            st = r.path_state(root, path)
            if st is None or st.asset != aid:
                continue
            full = root.encode() + b"/" + path
            if st.present:
                current.append(full)
                ex = sib.extras(root, path)
                extra |= ex.flags.get(aid, 0)
                lent = lent or ex.lent.get(split_dir(path)[1])
            elif last is None:
                last = full
            else:
                continue
            e = r.error_at(root, path)
            if e is not None:
                errs[full] = e.reason
        if not current and last is None and keys:
            root, path = keys[-1]
            last = root.encode() + b"/" + path
            e = r.error_at(root, path)
            if e is not None:
                errs[last] = e.reason
        rows.append(asset_row(a, current, last or b"", extra, errs.get, lent))
    for key in err_keys:
        root, path = split_pk(key)
        e = r.error_at(root, path)
        st = r.path_state(root, path)
        if e is not None and (st is None or not st.present):
            rows.append(error_row(root.encode() + b"/" + path, e.reason))
    rows.sort(key=row_order)
    if not base.n:
        return _Delta(table_from_rows(rows), array("I"), array("I", bytes(4 * len(rows))),
                      None)

    def row_key(r: int) -> tuple[bytes, bytes]:
        return base.paths[base.first_path(r)], base.id_bytes(r)

    removed: set[int] = set()
    for aid in (affected | hinted.keys()) if fresh_in_base else affected:
        r = base.row_of_id(bytes.fromhex(aid))
        if r >= 0:
            removed.add(r)
    everything = range(base.n)
    for key in err_keys:
        root, path = split_pk(key)
        want = (root.encode() + b"/" + path, NO_ID)
        r = bisect_left(everything, want, key=row_key)
        if r < base.n and row_key(r) == want:
            removed.add(r)
    return _Delta(table_from_rows(rows), array("I", sorted(removed)),
                  _positions(base, rows, row_key), None)


def _positions(base: CatalogTable, rows: list[Row],
               row_key: Callable[[int], tuple[bytes, bytes]]) -> array:
    """Per delta row (in output order), the snapshot row it goes before.

    A few rows are placed by bisecting the snapshot; many (a bulk add) in one pass over
    the snapshot's primary paths, which costs less than that many bisections."""
    n = base.n
    if len(rows) * 100 < n:
        everything = range(n)
        return array("I", (bisect_left(everything, row_order(row), key=row_key)
                           for row in rows))
    if base.paths_are_rows():
        firsts = list(base.paths)
    else:
        rows_of = base.path_rows
        firsts = [p for j, p in enumerate(base.paths) if j == 0 or rows_of[j] != rows_of[j - 1]]
    out = array("I")
    r = 0
    for row in rows:  # rows are sorted: r only moves forward
        key = row.key
        while r < n and (firsts[r] < key or (firsts[r] == key and base.id_bytes(r) < row.id)):
            r += 1
        out.append(r)
    return out


def _fresh_rows(fresh: FreshRows, dirty_assets: set[str], sib: _Siblings
                ) -> tuple[dict[str, Row], set[str]]:
    """The rows of the fresh assets among ``dirty_assets``, from their facts, and the
    other assets whose rows a fresh one changes (the rest of its sidecar or Live Photo
    group: their flags).

    A directory with a sidecar that lends facts in it (a Takeout JSON, an XMP file with a
    capture time or place) is left to the generic path (what it lends depends on its
    facts, which only its record has), with the fresh assets that have a path there. A
    fresh asset's paths are exactly the ones its add saw (no other path ever held it, and
    nothing else changed the catalog meanwhile: see FreshRows.valid), all present and
    without an error (its sighting cleared any). The files of a directory are read from
    the index, except in a tree that held nothing when the add began: then they are the
    ones the add saw.
    """
    assets = fresh.assets
    by_dir: dict[tuple[str, bytes], dict[bytes, str]] = defaultdict(dict)
    for (root, path), aid in fresh.at.items():
        if aid in dirty_assets:
            d, _, name = path.rpartition(b"/")
            by_dir[(root, d)][name] = aid
    others: dict[tuple[str, bytes], list[tuple[bytes, str]]] = defaultdict(list)
    for (root, path), aid in fresh.others.items():
        d, _, name = path.rpartition(b"/")
        others[(root, d)].append((name, aid))
    generic: set[str] = set()
    neighbours: set[str] = set()
    extra: dict[str, int] = defaultdict(int)
    for (root, d), new in by_dir.items():
        if fresh.dir_is_new(root, d):
            known = others.get((root, d), [])
            members = [*new.items(), *known]
        else:
            members = sib.members(root, d, new)
            known = [m for m in members if m[1] not in assets]
        # a lending sidecar here: among the fresh assets (their facts say so) or the others
        if (root, d) in fresh.lender_dirs or any(
                (is_json_name(name) or is_sidecar(name)) and sib.lender_of(aid) is not None
                for name, aid in known):
            generic.update(new.values())
            continue
        for group in stem_groups(members):
            if not any(name in new for name, _ in group):
                continue
            neighbours.update(aid for name, aid in group if name not in new)
            for aid, fl in group_flags(group, sib.kind_of).items():
                extra[aid] |= fl
    rows: dict[str, Row] = {}
    prefixes = {root: root.encode() + b"/" for root, _ in by_dir}
    fromhex, flags_of, new_row = bytes.fromhex, extra.get, tuple.__new__
    for aid, (size, facts, places) in assets.items():
        if aid in dirty_assets and aid not in generic:
            if len(places) == 1 and (facts.flags & F_TAKEN or facts.kind not in NAME_DATED):
                # fresh_row for one path that needs no date from its name, inline: once
                # per new file
                root, path = places[0]
                full = prefixes[root] + path
                rows[aid] = new_row(Row, (
                    full, fromhex(aid), [full], facts.kind, size, facts.taken,
                    facts.flags | flags_of(aid, 0), facts.camera, facts.error, facts.lat,
                    facts.lon))
            else:
                rows[aid] = fresh_row(fromhex(aid), size, facts,
                                      [prefixes[root] + path for root, path in places],
                                      flags_of(aid, 0))
    return rows, neighbours - rows.keys()


def _segments(n: int, removed: array, positions: array) -> list[tuple[int, int, int]]:
    """(part, start, stop) row ranges in output order: the snapshot's rows (part 0)
    without ``removed``, with delta row ``k`` (part 1) before snapshot row
    ``positions[k]``."""
    kept: list[tuple[int, int]] = []
    prev = 0
    for r in removed:
        if r > prev:
            kept.append((prev, r))
        prev = r + 1
    if prev < n:
        kept.append((prev, n))
    out: list[tuple[int, int, int]] = []
    di, nd = 0, len(positions)
    for a, b in kept:
        start = a
        while di < nd and positions[di] < b:
            p = max(positions[di], start)
            if p > start:
                out.append((0, start, p))
                start = p
            dj = di
            while dj < nd and positions[dj] <= start:
                dj += 1
            out.append((1, di, dj))
            di = dj
        if start < b:
            out.append((0, start, b))
    if di < nd:
        out.append((1, di, nd))
    return out


def _open(store: Store) -> _Snapshot | None:
    """A current snapshot (rebuilt first if needed), or None if writers kept outpacing it."""
    for _ in range(3):
        snap = _Snapshot(store)
        if not snap.stale:
            return snap
        snap.close()
        _rebuild(store)
    return None


def refresh(store: Store, full: bool = False, fresh: FreshRows | None = None) -> None:
    """Bring the cached snapshot up to date after a writer: rebuild it when asked, when
    there is none or when the delta grew too large, else cache the delta.

    With the ``fresh`` assets of an add (query/fresh.py), a large delta is merged into
    the snapshot instead of rebuilding it, with their rows made from their facts.
    """
    if full:
        _rebuild(store)
        return
    if fresh is not None:
        try:
            if _refresh_with(store, fresh):
                return
        finally:
            fresh.close()
    snap = _open(store)
    if snap is None:
        return
    try:
        if snap.dirty:
            snap.delta(stats=True, cache=True)
    finally:
        snap.close()


def _refresh_with(store: Store, fresh: FreshRows) -> bool:
    """``refresh`` after an add that collected its fresh assets; False when they cannot
    be used (no snapshot, or another process changed the catalog meanwhile)."""
    snap = _Snapshot(store)
    tt = snap.tt
    full = False  # the map filled up while the snapshot's views were held
    try:
        head = snap.head
        if head is None or not fresh.valid(snap.data_gen):
            return False
        over = tt.meta_int(b"dirty_over")
        if head.gen < over <= fresh.start_gen:
            return False  # changes from before the add that the index did not list
        # every change since the snapshot: those listed, and this add's own, listed or
        # not (past DIRTY_CAP the index stops listing them)
        dirty = {k for k, g in tt.dirty() if g > head.gen}
        for key in fresh.touched():
            dirty.add(b"e" + tt.full_key(key[1:]) if key[:1] == b"e" else key)
        if not dirty:
            return True
        snap.dirty = sorted(dirty)
        base = snap.base
        snap.src.pinned = {}
        d = _compute_delta(tt, base, snap.dirty, fresh,
                           fresh_in_base=head.gen > fresh.start_gen)
        if over <= head.gen and len(dirty) <= delta_limit(base.n):
            snap._store(d._replace(stats=snap._merged_stats(d)))
            return True
        old = msgspec.msgpack.decode(bytes(snap.src.get("err_keys") or b"\x90"))
        segments = _segments(base.n, d.removed, d.positions)
        err_keys = set(old)
        for key in snap.dirty:
            if key[:1] == b"e":
                root, path = split_pk(key[1:])
                if tt.reader.error_at(root, path) is None:
                    err_keys.discard(key[1:])
                else:
                    err_keys.add(key[1:])
        merged = merge_columns(snap.src, head.table, d.table, segments)
        if merged is not None:
            # stored column by column while the snapshot it reads from is still open
            global column_merges
            column_merges += 1
            try:
                _store_columns(store, merged.columns, merged.head, snap._merged_stats(d),
                               sorted(err_keys), snap.data_gen, views_held=True)
                return True
            except NeedsRoom:
                full = True
        else:
            table = _merge(base, d)  # paths that are not ASCII: through Python objects
    finally:
        snap.src.pinned = None
        snap.close()
    if full:  # grown with no transaction open, then the merge again
        grow(store)
        return _refresh_with(store, fresh)
    _store_table(store, table, sorted(err_keys), snap.data_gen)
    return True


def _merge(base: CatalogTable, d: _Delta) -> CatalogTable:
    """The snapshot without the rows the delta replaces, with the delta's rows, as one
    table: column slices joined in output order (no per-row work for the rows kept)."""
    delta = d.table
    if len(d.removed) == base.n:  # nothing of the snapshot stays (the first add)
        return delta
    cameras, cam_at = joined_names(base.cameras, delta.cameras)
    delta_cam = [cam_at[c] for c in delta.cameras]
    base_paths = list(base.paths)
    base_err_names, base_err_codes = base.error_codes()
    ids: list[bytes] = []
    kinds: list[bytes] = []
    sizes, taken = array("q"), array("q")
    lat, lon = array("d"), array("d")
    flags, camera, path_rows = array("I"), array("I"), array("I")
    paths: list[bytes] = []
    errors: list[str] = []
    row = 0
    for part, a, b in _segments(base.n, d.removed, d.positions):
        t = delta if part else base
        ids.append(t.ids[32 * a:32 * b])
        kinds.append(bytes(t.kinds[a:b]))
        sizes.extend(t.sizes[a:b])
        taken.extend(t.taken[a:b])
        lat.extend(t.lat[a:b])
        lon.extend(t.lon[a:b])
        flags.extend(t.flags[a:b])
        pa, pb = t.first_path(a), t.first_path(b)
        path_rows.extend(map((row - a).__add__, t.path_rows[pa:pb]))
        if part:
            camera.extend(map(delta_cam.__getitem__, delta.camera[a:b]))
            paths.extend(delta.paths[pa:pb])
            errors.extend(delta.errors[a:b])
        else:
            camera.extend(base.camera[a:b])
            paths.extend(base_paths[pa:pb])
            errors.extend(map(base_err_names.__getitem__, base_err_codes[a:b]))
        row += b - a
    return CatalogTable(b"".join(ids), b"".join(kinds), sizes, taken, flags, camera, cameras,
                        paths, path_rows, errors, lat, lon)


def load_table(store: Store) -> CatalogTable | MergedTable:
    """The catalog table as of now: the snapshot, patched by the delta if the index changed.

    The returned table reads its columns from an open read transaction, which ends
    when the table is garbage-collected.
    """
    snap = _open(store)
    if snap is None:
        return build(store)[0]
    return snap.table()


def load_stats(store: Store) -> Stats:
    snap = _open(store)
    if snap is None:
        return build(store)[1]
    try:
        return snap.stats()
    finally:
        snap.close()
