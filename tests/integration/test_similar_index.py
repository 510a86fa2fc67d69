"""The vector index as a cache (mstore/query/vectors.py), with runs executed in this
process (no Temporal): rebuilt when its files are damaged or when gc dropped embeddings
it held, caught up when a run adds embeddings, never the truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from mstore.query import vectors
from mstore.store.store import Store
from tests.helpers import mstore
from tests.integration.test_run_reading import run_all
from tests.scenes import scene, write_with_variants


@pytest.fixture
def store(tmp_path: Path) -> Path:
    root = tmp_path / "archive"
    for seed in range(3):
        d = root / f"s{seed}"
        write_with_variants(scene(seed), d / "photo.jpg", lambda n, d=d: d / f"{n}.jpg")
    st = tmp_path / "store"
    assert mstore("init", "--store", st, root).code == 0
    assert mstore("add", store=st).code == 0
    return st


def answers(st: Store) -> dict[str, list[tuple[str, float]]]:
    with st.reader() as r:
        assets = [a.id for a in r.assets()]
    return {a: vectors.similar_to(st, a, 5) for a in assets}


def test_a_damaged_index_is_rebuilt_with_the_same_answers(store: Path) -> None:
    run_all(store, "similar")
    st = Store(store)
    try:
        before = answers(st)
        space = next(iter((store / "local" / "similar").glob("*/index.bin"))).parent
        (space / "index.bin").write_bytes(b"not an index")
        vectors._open.clear()  # as a new process would find it
        assert answers(st) == before
        idx = vectors.index_for(st, vectors.newest_embedding(st, next(iter(before))))
        assert idx.rebuilds == 1 and len(idx) == 12
    finally:
        st.close()


def test_gc_of_embeddings_the_index_held_makes_it_rebuild(store: Path) -> None:
    run_all(store, "similar")  # production
    # a sandbox run whose results expire at once: newer embeddings of the same assets
    run_all(store, "similar", policy="sandbox", ttl_days=-1)
    st = Store(store)
    try:
        some = next(iter(answers(st)))
        idx = vectors.index_for(st, vectors.newest_embedding(st, some))
        with st.reader() as r:
            sandbox = {a.id for a in r.artifacts() if a.kind == "embedding"
                       and a.policy == "sandbox"}
        assert set(idx.state.arts) == sandbox  # the newest embedding of each asset
        rebuilt = idx.rebuilds
    finally:
        st.close()
    r = mstore("gc", "--grace", "0", store=store)
    assert r.code == 0, r.err
    st = Store(store)
    try:
        vectors._open.clear()
        idx = vectors.index_for(st, vectors.newest_embedding(st, some))
        assert idx.rebuilds == rebuilt + 1  # the dropped ones are not left in it
        assert not set(idx.state.arts) & sandbox and len(idx) == 12
        assert {a for a, _ in vectors.similar_to(st, some, 3)} <= set(idx.state.assets)
    finally:
        st.close()


def test_similar_in_collections_and_run_selections(store: Path) -> None:
    from tests.integration.test_run_reading import DirectRun

    run_all(store, "similar")
    photo = next(r["id"] for r in mstore("find", "--json", store=store).json_lines()
                 if r["paths"][0].endswith("s1/photo.jpg"))
    found = [r["id"] for r in mstore("find", f"similar:{photo[:8]}", "--json",
                                     store=store).json_lines()]
    assert len(found) == 11  # every other photo, nearest first
    assert mstore("collection", "create", "look", "--query", f"similar:{photo[:8]}",
                  store=store).code == 0
    shown = mstore("collection", "show", "look", "--json", store=store).json()["members"]
    assert [r["id"] for r in shown] == found  # a dynamic collection keeps the order
    run = DirectRun(store, "photos", selection=f"similar:{photo[:8]} path:s1/")
    try:
        assert run.ctx.units() == found[:3]  # its 3 copies, nearest first
    finally:
        run.close()
