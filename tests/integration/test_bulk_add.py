"""Bulk adds keep the catalog snapshot incremental: the rows of the files an add finds
new are made from what its workers probed and merged into the snapshot, never a
rebuild, and the snapshot then answers exactly like one built from the index."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

from mstore.catalog.add import Adder, AddSummary, resolve_targets
from mstore.query import snapshot
from mstore.store.store import Store
from tests.fixtures.archive import build_archive, build_bulk
from tests.helpers import mstore, mstore_proc
from tests.unit.test_snapshot import compare_with_rebuild


def _check(store: Path) -> None:
    st = Store(store)
    try:
        compare_with_rebuild(st)
    finally:
        st.close()


def _add(store: Path) -> None:
    """``mstore add``, which must bring the snapshot up to date without rebuilding it."""
    before = snapshot.rebuilds
    r = mstore("add", store=store)
    assert r.code == 0, r.err
    assert snapshot.rebuilds == before, "a bulk add rebuilt the snapshot"


def _store(tmp_path: Path, root: Path) -> Path:
    store = tmp_path / "store"
    assert mstore("init", "--store", store, root).code == 0
    assert mstore("status", store=store).code == 0  # the (empty) snapshot
    return store


def test_first_add_merges_new_rows_and_answers_like_a_rebuild(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    build_archive(root, hostile=False, seed=3)  # sidecars, Live Photos, Takeout JSONs, copies
    build_bulk(root / "bulk", 600, seed=2, image_fraction=0.3)
    store = _store(tmp_path, root)
    _add(store)
    _check(store)


def test_a_new_folder_next_to_an_existing_catalog(tmp_path: Path) -> None:
    """New files among old ones: copies of cataloged content (not new), a sidecar and a
    Live Photo half next to cataloged photos (their rows change too), moves and edits in
    the same add."""
    root = tmp_path / "archive"
    root.mkdir()
    build_archive(root, hostile=False, seed=4)
    store = _store(tmp_path, root)
    _add(store)
    photos = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    assert len(photos) >= 3
    build_bulk(root / "new" / "2024", 500, seed=9, image_fraction=0.2)
    for i, p in enumerate(photos[:3]):
        shutil.copy(p, root / "new" / f"copy-{i}.jpg")  # known content at a new path
    (photos[0].parent / (photos[0].stem + ".xmp")).write_text("<x:xmpmeta/>\n")
    shutil.copy(root / "new" / "copy-1.jpg", photos[1].parent / (photos[1].stem + ".mov"))
    (root / "new" / "IMG_9.JPG").write_bytes(photos[2].read_bytes() + b"new")
    (root / "new" / "IMG_9.MOV").write_bytes(b"\x00\x00\x00\x14ftypqt  " + os.urandom(64))
    moved = root / "moved.jpg"
    photos[2].rename(moved)
    text = next(p for p in root.rglob("*.txt"))
    text.write_text(text.read_text() + "more\n")
    _add(store)
    _check(store)


def test_another_writer_during_the_add_is_not_lost(tmp_path: Path) -> None:
    """If another process changes the catalog while an add runs, the add's own facts
    are not trusted alone: the snapshot still answers like a rebuild."""
    root = tmp_path / "archive"
    build_bulk(root / "a", 400, seed=5, image_fraction=0.2)
    (root / "b").mkdir()
    store = _store(tmp_path, root)
    st = Store(store)
    try:
        adder = Adder(st, st.writer(), workers=1)
        adder.run(resolve_targets(st, [root / "a"]))
        build_bulk(root / "b", 300, seed=6, image_fraction=0.2)
        assert mstore_proc("add", root / "b", store=store).code == 0  # meanwhile
        assert adder.fresh is not None and not adder.fresh.valid(
            st.index.meta_int(st.index.read(), b"data_gen"))
        snapshot.refresh(st, fresh=adder.fresh)
        compare_with_rebuild(st)
    finally:
        st.close()


def test_random_changes_between_adds(tmp_path: Path) -> None:
    """Rounds of new files (sharing stems: sidecars, Live Photo halves), copies, moves,
    edits and deletions, an add after each: the snapshot always equals a rebuild."""
    rng = random.Random(11)
    root = tmp_path / "archive"
    build_bulk(root / "base", 300, seed=8, image_fraction=0.3)
    store = _store(tmp_path, root)
    _add(store)
    for round_ in range(4):
        files = sorted(p for p in root.rglob("*") if p.is_file())
        folder = root / f"r{round_}" / rng.choice(["x", "y/z"])
        build_bulk(folder, rng.randrange(250, 400), seed=20 + round_, image_fraction=0.3)
        for p in rng.sample(files, 20):
            action = rng.choice(["copy", "move", "edit", "delete", "sidecar", "live"])
            if action == "copy":
                shutil.copy(p, folder / f"copy-{p.name}")
            elif action == "move":
                p.rename(folder / f"moved-{p.name}")
            elif action == "edit":
                p.write_bytes(p.read_bytes() + b"edit")
            elif action == "delete":
                p.unlink()
            elif action == "sidecar":
                (p.parent / (p.stem + ".xmp")).write_text(f"<x:xmpmeta n='{round_}'/>\n")
            else:
                (p.parent / (p.stem + ".MOV")).write_bytes(
                    b"\x00\x00\x00\x14ftypqt  " + rng.randbytes(40))
        _add(store)
        _check(store)


def test_an_unchanged_rescan_takes_the_path_states_from_the_cache(
        tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """The second add of an unchanged root compares its walk with the states the first
    one read from the index (store/path_cache.py), not with the index again; a change
    to the catalog makes the cache stale, and a damaged one is ignored."""
    from mstore.store.index import Index

    root = tmp_path / "archive"
    build_bulk(root, 300, seed=12, image_fraction=0.2)
    store = _store(tmp_path, root)
    _add(store)
    r = mstore("add", "--json", store=store)  # reads the index, keeps the cache
    assert r.code == 0 and r.json()["unchanged"] == 300
    read = Index.present_states_under

    def no_index(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("an unchanged rescan read the path states from the index")

    monkeypatch.setattr(Index, "present_states_under", no_index)
    r = mstore("add", "--json", store=store)
    assert r.code == 0 and r.json()["unchanged"] == 300 and r.json()["bytes_hashed"] == 0
    # a change: the catalog moves on, the cache is stale and not used
    monkeypatch.setattr(Index, "present_states_under", read)
    victim = sorted(p for p in root.rglob("*") if p.is_file())[0]
    victim.write_bytes(victim.read_bytes() + b"changed")
    new = root / "new.txt"
    new.write_text("a new file\n")
    r = mstore("add", "--json", store=store)
    assert r.code == 0 and (r.json()["changed"], r.json()["new"]) == (1, 1)
    # damaged: ignored, and written again
    for cache in (store / "local" / "index").glob("present-*.cache"):
        cache.write_bytes(b"\x93garbage")
    new.unlink()
    r = mstore("add", "--json", store=store)
    assert r.code == 0 and r.json()["missing"] == 1
    _check(store)


def test_a_bulk_add_commits_the_index_once_per_batch_of_segments(
        tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """Each commit syncs the index and rewrites the pages on the way to every key it
    touched: a bulk add writes a segment every 5000 records but applies them together,
    in one transaction per batch (per APPLY_MAX_RECORDS, or every 2 s, here set aside)."""
    import mstore.store.store as store_mod
    from mstore.store.index import Index
    from mstore.store.segments import list_segments

    monkeypatch.setattr(store_mod, "SEGMENT_MAX_SECONDS", 1e9)  # by count only, not time
    root = tmp_path / "archive"
    build_bulk(root, 12_000, seed=13, image_fraction=0.0)
    store = _store(tmp_path, root)
    applies = []
    for name in ("apply_segment", "apply_segments"):
        method = getattr(Index, name)

        def counted(self, *args, _method=method, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
            applies.append(args[0])
            return _method(self, *args, **kwargs)

        monkeypatch.setattr(Index, name, counted)
    _add(store)
    segments = list(list_segments(store / "records"))
    assert len(segments) >= 5  # 24k records and the add's summary
    per_batch = store_mod.APPLY_MAX_RECORDS // store_mod.SEGMENT_MAX_RECORDS
    assert per_batch > 1
    assert [len(a) for a in applies] == [per_batch] * (len(applies) - 1) + [
        len(segments) - per_batch * (len(applies) - 1)]
    assert len(applies) == -(-len(segments) // per_batch)


def _chunked_add(store: Path, root: Path, chunk: int) -> AddSummary:
    """What ``mstore add`` does, with the new rows merged every ``chunk`` new assets."""
    before = snapshot.rebuilds
    st = Store(store)
    try:
        with st.lock():
            adder = Adder(st, st.writer(), workers=1)
            adder.fresh_chunk = chunk
            summary = adder.run(resolve_targets(st, [root]))
            snapshot.refresh(st, fresh=adder.fresh)
        assert snapshot.rebuilds == before, "a chunked add rebuilt the snapshot"
        compare_with_rebuild(st)
    finally:
        st.close()
    return summary


def test_an_add_merged_in_chunks_answers_like_one_merged_at_once(tmp_path: Path) -> None:
    """A bulk add holds the rows of at most a chunk of new assets: merged as it goes
    (sidecars, Live Photo halves and Takeout JSONs split across chunks), the snapshot
    equals a rebuild, and a second add with moves and copies in chunks does too."""
    root = tmp_path / "archive"
    root.mkdir()
    build_archive(root, hostile=False, seed=3)
    build_bulk(root / "bulk", 300, seed=2, image_fraction=0.3)
    store = _store(tmp_path, root)
    first = _chunked_add(store, root, 37)
    st = Store(store)
    try:
        with st.reader() as r:  # every asset of a first add is new, once, for the hook
            assert sorted(first.new_assets) == sorted(a.id for a in r.assets())
    finally:
        st.close()
    photos = sorted(p for p in root.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    build_bulk(root / "later", 200, seed=9, image_fraction=0.3)
    shutil.copy(photos[0], root / "later" / "copy.jpg")
    unique = sorted(p for p in (root / "bulk").rglob("*") if p.is_file())[5]  # bytes unique
    unique.rename(root / "later" / "moved")
    second = _chunked_add(store, root, 23)
    assert second.moved == 1 and second.missing == 0


def test_a_bulk_add_in_chunks_merges_column_by_column(tmp_path: Path) -> None:
    """ASCII paths (most archives): each chunk's rows go into the stored columns without
    decoding the snapshot into per-row objects, and the result is the rebuild's."""
    root = tmp_path / "archive"
    build_bulk(root / "a", 1000, seed=12, image_fraction=0.3)
    store = _store(tmp_path, root)
    before = snapshot.column_merges
    _chunked_add(store, root, 250)  # more than a cached delta holds (200 rows here)
    assert snapshot.column_merges - before >= 3  # one per chunk


class _SqueezingAdder(Adder):
    """Leaves the index's map nearly full before each merge of new rows, so that storing
    the merged columns (with the snapshot's views held) finds no room."""

    squeezes = 0

    def _merge_fresh(self) -> None:
        self.writer.flush()
        env = self.store.index.env
        used = (env.info()["last_pgno"] + 1) * env.stat()["psize"]
        env.set_mapsize(used + 64 * 1024)
        _SqueezingAdder.squeezes += 1
        super()._merge_fresh()


def test_a_column_merge_that_fills_the_index_grows_it_and_merges(tmp_path: Path) -> None:
    """A full map while the merge reads the snapshot's columns from the map: the map is
    grown with nothing of it held, and the merge done again (growing it under the views
    would unmap what they point at)."""
    root = tmp_path / "archive"
    build_bulk(root / "a", 1000, seed=13, image_fraction=0.3)
    store = _store(tmp_path, root)
    st = Store(store)
    try:
        with st.lock():
            adder = _SqueezingAdder(st, st.writer(), workers=1)
            adder.fresh_chunk = 300
            before = snapshot.column_merges
            adder.run(resolve_targets(st, [root]))
            snapshot.refresh(st, fresh=adder.fresh)
            assert _SqueezingAdder.squeezes >= 2 and snapshot.column_merges > before
        compare_with_rebuild(st)
    finally:
        st.close()
