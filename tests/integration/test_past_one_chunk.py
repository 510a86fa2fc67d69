"""A catalog larger than one chunk, through the command line: past ``CHUNK_ROWS`` rows a
limited query (``find --limit``, each page of the web UI's grid) is evaluated a chunk of
rows at a time, a path the small archives of the other tests never take."""

from __future__ import annotations

from pathlib import Path

from mstore.model.meta import Meta
from mstore.model.records import AssetRecorded, PathSeen
from mstore.query.evaluate import CHUNK_ROWS
from mstore.store.store import Store
from tests.helpers import mstore


def _catalog(tmp_path: Path, n: int) -> tuple[Path, list[str]]:
    """A store whose catalog holds ``n`` photos, recorded as an add records them (the
    files themselves are not needed to find them); their ids in path order."""
    (tmp_path / "a").mkdir()
    st = Store.init(tmp_path / "s", [tmp_path / "a"])
    w = st.writer()
    ids = []
    for i in range(n):
        aid = f"{(i + 1) * 7919:016x}" * 4
        w.append(AssetRecorded(hlc=w.now(), id=aid, size=100, meta=Meta(
            kind="image", mime="image/jpeg",
            gps_lat=48.0 + i / 10_000, gps_lon=2.0)))
        w.append(PathSeen(hlc=w.now(), root="a", path=b"d%03d/p%06d.jpg" % (i // 1000, i),
                          asset=aid, size=100, mtime_ns=1, inode=i + 1))
        ids.append(aid)
    w.flush()
    st.close()
    return tmp_path / "s", ids


def test_terms_answered_outside_the_table_in_a_catalog_past_one_chunk(tmp_path: Path) -> None:
    """A collection's members, and the assets near a place, 95 % into a catalog of more
    rows than a chunk: ``find --limit`` lists them (in catalog order, or nearest first),
    and a query that leaves them out leaves them out."""
    n = CHUNK_ROWS + 4000
    store, ids = _catalog(tmp_path, n)
    late = ids[n - 3000:n - 2990]
    (tmp_path / "late.txt").write_text("\n".join(late) + "\n")
    assert mstore("collection", "create", "late", "--assets", tmp_path / "late.txt",
                  store=store).code == 0
    found = mstore("find", "collection:late", "--limit", "5", "--json", store=store)
    assert found.code == 0, found.err
    assert [r["id"] for r in found.json_lines()] == late[:5]
    rest = mstore("find", "-collection:late", f"path:d{(n - 3000) // 1000:03d}/*",
                  "--limit", "2000", "--json", store=store).json_lines()
    assert rest and not {r["id"] for r in rest} & set(late)
    # a tool's page asks the UI's API for the first few (a limit); the grid evaluates the
    # whole query, then pages
    from starlette.testclient import TestClient

    from mstore.ui.api import StoreView
    from mstore.ui.app import create_app

    st = Store(store)
    try:
        assert StoreView(st).find("collection:late", limit=3) == late[:3]
    finally:
        st.close()
    with TestClient(create_app(store), base_url="http://localhost:8765") as client:
        page = client.get("/", params={"q": "collection:late"})
    assert page.status_code == 200 and all(f"/asset/{aid}" in page.text for aid in late)
    # near: a row is 11.1 m from the next; within 30 m of one of them: it and two each side
    k = n - 2995
    near = mstore("find", f"near:{48.0 + k / 10_000},2,30m OR kind:video", "--limit", "10",
                  "--json", store=store)
    assert [r["id"] for r in near.json_lines()] == ids[k - 2:k + 3]
