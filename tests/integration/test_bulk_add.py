"""Bulk adds keep the catalog snapshot incremental: the rows of the files an add finds
new are made from what its workers probed and merged into the snapshot, never a
rebuild, and the snapshot then answers exactly like one built from the index."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

from mstore.catalog.add import Adder, resolve_targets
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
        snapshot.refresh(st.index, fresh=adder.fresh)
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
