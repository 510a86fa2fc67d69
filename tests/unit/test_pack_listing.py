"""Writing a pack keeps the object store's listing of packs instead of re-reading it: a
run worker flushes a pack every few seconds, and re-reading every pack's directory each
time made a long run's flushes cost O(packs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mstore.store import objects
from mstore.store.objects import ObjectStore


def test_a_new_pack_joins_the_listing_without_rereading_the_others(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "objects").mkdir()
    (tmp_path / "tmp").mkdir()
    store = ObjectStore(tmp_path / "objects", tmp_path / "tmp")
    first = [store.put(f"first {i}".encode()) for i in range(3)]
    store.flush()
    reads: list[Path] = []
    real = objects.read_pack_directory
    monkeypatch.setattr(objects, "read_pack_directory",
                        lambda pack: reads.append(pack) or real(pack))
    for round_ in range(5):
        store.put(f"round {round_}".encode())
        store.flush()
    assert reads == []  # the listing made by the first put() was kept up to date
    later = ObjectStore(tmp_path / "objects", tmp_path / "tmp")  # another process
    for oid in first + [objects.object_id(f"round {r}".encode()) for r in range(5)]:
        assert store.has(oid) and later.get(oid) == store.get(oid)
