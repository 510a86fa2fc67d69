"""The column-level merge of a delta into a stored table (query/table_merge.py) gives
the same stored columns as merging through Python objects (snapshot._merge)."""

from __future__ import annotations

import math
import random
from array import array

import pytest

from mstore.query.snapshot import _Delta, _merge, _segments
from mstore.query.table import CatalogTable, DictSource
from mstore.query.table_merge import merge_columns
from tests.unit.test_query import make_table

CAMERAS = ["", "Canon EOS R5", "Apple iPhone 12", "Nikon Z6"]
ERRORS = ["", "other: unrecognized content", "probe: truncated"]


def _rows(rng: random.Random, n: int, tag: str, multi: bool) -> list[dict]:
    rows = []
    for i in range(n):
        npaths = rng.choice([1, 1, 1, 2, 3]) if multi else 1
        root = rng.choice(["photos", "scans"])
        paths = sorted(f"{root}/{tag}/{i:05d}-{k}.JPG" for k in range(npaths))
        rows.append({"id": rng.randbytes(32).hex(), "size": rng.randrange(1 << 30),
                     "taken": rng.choice([0, 20190601123000]),
                     "camera": rng.choice(CAMERAS), "paths": paths,
                     "error": rng.choice(ERRORS), "kind": rng.choice(["image", "video"]),
                     "place": rng.choice([(math.nan, math.nan), (48.8584, 2.2945),
                                          (rng.uniform(-90, 90), rng.uniform(-180, 180))])})
    rows.sort(key=lambda r: r["paths"][0])
    return rows


def _stored(t: CatalogTable) -> tuple[CatalogTable, DictSource]:
    cols, head = t.to_columns()
    src = DictSource(cols)
    return CatalogTable.stored(src, head), src


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kept", ["some", "none", "empty"])
def test_merge_columns_equals_the_merge_through_objects(seed: int, kept: str) -> None:
    """``kept``: the snapshot keeps some of its rows, none (every one is replaced), or has
    none (a store's first add)."""
    rng = random.Random(seed)
    multi = seed % 2 == 1  # rows with several paths: a path_rows column
    nbase = 0 if kept == "empty" else rng.randrange(1, 300)
    base, src = _stored(make_table(_rows(rng, nbase, "old", multi)))
    delta_rows = _rows(rng, rng.randrange(1, 120), rng.choice(["new", "old", "zz"]), multi)
    delta = make_table(delta_rows)
    going = base.n if kept == "none" else min(base.n, rng.randrange(0, 40))
    removed = array("I", sorted(rng.sample(range(base.n), going)))
    # each delta row goes before the snapshot row its first path sorts before
    first = [base.paths[base.first_path(r)] for r in range(base.n)]
    positions = array("I", [next((r for r in range(base.n) if first[r] > d["paths"][0].encode()),
                                 base.n) for d in delta_rows])
    d = _Delta(delta, removed, positions, None)
    want, want_head = _merge(base, d).to_columns()
    got = merge_columns(src, base._head, delta, _segments(base.n, removed, positions))
    assert got is not None
    cols, head = dict(got.columns()), got.head
    assert head.n == want_head.n and head.npaths == want_head.npaths
    assert head.one_per_row == want_head.one_per_row and head.ascii
    assert set(head.roots or ()) == set(want_head.roots or ())
    for name in ("ids", "kinds", "sizes", "taken", "flags", "paths", "path_off", "lower",
                 "id_order", "path_rows", "lat", "lon"):
        assert cols.get(name) == want.get(name), name
    # cameras and error strings may be numbered differently: compare what rows say
    got_t, want_t = CatalogTable.stored(DictSource(cols), head), CatalogTable.stored(
        DictSource(want), want_head)
    assert [got_t.cameras[c] for c in got_t.camera] == [want_t.cameras[c] for c in want_t.camera]
    assert list(got_t.errors) == list(want_t.errors)


def test_a_path_that_is_not_ascii_is_left_to_the_caller() -> None:
    base, src = _stored(make_table([{"paths": ["photos/été.jpg"]}]))
    delta = make_table([{"paths": ["photos/z.jpg"], "id": "ab" * 32}])
    assert merge_columns(src, base._head, delta, [(0, 0, 1), (1, 0, 1)]) is None
