"""The catalog snapshot and its delta: a patched snapshot answers exactly like a rebuild."""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from mstore.model.meta import Meta, SidecarFacts
from mstore.model.records import AssetRecorded, PathError, PathGone, PathSeen
from mstore.query import snapshot
from mstore.query.evaluate import evaluate
from mstore.query.snapshot import build, load_stats, load_table, refresh
from mstore.query.table import KIND_NAMES, NO_ID, CatalogTable, MergedTable
from mstore.query.terms import TermContext
from mstore.store.store import RecordWriter, Store

QUERIES = [
    "",
    "kind:image",
    "-kind:image",
    "has:sidecar",
    "has:live",
    "missing:",
    "error:",
    "error:unreadable",
    "has:error",
    "ext:jpg",
    "ext:mov OR ext:xmp",
    "path:d1/*",
    "path:*.jpg",
    "path:?1/*",
    "img_1",
    "path:d2/",
    "camera:canon size:>100",
    "taken:2020",
    "has:gps -missing:",
    "has:taken",
    "taken:2021",
    "id:a",
    "taken:2022-01-02",
    "taken:2023",
    "taken:2019-05-12",
]
ROOTS = ("a", "b")
DIRS = (b"", b"d1", b"d1/sub", b"d2", b"D1")
NAMES = (b"IMG_1.JPG", b"IMG_1.MOV", b"IMG_1.xmp", b"img_1.jpg.XMP", b"IMG_2.heic",
         b"IMG_2.mp4", b"IMG_2.aae", b"notes.txt", b"IMG_10.JPG", b"z.bin",
         # Google Takeout sidecars, in their naming variants
         b"IMG_1.JPG.json", b"IMG_2.json", b"IMG_2.heic.supplemental-metad.json",
         b"IMG_1(1).JPG", b"IMG_1.JPG(1).json", b"IMG_1-edited.JPG",
         # names that give a capture time (query/namedate.py)
         b"IMG-20220102-WA0001.jpg", b"VID_20230405_060708.mp4",
         b"Screenshot 2019-05-12 at 1.45.01 PM.png")
KINDS = ("image", "video", "text", "other", "image")


def rows_of(t: CatalogTable | MergedTable) -> list[tuple]:
    """Everything a reader can see, row by row."""
    return [
        (t.row_id(i), KIND_NAMES[t.kinds[i]], t.sizes[i], t.taken[i], t.flags[i],
         t.cameras[t.camera[i]], t.errors[i], t.row_paths(i), _place(t.lat[i], t.lon[i]))
        for i in range(t.n)
    ]


def _place(lat: float, lon: float) -> tuple[float, float] | None:
    """A row's position, comparable (nan, no position, equals nothing)."""
    return None if math.isnan(lat) else (lat, lon)


def compare_with_rebuild(store: Store) -> None:
    """load_table/load_stats (snapshot + delta, no rebuild) equal a fresh full build."""
    idx = store.index
    before = snapshot.rebuilds
    table = load_table(store)
    stats = load_stats(store)
    assert snapshot.rebuilds == before, "a small change must not rebuild"
    with idx.read() as txn:
        assert isinstance(table, MergedTable) == (idx.dirty_count(txn) > 0)
    full, full_stats = build(store)
    assert table.n == full.n
    assert rows_of(table) == rows_of(full)
    # the attributes read_cmds uses, on the merged table too
    assert list(table.paths) == list(full.paths)
    assert list(table.path_rows) == list(full.path_rows)
    for q in QUERIES:
        assert evaluate(q, table) == evaluate(q, full), q
    # near: reads the position columns, joined from both parts of a merged table
    for q in ("near:1.5,2.5", "near:9.5,8.5,5km", "near:7.5,6.5,20000km kind:image"):
        assert evaluate(q, table, TermContext(store)) == evaluate(q, full, TermContext(store)), q
    # each asset's row found by its id (a ranked term's hits), merged as in the whole table
    asset_rows = [i for i in range(full.n) if full.id_bytes(i) != NO_ID]
    for t in (table, full):
        assert [t.row_of_id(t.id_bytes(i)) for i in asset_rows] == asset_rows
        assert t.row_of_id(b"\xff" * 32) == -1
    assert stats == full_stats


class World:
    """A random catalog, written through the store like add and watch do."""

    def __init__(self, store: Store, seed: int) -> None:
        self.store = store
        self.rng = random.Random(seed)
        self.w: RecordWriter = store.writer()
        self.at: dict[tuple[str, bytes], str] = {}  # present path -> asset
        self.known: list[str] = []  # every asset recorded
        self.errors: set[tuple[str, bytes]] = set()

    def hlc(self) -> int:
        # now and then an old event, as from another machine after a sync
        now = self.w.now()
        return now - self.rng.randrange(1, 10**9) if self.rng.random() < 0.05 else now

    def new_asset(self) -> str:
        rng = self.rng
        aid = f"{rng.getrandbits(256):064x}"
        meta = Meta(
            kind=rng.choice(KINDS), mime="x/y",
            taken=rng.choice([None, "2019-06-01T12:00:00", "2020-02-03T04:05:06+01:00"]),
            camera_make=rng.choice([None, "Canon", "Apple"]),
            camera_model=rng.choice([None, "Canon EOS 5D", "iPhone 12"]),
            gps_lat=rng.choice([None, 1.5]), gps_lon=2.5,
            frames=rng.choice([None, 1, 3]),
            error=rng.choice([None] * 6 + ["probe failed"]),
            sidecar=rng.choice([None, None, SidecarFacts(
                format="google-takeout", taken="2021-03-04T05:06:07+00:00", gps_lat=9.5,
                gps_lon=8.5), SidecarFacts(format="google-takeout", gps_lat=7.5, gps_lon=6.5),
                SidecarFacts(format="xmp", taken="1975-06-07"),
                SidecarFacts(format="xmp", gps_lat=-3.5, gps_lon=4.5, title="words too"),
                SidecarFacts(format="xmp", title="words only")]),
        )
        self.w.append(AssetRecorded(hlc=self.w.now(), id=aid, size=rng.randrange(1, 1000),
                                    meta=meta))
        self.known.append(aid)
        return aid

    def any_path(self) -> tuple[str, bytes]:
        rng = self.rng
        d, name = rng.choice(DIRS), rng.choice(NAMES)
        return rng.choice(ROOTS), (d + b"/" + name if d else name)

    def seen(self, where: tuple[str, bytes], aid: str) -> None:
        self.w.append(PathSeen(hlc=self.hlc(), root=where[0], path=where[1], asset=aid,
                               size=1, mtime_ns=1, inode=1))
        self.at[where] = aid
        self.errors.discard(where)

    def gone(self, where: tuple[str, bytes]) -> None:
        aid = self.at.pop(where, None) or self.rng.choice(self.known)
        self.w.append(PathGone(hlc=self.hlc(), root=where[0], path=where[1], asset=aid))
        self.errors.discard(where)

    def step(self) -> None:
        rng = self.rng
        op = rng.random()
        present = sorted(self.at)
        if op < 0.3 or not present:  # a new file (maybe over another one: an in-place change)
            self.seen(self.any_path(), self.new_asset())
        elif op < 0.45:  # a move
            src = rng.choice(present)
            aid = self.at[src]
            self.gone(src)
            self.seen(self.any_path(), aid)
        elif op < 0.55:  # a copy of a known asset, or an asset seen again
            self.seen(self.any_path(), rng.choice(self.known))
        elif op < 0.65:  # a deletion
            self.gone(rng.choice(present))
        elif op < 0.8:  # a path error, at a present path or not
            where = rng.choice(present) if rng.random() < 0.5 else self.any_path()
            self.w.append(PathError(hlc=self.hlc(), root=where[0], path=where[1],
                                    reason=rng.choice(["unreadable", "fifo"]), detail="x"))
            self.errors.add(where)
        elif op < 0.9 and self.errors:  # an error cleared by a sighting or a disappearance
            where = rng.choice(sorted(self.errors))
            if rng.random() < 0.5:
                self.seen(where, self.new_asset())
            else:
                self.gone(where)
        else:  # an asset recorded again (same facts, later: no change)
            aid = rng.choice(self.known)
            self.w.append(AssetRecorded(hlc=self.w.now(), id=aid, size=1,
                                        meta=Meta(kind="other", mime="x/y")))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    for r in ROOTS:
        (tmp_path / r).mkdir()
    st = Store.init(tmp_path / "s", [tmp_path / r for r in ROOTS])
    yield st
    st.close()


@pytest.mark.parametrize("seed", range(24))
def test_delta_equals_rebuild(store: Store, seed: int) -> None:
    world = World(store, seed)
    for _ in range(40):
        world.step()
    world.w.flush()
    refresh(store, full=True)
    for batch in range(12):
        for _ in range(world.rng.randrange(1, 6)):
            world.step()
        world.w.flush()  # one segment, as one watch batch
        compare_with_rebuild(store)
        if batch % 3 == 1:
            refresh(store)  # caches the delta; readers then use the cache
            compare_with_rebuild(store)
        if batch == 6:  # a new base, with the delta starting over
            refresh(store, full=True)
            compare_with_rebuild(store)


def test_sidecar_and_live_flags_follow_their_siblings(store: Store) -> None:
    world = World(store, 99)
    img, mov, xmp = (world.new_asset() for _ in range(3))
    world.w.append(AssetRecorded(hlc=world.w.now(), id="1" * 64, size=5,
                                 meta=Meta(kind="image", mime="image/jpeg")))
    world.w.append(AssetRecorded(hlc=world.w.now(), id="2" * 64, size=5,
                                 meta=Meta(kind="video", mime="video/quicktime")))
    world.seen(("a", b"d1/IMG_7.JPG"), "1" * 64)
    world.w.flush()
    refresh(store, full=True)
    assert evaluate("has:live", load_table(store)) == []
    world.seen(("a", b"d1/img_7.mov"), "2" * 64)  # only the .mov is new: the .JPG changes too
    world.w.flush()
    t = load_table(store)
    assert isinstance(t, MergedTable)
    assert sorted(t.row_id(i) for i in evaluate("has:live", t)) == ["1" * 64, "2" * 64]
    world.seen(("a", b"d1/IMG_7.JPG.xmp"), xmp)
    world.w.flush()
    t = load_table(store)
    # the sidecar's stem is "img_7": it sits next to both
    assert {t.row_id(i) for i in evaluate("has:sidecar", t)} == {"1" * 64, "2" * 64}
    world.gone(("a", b"d1/img_7.mov"))
    world.w.flush()
    assert [load_table(store).row_id(i)
            for i in evaluate("has:live", load_table(store))] == []
    compare_with_rebuild(store)
    del img, mov


def test_small_change_is_patched_not_rebuilt(store: Store) -> None:
    world = World(store, 1)
    for _ in range(30):
        world.step()
    world.w.flush()
    refresh(store)
    idx = store.index
    with idx.read() as txn:
        gen_before = snapshot._decode_head(txn.get(b"head", db=idx.db["table"])).gen
    before = snapshot.rebuilds
    aid = world.new_asset()
    world.seen(("a", b"incoming/new-file.txt"), aid)
    world.w.flush()
    refresh(store)  # what 'mstore add' does at its end
    t = load_table(store)
    assert [t.row_id(i) for i in evaluate("path:incoming/new-file.txt", t)] == [aid]
    assert load_stats(store).assets == len(set(world.known))
    assert snapshot.rebuilds == before
    with idx.read() as txn:
        assert snapshot._decode_head(txn.get(b"head", db=idx.db["table"])).gen == gen_before
        assert idx.dirty_count(txn) > 0


def test_large_change_rebuilds(store: Store) -> None:
    world = World(store, 2)
    for _ in range(20):
        world.step()
    world.w.flush()
    refresh(store)
    before = snapshot.rebuilds
    for i in range(snapshot.DELTA_MIN + 10):
        world.seen(("b", b"bulk/f%04d" % i), world.new_asset())
    world.w.flush()
    t = load_table(store)
    assert snapshot.rebuilds == before + 1
    assert not isinstance(t, MergedTable)
    assert len(evaluate("path:bulk/*", t)) == snapshot.DELTA_MIN + 10
    with store.index.read() as txn:
        assert store.index.dirty_count(txn) == 0
    compare_with_rebuild(store)


def test_overflowing_dirty_list_forces_a_rebuild(store: Store,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    world = World(store, 3)
    world.seen(("a", b"zero"), world.new_asset())
    world.w.flush()
    refresh(store)
    monkeypatch.setattr("mstore.store.index.DIRTY_CAP", 4)
    for i in range(10):  # more changes than the index lists
        world.seen(("a", b"f%d" % i), world.new_asset())
    world.w.flush()
    with store.index.read() as txn:
        assert store.index.dirty_count(txn) == 4
        assert store.index.meta_int(txn, b"dirty_over") > 0
    before = snapshot.rebuilds
    assert len(evaluate("path:f*", load_table(store))) == 10
    assert snapshot.rebuilds == before + 1
    with store.index.read() as txn:
        assert store.index.meta_int(txn, b"dirty_over") == 0


def test_old_snapshot_layout_is_rebuilt(store: Store) -> None:
    world = World(store, 4)
    world.seen(("a", b"x.jpg"), world.new_asset())
    world.w.flush()
    idx = store.index
    with idx.write() as txn:  # what SNAPSHOT_VERSION 1 left behind
        txn.put(b"table", b"\x80", db=idx.db["table"])
        txn.put(b"head", b"\x80", db=idx.db["table"])
    before = snapshot.rebuilds
    assert load_table(store).n == 1
    assert snapshot.rebuilds == before + 1
    with idx.read() as txn:
        assert txn.get(b"table", db=idx.db["table"]) is None


def test_count_query_reads_no_paths(store: Store) -> None:
    world = World(store, 5)
    for _ in range(30):
        world.step()
    world.w.flush()
    refresh(store, full=True)
    t = load_table(store)
    assert isinstance(t, CatalogTable)
    evaluate("kind:image", t)
    assert "paths" not in t.__dict__ and "_text" not in t.__dict__
    rows = evaluate("path:d1/*", t)
    assert "paths" not in t.__dict__  # the lower-cased text, not the path list
    if rows:
        assert t.row_paths(rows[0])


def found_in(store: Store, q: str) -> set[str | None]:
    """The ids of the rows the catalog answers ``q`` with."""
    t = load_table(store)
    return {t.row_id(i) for i in evaluate(q, t, TermContext(store))}


def test_a_takeout_sidecar_lends_time_and_place_whenever_it_arrives(store: Store) -> None:
    world = World(store, 7)
    w = world.w
    facts = SidecarFacts(format="google-takeout", taken="2015-07-08T09:10:11+00:00",
                         gps_lat=48.5, gps_lon=2.25)
    bare, exif, side = "b" * 64, "e" * 64, "5" * 64
    w.append(AssetRecorded(hlc=w.now(), id=bare, size=9, meta=Meta(kind="image", mime="i")))
    w.append(AssetRecorded(hlc=w.now(), id=exif, size=9, meta=Meta(
        kind="image", mime="i", taken="2001-01-01T00:00:00", gps_lat=1.0, gps_lon=1.0)))
    w.append(AssetRecorded(hlc=w.now(), id=side, size=9, meta=Meta(
        kind="text", mime="application/json", sidecar=facts)))
    world.seen(("a", b"t/IMG_1.jpg"), bare)
    world.seen(("a", b"t/IMG_2.jpg"), exif)
    w.flush()
    refresh(store, full=True)

    found = functools.partial(found_in, store)

    assert found("taken:2015") == set() and found("has:sidecar") == set()
    # the sidecar arrives after its photo: only the sidecar is dirty, the photo's row changes
    world.seen(("a", b"t/IMG_1.jpg.supplemental-metadata.json"), side)
    w.flush()
    assert found("taken:2015-07-08") == {bare}
    assert found("has:gps has:sidecar") == {bare}
    assert found("near:48.5,2.25") == {bare}  # the place it lends is where near: looks
    # a file's own EXIF is never overridden; the sidecar still counts as its sidecar
    world.seen(("a", b"t/IMG_2.json"), side)
    w.flush()
    assert found("taken:2001") == {exif} and found("taken:2015") == {bare}
    assert found("has:sidecar") == {bare, exif}
    compare_with_rebuild(store)
    # gone: the photo has no capture time again (only the sidecar's path changed)
    refresh(store, full=True)
    world.gone(("a", b"t/IMG_1.jpg.supplemental-metadata.json"))
    w.flush()
    assert found("taken:2015") == set() and found("has:sidecar") == {exif}
    assert found("near:48.5,2.25") == set()
    compare_with_rebuild(store)
    # renamed to another of Takeout's names for the same photo: lent again
    world.seen(("a", b"t/IMG_1.json"), side)
    w.flush()
    assert found("taken:2015") == {bare}
    compare_with_rebuild(store)


def test_an_xmp_sidecar_lends_time_and_place_to_the_files_of_its_stem(store: Store) -> None:
    """A scan dated and placed in a photo manager (digiKam, Lightroom): the XMP file next
    to it lends its capture time and place to the files sharing its stem, where they have
    none of their own, whenever it arrives, changes or goes; a Takeout JSON goes first."""
    world = World(store, 9)
    w = world.w
    scan, raw, exif, side, side2, words, takeout, note = (c * 64 for c in "abcde123")

    def asset(aid: str, meta: Meta) -> None:
        w.append(AssetRecorded(hlc=w.now(), id=aid, size=9, meta=meta))

    asset(scan, Meta(kind="image", mime="image/tiff"))
    asset(raw, Meta(kind="image", mime="image/x-nikon-nef"))
    asset(exif, Meta(kind="image", mime="image/jpeg", taken="2001-01-01T00:00:00",
                     gps_lat=1.0, gps_lon=1.0))
    asset(side, Meta(kind="text", mime="application/xml", sidecar=SidecarFacts(
        format="xmp", taken="1975-06-07", gps_lat=45.5, gps_lon=-73.5)))
    asset(side2, Meta(kind="text", mime="application/xml", sidecar=SidecarFacts(
        format="xmp", taken="1988-02-03T04:05:06")))
    asset(words, Meta(kind="text", mime="application/xml", sidecar=SidecarFacts(
        format="xmp", title="only words")))
    asset(takeout, Meta(kind="text", mime="application/json", sidecar=SidecarFacts(
        format="google-takeout", taken="2015-07-08T09:10:11+00:00")))
    asset(note, Meta(kind="text", mime="text/plain"))
    world.seen(("a", b"s/scan001.tif"), scan)
    world.seen(("a", b"s/scan001.txt"), note)  # a note sharing the stem is never dated
    world.seen(("a", b"s/DSC_7.NEF"), raw)
    world.seen(("a", b"s/DSC_7.JPG"), exif)
    w.flush()
    refresh(store, full=True)
    found = functools.partial(found_in, store)

    assert found("taken:1975") == set()
    world.seen(("a", b"s/scan001.xmp"), side)  # arrives after its scan
    world.seen(("a", b"s/DSC_7.NEF.xmp"), side2)
    w.flush()
    assert found("taken:1975-06-07") == {scan} and found("near:45.5,-73.5") == {scan}
    # the raw takes the XMP's date; the camera's JPEG of the same stem keeps its own
    assert found("taken:1988-02-03") == {raw} and found("taken:2001") == {exif}
    compare_with_rebuild(store)
    world.seen(("a", b"s/scan001.xmp"), words)  # rewritten with words only: lends nothing
    w.flush()
    assert found("taken:1975") == set() and found("has:gps") == {exif}
    compare_with_rebuild(store)
    world.seen(("a", b"s/scan001.xmp"), side)
    world.seen(("a", b"s/scan001.tif.json"), takeout)  # a Takeout JSON goes first
    w.flush()
    assert found("taken:2015") == {scan} and found("taken:1975") == set()
    assert found("near:45.5,-73.5") == set()  # it has no place; one sidecar lends, not two
    compare_with_rebuild(store)
    world.gone(("a", b"s/scan001.tif.json"))
    world.gone(("a", b"s/DSC_7.NEF.xmp"))
    w.flush()
    assert found("taken:1975") == {scan} and found("taken:1988") == set()
    compare_with_rebuild(store)


def test_a_file_name_dates_what_carries_no_capture_time(store: Store) -> None:
    """A photo, video or audio file without a capture time of its own (nor one a sidecar
    lends) takes the one its name gives; its own EXIF and a sidecar's always win, a
    document or text file is never dated by its name, and a rename redates it."""
    world = World(store, 8)
    w = world.w
    facts = SidecarFacts(format="google-takeout", taken="2015-07-08T09:10:11+00:00")
    bare, exif, note, side = "b" * 64, "e" * 64, "c" * 64, "5" * 64
    w.append(AssetRecorded(hlc=w.now(), id=bare, size=9, meta=Meta(kind="image", mime="i")))
    w.append(AssetRecorded(hlc=w.now(), id=exif, size=9, meta=Meta(
        kind="image", mime="i", taken="2001-01-01T00:00:00")))
    w.append(AssetRecorded(hlc=w.now(), id=note, size=9, meta=Meta(kind="text", mime="t")))
    w.append(AssetRecorded(hlc=w.now(), id=side, size=9, meta=Meta(
        kind="text", mime="application/json", sidecar=facts)))
    world.seen(("a", b"w/IMG-20190512-WA0003.jpg"), bare)
    world.seen(("a", b"w/IMG_20200304_050607.jpg"), exif)
    world.seen(("a", b"w/notes-20190512.txt"), note)
    w.flush()
    refresh(store, full=True)

    found = functools.partial(found_in, store)

    assert found("taken:2019-05-12") == {bare} and found("taken:2001") == {exif}
    assert found("has:taken") == {bare, exif}
    compare_with_rebuild(store)
    world.gone(("a", b"w/IMG-20190512-WA0003.jpg"))  # renamed: the new name dates it
    world.seen(("a", b"w/Screenshot_20181111-101112.png"), bare)
    w.flush()
    assert found("taken:2019") == set() and found("taken:2018-11-11") == {bare}
    compare_with_rebuild(store)
    world.seen(("a", b"w/Screenshot_20181111-101112.png.json"), side)  # a sidecar wins
    w.flush()
    assert found("taken:2018") == set() and found("taken:2015-07-08") == {bare}
    compare_with_rebuild(store)
    world.gone(("a", b"w/Screenshot_20181111-101112.png.json"))
    world.gone(("a", b"w/Screenshot_20181111-101112.png"))
    world.seen(("a", b"w/copy.png"), bare)  # no date in its name: none
    w.flush()
    assert found("has:taken") == {exif}
    compare_with_rebuild(store)


def _table_keys(store: Store) -> list[bytes]:
    idx = store.index
    with idx.read() as txn:
        return list(txn.cursor(db=idx.db["table"]).iternext(values=False))


def test_a_snapshot_is_stored_a_column_at_a_time_and_a_writer_that_dies_loses_nothing(
        store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Columns go in under a new tag, each committed on its own; readers see the old
    table until the last transaction names the new tag. A writer killed half-way leaves
    the old table whole, and the next snapshot stored drops what it left."""
    from mstore.store import table_db

    world = World(store, 5)
    for _ in range(40):
        world.step()
    world.w.flush()
    refresh(store, full=True)
    old_rows = rows_of(load_table(store))
    keys = _table_keys(store)
    tags = {k.split(b"/")[0] for k in keys if k.startswith(b"c") and b"/" in k}
    assert len(tags) == 1 and b"cols" in keys and b"head" in keys
    reader = table_db.TableTxn(store)  # a reader from before the next store
    before = bytes(reader.get(b"c/paths") or b"")

    commits: list[bytes] = []
    real_put = table_db._put

    def put_then_die(txn, db, key: bytes, raw: bytes) -> None:  # noqa: ANN001
        if len(commits) == 3:
            raise KeyboardInterrupt  # the writer dies after three columns
        real_put(txn, db, key, raw)
        commits.append(key)
    for _ in range(5):
        world.step()
    world.w.flush()
    monkeypatch.setattr(table_db, "_put", put_then_die)
    with pytest.raises(KeyboardInterrupt):
        refresh(store, full=True)
    monkeypatch.setattr(table_db, "_put", real_put)
    left = set(_table_keys(store)) - set(keys)
    assert left == set(commits)  # three columns under a tag nobody names
    assert bytes(reader.get(b"c/paths") or b"") == before
    reader.close()
    with store.index.read() as txn:  # the stored table is still the old one, whole
        assert txn.get(b"cols", db=store.index.db["table"]) == tags.pop()[1:]
    refresh(store, full=True)
    keys = _table_keys(store)
    assert not set(commits) & set(keys)
    assert len({k.split(b"/")[0] for k in keys if k.startswith(b"c") and b"/" in k}) == 1
    assert rows_of(load_table(store)) != old_rows
    compare_with_rebuild(store)
