"""Look-alikes end to end: the ``similar`` pipeline on a real Temporal dev server over
photo-like scenes and their copies (resized, recompressed, cropped), then ``similar:`` in
``find`` — nearest first, combined with other terms, the same after the vector index is
deleted, caught up (not rebuilt) after a second run."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.helpers import mstore
from tests.scenes import scene, write_with_variants

if TYPE_CHECKING:
    from tests.integration.temporal_env import RunStore

pytest_plugins = ["tests.integration.temporal_env"]

FIRST = range(5)  # scenes in a/ (the first run)
SECOND = (5,)  # the scene in b/ (the second run)


@pytest.fixture(scope="module")
def scenes_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("scenes") / "archive"
    for seed in (*FIRST, *SECOND):
        d = root / ("a" if seed in FIRST else "b")
        write_with_variants(scene(seed), d / f"s{seed}.jpg",
                            lambda n, d=d, seed=seed: d / f"s{seed}-{n}.jpg")
    return root


def ids_by_name(rs: RunStore) -> dict[str, str]:
    return {Path(p).stem: aid for p, aid in rs.asset_ids_by_path().items()}


def similar(rs: RunStore, asset: str, *more: str) -> list[tuple[str, float]]:
    r = mstore("find", f"similar:{asset[:12]}", *more, "--json", store=rs.path)
    assert r.code == 0, r.err
    return [(h["id"], h["match"][f"similar:{asset[:12]}"]["distance"]) for h in r.json_lines()]


def test_similar_pipeline_and_query(run_store, scenes_archive: Path) -> None:  # noqa: ANN001
    rs = run_store(over=scenes_archive)
    v = rs.run_and_wait("similar", "--production", "path:a/", timeout=180)
    assert v.state == "completed", rs.worker_logs()
    ids = ids_by_name(rs)
    names = {aid: n for n, aid in ids.items()}

    # every photo's own copies come before every other photo, nearest first
    answers = {}
    for seed in FIRST:
        hits = similar(rs, ids[f"s{seed}"])
        answers[seed] = hits
        got = [names[a] for a, _ in hits]
        assert f"s{seed}" not in got  # the asset itself is not its own look-alike
        assert {n.split("-")[0] for n in got[:3]} == {f"s{seed}"}, got
        dists = [d for _, d in hits]
        assert dists == sorted(dists)
    # a copy finds its original first... or another copy of it
    for seed in FIRST:
        for name in ("resized", "recompressed", "cropped"):
            got = [names[a] for a, _ in similar(rs, ids[f"s{seed}-{name}"])]
            assert got[0].split("-")[0] == f"s{seed}", (name, got)

    # combined with other terms: still nearest first, --limit honoured
    s0 = ids["s0"]
    only = similar(rs, s0, "-path:*cropped*", "--limit", "2")
    assert [names[a] for a, _ in only] == [n for n in (names[a] for a, _ in answers[0])
                                           if "cropped" not in n][:2]
    r = mstore("find", f"similar:{s0[:12]}", "path:s3", store=rs.path)
    assert r.code == 0 and len(r.out.splitlines()) == 4  # s3 and its copies, nothing of s0

    # the index is a cache: deleted, it is rebuilt from the embeddings with the same answers
    assert (rs.path / "local" / "similar").is_dir()
    shutil.rmtree(rs.path / "local" / "similar")
    for seed in FIRST:
        assert similar(rs, ids[f"s{seed}"]) == answers[seed]

    # a second run: its embeddings join the index incrementally (the first run's stay)
    from mstore.query import vectors
    from mstore.store.store import Store

    st = Store(rs.path)
    try:
        idx = vectors.index_for(st, vectors.newest_embedding(st, s0))
        assert len(idx) == 4 * len(FIRST) and idx.rebuilds == 0  # loaded, not rebuilt
        v2 = rs.run_and_wait("similar", "--production", timeout=180)
        assert v2.state == "completed", rs.worker_logs()
        st.catch_up()
        idx.refresh()
        assert len(idx) == 4 * (len(FIRST) + len(SECOND)) and idx.rebuilds == 0
        assert len(idx.state.runs) == 2  # both runs are in the watermark
    finally:
        st.close()
    got = [names[a] for a, _ in similar(rs, ids["s5"])]
    assert {n.split("-")[0] for n in got[:3]} == {"s5"}, got
    for seed in FIRST:  # the first run's answers did not change
        assert similar(rs, ids[f"s{seed}"])[:3] == answers[seed][:3]


def test_similar_query_errors_are_one_line(run_store, scenes_archive: Path) -> None:  # noqa: ANN001
    rs = run_store(workers=0, over=scenes_archive)
    # a query error: the message, then the query with the term underlined; exit 2
    r = mstore("find", "similar:xyz", store=rs.path)
    assert r.code == 2 and "hex digits" in r.err.splitlines()[0] and "Traceback" not in r.err
    r = mstore("find", "similar:ffffffffff", store=rs.path)
    assert r.code == 2 and "no asset" in r.err.splitlines()[0] and "Traceback" not in r.err
    aid = next(iter(ids_by_name(rs).values()))
    r = mstore("find", f"similar:{aid[:12]}", store=rs.path)
    assert r.code == 2 and "no embedding" in r.err.splitlines()[0], r.err
