"""The web UI in process (Starlette's TestClient) over a store with real run results.

Runs are executed directly (no Temporal), like test_run_reading; steering is checked by
replacing only the Temporal client calls.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import time
from collections.abc import Iterator
from itertools import groupby
from pathlib import Path
from urllib.parse import unquote_plus, urlencode

import av
import pytest
from markupsafe import escape
from starlette.applications import Starlette
from starlette.testclient import TestClient

from mstore.errors import UsageError
from mstore.query.snapshot import load_table
from mstore.query.table import MergedTable
from mstore.services.describe import describe_run
from mstore.store import index_runs
from mstore.store.store import Store
from mstore.ui.api import ActionContext, Page, PageContext, ToolUi
from mstore.ui.app import PAGE_SIZE, create_app
from mstore.ui.filters import MONTHS, short_folder
from tests.fixtures.archive import Manifest, _takeout_json
from tests.helpers import mstore
from tests.integration.test_run_reading import CHECK_PIPELINE, DirectRun, run_all
from tests.integration.ui_fuzz import Fuzzer, Request

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
HOSTILE = "<script>alert(1)"
COMBINED = "(vacation OR italy) kind:image taken:2019..2019-12-31"


class World:
    def __init__(self, store: Path, root: Path, sidecars: dict[str, str]) -> None:
        self.store, self.root = store, root
        self.photos = run_all(store, "photos")
        (store / "pipelines").mkdir()
        (store / "pipelines" / "check.toml").write_text(CHECK_PIPELINE)
        self.check = run_all(store, "check")
        self.dedupe = run_all(store, "dedupe")
        self.video = run_all(store, "video", selection="kind:video")
        live = DirectRun(store, "photos", policy="sandbox", sample="6")
        live.units(0, 2)
        live.close()  # left "running": the one to steer
        self.live = live.id
        assert mstore("collection", "create", "trip", "--query", "path:2019/",
                      store=store).code == 0
        st = Store(store)
        try:
            idx = st.index
            with idx.read() as txn:
                arts = index_runs.run_artifacts(idx, txn, self.photos, newest_first=False)
        finally:
            st.close()
        self.thumbs = {a.asset: a for a in arts if a.kind == "thumbnail"}
        self.phash = next(a for a in arts if a.kind == "phash")
        # everything read through the CLI is read now: the CLI and the app must not both
        # hold the store's LMDB index open in one process
        rows = mstore("find", "--json", store=store).json_lines()
        self.total = len(rows)
        self.by_path = {p: r for r in rows for p in r["paths"]}
        # the grid shows these with their file, not as tiles of their own
        self.sidecars = {r["id"] for p, r in self.by_path.items()
                         if any(p.endswith("/" + s) for s in sidecars)}
        assert len(self.sidecars) == len(sidecars) > 0
        self.images = len(mstore("find", "kind:image", "--json", store=store).json_lines())
        self.combined = len(mstore("find", COMBINED, "--json", store=store).json_lines())
        self.text_ids = [r["id"] for r in mstore("find", "kind:text", "--json",
                                                 store=store).json_lines()]


@pytest.fixture(scope="module")
def world(archive: tuple[Path, Manifest], tmp_path_factory: pytest.TempPathFactory) -> World:
    root, manifest = archive
    store = tmp_path_factory.mktemp("ui") / "st"
    assert mstore("init", "--store", store, root).code == 0
    assert mstore("add", "--json", store=store).code == 0
    return World(store, root, manifest.sidecars)


def local(app: Starlette) -> TestClient:
    """A client that asks for the UI at localhost, as a browser on this machine does."""
    return TestClient(app, base_url="http://localhost:8765")


@pytest.fixture(scope="module")
def client(world: World) -> Iterator[TestClient]:
    with local(create_app(world.store)) as c:
        yield c


def asset_id(world: World, suffix: str) -> str:
    return next(r["id"] for p, r in world.by_path.items() if p.endswith(suffix) and r["id"])


def release(client: TestClient) -> None:
    """Close the shared app's store: one LMDB environment per process, so another app (or
    the CLI) may open it; the app reopens it on its next request."""
    client.app.state.ui.close()  # type: ignore[attr-defined]


def csrf(client: TestClient, page: str = "/runs") -> str:
    m = re.search(r'name="csrf" value="([0-9a-f]+)"', client.get(page).text)
    assert m, "no CSRF field on the page"
    return m.group(1)


# -- pages ---------------------------------------------------------------------------------
def test_assets_grid_query_filters_and_pages(world: World, client: TestClient) -> None:
    r = client.get("/")
    assert r.status_code == 200
    total = world.total - len(world.sidecars)  # those are shown with their files
    assert f"{total:,} matches (and {len(world.sidecars)} sidecars shown with" in r.text
    tiles = re.findall(r'<li class="tile', r.text)
    assert len(tiles) == min(total, PAGE_SIZE)
    # thumbnails come from thumbnail artifacts, by artifact id
    thumb = next(iter(world.thumbs.values()))
    assert f"/artifact/{thumb.id}/payload" in r.text or total > PAGE_SIZE
    assert 'class="placeholder">text<' in r.text or 'class="placeholder">' in r.text
    # the same language as find
    r = client.get("/", params={"kind": "image"})
    assert f"{world.images:,} match" in r.text and "kind:image" in r.text
    r = client.get("/", params={"q": "vacation OR italy", "kind": "image", "from": "2019",
                                "to": "2019-12-31"})
    assert r.status_code == 200
    assert COMBINED in r.text and world.combined > 0
    assert f"{world.combined:,} match" in r.text
    # pagination: a second page when there are more rows than a page
    if total > PAGE_SIZE:
        assert 'rel="next"' in r.text or 'rel="next"' in client.get("/").text
        r2 = client.get("/", params={"offset": PAGE_SIZE})
        assert r2.status_code == 200 and 'rel="prev"' in r2.text
        assert len(re.findall(r'<li class="tile', r2.text)) == min(total - PAGE_SIZE,
                                                                     PAGE_SIZE)
    # in another order, page after page: the order of find --sort (sidecars folded in)
    for key in ("-taken", "size"):
        shown: list[str] = []
        while len(shown) < total:
            page = client.get("/", params={"sort": key, "offset": len(shown)})
            assert page.status_code == 200 and f'<option value="{key}" selected>' in page.text
            assert len(shown) + PAGE_SIZE >= total or f"sort={key}" in page.text  # the pager
            ids = [m for m in re.findall(r'href="/asset/([0-9a-f]{64})"', page.text)]
            assert ids
            shown += list(dict.fromkeys(ids))
        listed = [r["id"] for r in mstore("find", "--json", "--sort", key,
                                          store=world.store).json_lines()]
        assert shown == [i for i in listed if i in set(shown)] and len(shown) == total
    # ordered by capture time, the grid is a timeline: a heading where the month changes
    assert 'class="month"' not in client.get("/").text
    months = []
    for off in range(0, total, PAGE_SIZE):
        page = client.get("/", params={"sort": "-taken", "offset": off}).text
        months += re.findall(r'<li class="month">([^<]*)</li>', page)
    months = [m for m, _ in groupby(months)]  # a page opens with its month's heading again
    dated = [m for m in months if m != "no capture time"]
    ym = [(int(m.split()[1]), MONTHS.index(m.split()[0]) + 1) for m in dated]
    assert len(ym) > 1 and ym == sorted(set(ym), reverse=True)
    assert months[len(dated):] == ["no capture time"]  # the undated, once, at the end
    bad = client.get("/", params={"sort": "colour"})
    assert bad.status_code == 400 and "unknown order &#39;colour&#39;" in bad.text
    # "on this day": today's date in every year, newest first, as find has it
    link = re.search(r'<a class="memories" href="([^"]*)">on this day</a>',
                     client.get("/").text)
    assert link is not None
    day = time.strftime("*-%m-%d")
    assert html.unescape(link.group(1)) == "/?" + urlencode({"q": f"taken:{day}",
                                                                 "sort": "-taken"})
    page = client.get(html.unescape(link.group(1)))
    assert page.status_code == 200
    found = mstore("find", f"taken:{day}", "--count", store=world.store).out.strip()
    assert f"{int(found):,} match" in page.text
    # a bad query or filter: 400 with the message, not a crash
    assert client.get("/", params={"q": "kind:"}).status_code == 400
    assert client.get("/", params={"from": "2019) OR (x"}).status_code == 400
    assert client.get("/", params={"kind": "nonsense"}).status_code == 400


def tiles_on(page: str) -> dict[str, dict[str, str]]:
    """asset id -> what its grid tile shows (caption, folder line, sidecar badge)."""
    out = {}
    for m in re.finditer(r'<li class="tile[^"]*">(.*?)</li>', page, re.S):
        tile = m.group(1)
        aid = re.search(r'href="/asset/([0-9a-f]{64})"', tile)
        if aid is None:
            continue
        spans = dict(re.findall(r'<span class="(caption|sub folder|sidecars)"[^>]*>(.*?)</span>',
                                tile, re.S))
        out[aid.group(1)] = {"caption": spans.get("caption", ""),
                             "folder": re.sub(r"</?bdi>", "", spans.get("sub folder", "")),
                             "sidecars": " ".join(spans.get("sidecars", "").split())}
    return out


def test_sidecars_go_with_their_file_and_tiles_show_their_folder(
        tmp_path: Path, client: TestClient) -> None:
    """An .xmp/.aae next to its photo is no tile of its own but a badge on the photo's;
    it is a tile when the photo is not in the result or the query asks for sidecars.
    Same-named files differ by their folder line; an asset page is titled by its name."""
    from PIL import Image

    release(client)
    root = tmp_path / "archive"
    for day, color in (("day1", "red"), ("day2", "blue")):
        (root / "trip" / day).mkdir(parents=True)
        Image.new("RGB", (32, 24), color).save(root / "trip" / day / "IMG_0001.JPG")
    (root / "trip/day1/IMG_0001.JPG.xmp").write_text('<x:xmpmeta xmlns:x="adobe:ns:meta/"/>\n')
    (root / "trip/day1/IMG_0001.AAE").write_text('<?xml version="1.0"?><plist></plist>\n')
    (root / "notes").mkdir()
    (root / "notes/lonely.xmp").write_text("<x:xmpmeta/>\n")  # no photo next to it
    (root / "trip/day2/IMG_0001.JPG.supplemental-metadata.json").write_bytes(  # Takeout's
        _takeout_json("IMG_0001.JPG", 1530000000, (48.85, 2.35)))
    store = tmp_path / "st"
    assert mstore("init", "--store", store, root).code == 0
    assert mstore("add", store=store).code == 0
    ids = {p.split("/", 1)[1]: r["id"]
           for r in mstore("find", "--json", store=store).json_lines() for p in r["paths"]}
    day1, day2 = ids["trip/day1/IMG_0001.JPG"], ids["trip/day2/IMG_0001.JPG"]
    xmp, aae = ids["trip/day1/IMG_0001.JPG.xmp"], ids["trip/day1/IMG_0001.AAE"]
    lonely = ids["notes/lonely.xmp"]
    takeout = ids["trip/day2/IMG_0001.JPG.supplemental-metadata.json"]
    with local(create_app(store)) as c:
        page = c.get("/").text
        tiles = tiles_on(page)
        assert set(tiles) == {day1, day2, lonely}
        assert "3 matches (and 3 sidecars shown with their files)" in page
        assert tiles[day1]["caption"] == tiles[day2]["caption"] == "IMG_0001.JPG"
        assert tiles[day1]["folder"] == "archive/trip/day1"
        assert tiles[day2]["folder"] == "archive/trip/day2"
        assert tiles[day1]["sidecars"] == "+ AAE, XMP" and tiles[day2]["sidecars"] == "+ JSON"
        # a query that matches both: still one tile
        assert set(tiles_on(c.get("/", params={"q": "IMG_0001"}).text)) == {day1, day2}
        # a query that names sidecars lists them
        for params in ({"q": "ext:xmp"}, {"kind": "text"}, {"q": "IMG_0001.JPG.xmp"},
                       {"q": "path:*.aae OR kind:image"}):
            shown = set(tiles_on(c.get("/", params=params).text))
            assert shown & {xmp, aae}, params
        assert takeout in set(tiles_on(c.get("/", params={"q": "ext:json"}).text))
        # the photo not in the result: its sidecars are tiles of their own
        assert set(tiles_on(c.get("/", params={"q": "-kind:image"}).text)) == {
            xmp, aae, lonely, takeout}
        # the sidecars not in the result: the photo's tile still says it has some
        assert tiles_on(c.get("/", params={"kind": "image"}).text)[day1]["sidecars"] == (
            "+ sidecar")
        # the asset page: named by the file, the sidecars linked both ways
        r = c.get(f"/asset/{day1}")
        assert "<title>IMG_0001.JPG (archive/trip/day1) · mstore</title>" in r.text
        assert "<h1>IMG_0001.JPG" in r.text
        assert f'class="related-sidecar" href="/asset/{xmp}">IMG_0001.JPG.xmp<' in r.text
        assert f'class="related-sidecar" href="/asset/{aae}">IMG_0001.AAE<' in r.text
        r = c.get(f"/asset/{xmp}")
        assert "<title>IMG_0001.JPG.xmp (archive/trip/day1) · mstore</title>" in r.text
        assert f'class="related-sidecar-of" href="/asset/{day1}">IMG_0001.JPG<' in r.text
        c.app.state.ui.close()  # type: ignore[attr-defined]
        # a sidecar arriving later: the catalog table is the snapshot plus a delta then
        (root / "trip/day2/IMG_0001.xmp").write_text("<x:xmpmeta>day2</x:xmpmeta>\n")
        assert mstore("add", store=store).code == 0
        st = Store(store)
        try:
            assert isinstance(load_table(st), MergedTable)
        finally:
            st.close()
        tiles = tiles_on(c.get("/").text)
        assert set(tiles) == {day1, day2, lonely} and tiles[day2]["sidecars"] == "+ JSON, XMP"
        # a long folder is cut at its front, a whole folder at a time
        long_folder = "archive/" + "/".join(f"level{i:02d}" for i in range(12))
        assert short_folder(long_folder + "/x.jpg") == "…/level09/level10/level11"


def test_asset_page(world: World, client: TestClient) -> None:
    aid = asset_id(world, "vacation/IMG_0002.JPG")  # a JPEG: the browser shows the file
    thumb = world.thumbs[aid]
    r = client.get(f"/asset/{aid}")
    assert r.status_code == 200
    t = r.text
    assert aid in t and f"/asset/{aid}/file" in t  # the image itself, by id
    assert "Metadata" in t and "Paths" in t and "dimensions" in t
    assert f"/artifact/{thumb.id}" in t and "thumbnail@" in t and world.photos in t
    assert "size=256" in t  # params inline
    # the metadata panel says what `mstore show` says, line for line: where the capture
    # time and place came from, the units
    photo = asset_id(world, "2019/vacation/IMG_0001.JPG")
    shown = mstore("show", photo, store=world.store).out.splitlines()
    facts = shown[2:shown.index("paths")]  # after the id and kind lines
    assert any(line.startswith("taken") and line.endswith("(exif)") for line in facts)
    assert any(line.startswith("gps") for line in facts)
    panel = client.get(f"/asset/{photo}").text.split('id="panel-metadata"', 1)[1]
    panel = panel.split("</section>", 1)[0]
    for line in facts:
        assert f"<dt>{line[:11].strip()}</dt><dd>{escape(line[11:])}</dd>" in panel, line
    # ... and links to the photos taken near it and on its day, as find has them
    links = dict((text, html.unescape(href)) for href, text in re.findall(
        r'<a href="([^"]*)">(taken within 1 km|that day)</a>', panel))
    day = mstore("show", photo, "--json", store=world.store).json()["meta"]["taken"][:10]
    assert links == {"taken within 1 km": "/?" + urlencode({"q": f"near:{photo}"}),
                     "that day": "/?" + urlencode({"q": f"taken:{day}", "sort": "taken"})}
    for href in links.values():
        q = dict(re.findall(r"([a-z]+)=([^&]*)", href.split("?", 1)[1]))
        want = mstore("find", unquote_plus(q["q"]), "--count", store=world.store).out.strip()
        assert f"{int(want):,} match" in client.get(href).text
    # text preview: an excerpt, escaped
    tid = world.text_ids[0]
    r = client.get(f"/asset/{tid}")
    assert r.status_code == 200 and '<pre class="excerpt">' in r.text
    # no capture time, no place: the metadata panel without those links, not an error
    assert 'id="panel-metadata"' in r.text and "panel error" not in r.text
    assert "taken within 1 km" not in r.text and ">that day<" not in r.text
    # an asset with a probe error shows it
    bad = asset_id(world, "hostile/truncated.jpg")
    assert "Errors" in client.get(f"/asset/{bad}").text
    assert client.get("/asset/" + "0" * 64).status_code == 404


def test_artifact_page_lineage_both_ways(world: World, client: TestClient) -> None:
    ph = world.phash
    r = client.get(f"/artifact/{ph.id}")
    assert r.status_code == 200
    assert "phash@1" in r.text and world.photos in r.text
    for i in ph.inputs:  # up: its inputs (the asset and the thumbnail)
        assert f"{i[:12]}" in r.text
    thumb_in = next(i for i in ph.inputs if i in {t.id for t in world.thumbs.values()})
    r = client.get(f"/artifact/{thumb_in}")
    assert r.status_code == 200
    derived = r.text.split("Derived", 1)[1]
    assert f"/artifact/{ph.id}" in derived  # down: what was made from it
    p = client.get(f"/artifact/{thumb_in}/payload")
    assert p.status_code == 200 and p.headers["content-type"].startswith("image/")
    assert len(p.content) > 100
    d = client.get(f"/artifact/{ph.id}/payload")  # data-only: its JSON
    assert d.status_code == 200 and "phash" in d.json()
    assert client.get("/artifact/" + "f" * 64).status_code == 404
    assert client.get("/artifact/" + "f" * 64 + "/payload").status_code == 404


def test_addresses_take_ids_or_unique_prefixes(world: World, client: TestClient) -> None:
    """A page's address is resolved like a name typed on the command line: a unique
    prefix shows the page; nothing matching is a 404 page that says what was not found,
    an ambiguous prefix a 400 that says so."""
    aid, ph = next(iter(world.thumbs)), world.phash
    r = client.get(f"/asset/{aid[:10]}")
    assert r.status_code == 200 and f"/asset/{aid}/file" in r.text
    r = client.get(f"/artifact/{ph.id[:10]}")
    assert r.status_code == 200 and "phash@1" in r.text
    r = client.get(f"/run/{world.photos[:-1]}")
    assert r.status_code == 200 and f'data-live="/run/{world.photos}/live"' in r.text
    r = client.get("/run/r2")  # every run here starts so
    assert r.status_code == 400 and "ambiguous run prefix" in r.text
    missing = client.get("/asset/" + "0" * 64)
    assert missing.status_code == 404 and "0" * 16 in missing.text
    assert '<a class="brand"' in missing.text  # a page of the UI, not a bare "not found"
    for address in ("/asset/IMG_0001.JPG", f"/asset/{ph.id}", "/run/nope",
                    "/run/r20990101-000000-beef", "/artifact/" + "f" * 64,
                    "/collection/nope"):
        assert client.get(address).status_code == 404, address
    assert client.get(f"/asset/{aid[:10]}/file").status_code == 404  # files: full ids only


def test_runs_dashboard_run_page_and_events(world: World, client: TestClient) -> None:
    r = client.get("/runs")
    assert r.status_code == 200
    for rid in (world.photos, world.check, world.live):
        assert rid in r.text
    assert "<progress" in r.text and 'data-live="/runs/events"' in r.text
    assert 'action="/run/' + world.live + '/pause"' in r.text
    assert f"/workflows/{world.live}" in r.text  # the run in Temporal's own web UI
    ev = client.get("/runs/events", params={"count": "1"})
    assert ev.status_code == 200 and ev.headers["content-type"].startswith("text/event-stream")
    import json

    [frame] = [line for line in ev.text.splitlines() if line.startswith("data: ")]
    views = {v["id"]: v for v in json.loads(frame[6:])}
    assert views[world.photos]["state"] in ("completed", "failed")  # hostile files fail
    assert views[world.photos]["done"] > 0
    assert views[world.live]["total"] >= views[world.live]["done"] >= 2

    r = client.get(f"/run/{world.check}")
    assert r.status_code == 200
    assert "Coverage per step" in r.text and "scan_001.jpg" in r.text
    assert f'action="/run/{world.check}/rerun"' in r.text
    r = client.get(f"/run/{world.photos}")
    assert r.status_code == 200 and "Results so far" in r.text and "/payload" in r.text
    # its results: the thumbnails as pictures; the hashes and metadata (data) counted by
    # kind, each kind's newest linked, not a grey tile each
    gallery = r.text.split('id="panel-gallery"', 1)[1].split("</section>", 1)[0]
    assert 'class="placeholder"' not in gallery
    st = Store(world.store)
    try:
        shown = describe_run(st, world.photos, limit=60)["recent_artifacts"]
    finally:
        st.close()
    for kind in ("metadata", "phash"):
        newest = next(a for a in shown if a["kind"] == kind)
        n = sum(a["kind"] == kind for a in shown)
        assert f'<a href="/artifact/{newest["id"]}" title="the newest, ' in gallery
        assert f">{n} {kind}</a>" in gallery
    pictures = [a for a in shown if a["kind"] == "thumbnail"]
    assert gallery.count("<img ") == len(pictures) > 0
    # a sandbox trial's page links its comparison with the pipeline's newest production
    # run: the diff page shows the params that differ and the results, as `mstore diff`
    trial = client.get(f"/run/{world.live}").text
    assert f'href="/diff?a={world.live}&amp;b={world.photos}"' in trial
    assert f'href="/diff?a={world.photos}&amp;b={world.live}"' in r.text
    page = client.get("/diff", params={"a": world.live, "b": world.photos})
    assert page.status_code == 200
    want = mstore("diff", world.live, world.photos, "--json", store=world.store).json()
    changed = want["steps"][1]["params"]
    assert changed["size"] == [128, 256]
    assert "<td>thumbnail</td>" in page.text and "<code>size</code> 128 → 256" in page.text
    for st in want["steps"]:
        assert (f"<td>{st['same']:,}</td><td>{st['differs']:,}</td>"
                f"<td>{st['one_only']:,}</td>") in page.text
    assert client.get("/diff", params={"a": "r-nosuch", "b": world.photos}).status_code == 400
    assert client.get("/diff").status_code == 400
    # the live part: the page's body alone, re-rendered while the run goes
    live = client.get(f"/run/{world.live}/live")
    assert live.status_code == 200 and "<html" not in live.text
    assert 'data-run-state="running"' in live.text and "Coverage per step" in live.text
    assert f'data-live="/run/{world.live}/live"' in client.get(f"/run/{world.live}").text
    assert client.get("/run/r2000-nothing").status_code == 404
    assert client.get("/run/../etc").status_code == 404


def test_collections_page(client: TestClient) -> None:
    r = client.get("/collections")
    assert r.status_code == 200 and "trip" in r.text and "path:2019/" in r.text
    r = client.get("/collection/trip")
    assert r.status_code == 200 and "dynamic" in r.text and "/freeze" in r.text
    assert 'class="tile' in r.text
    assert client.get("/collection/nope").status_code == 404


def test_collection_from_the_query_then_frozen(world: World, client: TestClient) -> None:
    token = csrf(client, "/")
    page = client.get("/", params={"q": "vacation", "kind": "image"}).text
    assert 'action="/collections/create"' in page
    query = re.search(r'name="query" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    assert query == "(vacation) kind:image"
    r = client.post("/collections/create", data={"csrf": token, "name": "ui-vacation",
                                                   "query": query}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/collection/ui-vacation"
    shown = client.get("/collection/ui-vacation").text
    n = len(re.findall(r'<li class="tile', shown))
    assert n == len(mstore_json(client, world, "find", query)) > 0
    # the same name again, a bad name, a bad query: the message, nothing written
    for data, msg in (({"name": "ui-vacation", "query": query}, "exists"),
                      ({"name": "no spaces", "query": query}, "collection name"),
                      ({"name": "broken", "query": "kind:"}, "kind:")):
        r = client.post("/collections/create", data={"csrf": token, **data})
        assert r.status_code == 400 and msg in r.text
    # freeze keeps exactly the members now
    r = client.post("/collection/ui-vacation/freeze", data={"csrf": token},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "frozen" in client.get("/collection/ui-vacation").text
    r = client.post("/collection/ui-vacation/freeze", data={"csrf": token})
    assert r.status_code == 409 and "frozen already" in r.text
    assert client.post("/collections/create", data={"name": "x", "query": ""}).status_code == 403
    rows = {c["name"]: c for c in mstore_json(client, world, "collection", "list")}
    assert rows["ui-vacation"]["type"] == "frozen" and rows["ui-vacation"]["count"] == n
    assert "broken" not in rows
    # and deleted: gone from the list, its page a 404; deleting again is refused
    r = client.post("/collection/ui-vacation/delete", data={"csrf": token},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/collections"
    assert "ui-vacation" not in client.get("/collections").text
    assert client.get("/collection/ui-vacation").status_code == 404
    assert client.post("/collection/ui-vacation/delete", data={"csrf": token}).status_code == 404
    assert client.post("/collection/trip/delete").status_code == 403


def mstore_json(client: TestClient, world: World, *args: str) -> list[dict]:
    """What the CLI says about the store now (the app's index released first)."""
    release(client)
    return mstore(*args, "--json", store=world.store).json_lines()


def test_hostile_names_are_escaped(world: World, client: TestClient) -> None:
    hostile = [r for p, r in world.by_path.items() if "script" in p or "quoted" in p]
    assert hostile
    pages = ["/", "/?q=hostile", "/?q=" + "<script>alert(1)</script>", "/runs",
             f"/run/{world.photos}", f"/run/{world.check}", "/collections", "/review",
             f"/run/{world.dedupe}"]
    for r in hostile:
        pages.append(f"/asset/{r['id']}")
        if r["id"] in world.thumbs:
            pages.append(f"/artifact/{world.thumbs[r['id']].id}")
    seen_escaped = False
    for page in pages:
        resp = client.get(page)
        assert resp.status_code in (200, 400), page
        assert HOSTILE not in resp.text, page
        seen_escaped |= "&lt;script&gt;alert(1)" in resp.text
    assert seen_escaped


def test_panel_registry(world: World, client: TestClient) -> None:
    def hello(ctx):  # noqa: ANN001, ANN202
        return ctx.render("<b class='plug'>{{ v }}</b>", v=f"{ctx.subject[:8]} <i>")

    def plain(ctx):  # noqa: ANN001, ANN202
        return "<script>alert(1)</script>"

    def broken(ctx):  # noqa: ANN001, ANN202
        raise RuntimeError("boom")

    def register(ui: ToolUi) -> None:
        ui.panel("asset-sidebar", "hello", hello, title="Hello")
        ui.panel("asset-sidebar", "plain", plain)
        ui.panel("asset-sidebar", "broken", broken)
        ui.panel("asset-sidebar", "metadata", plain)  # replaces the UI's own panel

    aid = next(iter(world.thumbs))
    release(client)
    with local(create_app(world.store, extensions={"mine": register})) as c:
        t = c.get(f"/asset/{aid}").text
        assert f"<b class='plug'>{aid[:8]} &lt;i&gt;</b>" in t
        assert "&lt;script&gt;alert(1)" in t and HOSTILE not in t
        assert "panel error: RuntimeError: boom" in t
        assert "dimensions" not in t  # the built-in metadata panel was replaced
        c.app.state.ui.close()  # type: ignore[attr-defined]
    # registrations belong to their app: another app in this process has none of them
    t = client.get(f"/asset/{aid}").text
    assert "plug" not in t and "panel error" not in t and "dimensions" in t
    with pytest.raises(ValueError):
        ToolUi("x", None).panel("nowhere", "x", hello)


# -- files -------------------------------------------------------------------------------
def test_asset_file_serves_only_the_assets_own_file(world: World, client: TestClient) -> None:
    aid = asset_id(world, "vacation/IMG_0002.JPG")
    r = client.get(f"/asset/{aid}/file", params={"path": "/etc/passwd"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    rel = next(p for p, x in world.by_path.items() if x["id"] == aid).split("/", 1)[1]
    assert r.content == (world.root / rel).read_bytes()
    for bad in ["/asset/../../etc/passwd/file", "/asset/..%2F..%2Fetc%2Fpasswd/file",
                "/asset/%2Fetc%2Fpasswd/file", "/asset//etc/passwd/file",
                f"/asset/{aid}/../../../../etc/passwd", f"/asset/{aid}%2F..%2F..%2Fx/file",
                f"/asset/{aid[:12]}/file", "/asset/" + "0" * 64 + "/file",
                f"/asset/{aid.upper()}/file", "/static/../app.py", "/static/%2e%2e/app.py"]:
        resp = client.get(bad)
        assert resp.status_code == 404, bad
        assert b"root:" not in resp.content


def test_a_motion_photo_plays_its_video(world: World, client: TestClient) -> None:
    """The asset page of a motion photo plays the video appended to its picture, served
    from the file's end by the asset's id; any other asset has none."""
    aid = asset_id(world, "Camera/PXL_20230101_123456789.MP.jpg")
    page = client.get(f"/asset/{aid}").text
    assert f'src="/asset/{aid}/motion"' in page and "motion photo" in page
    r = client.get(f"/asset/{aid}/motion")
    assert r.status_code == 200 and r.headers["content-type"] == "video/mp4"
    data = (world.root / "Camera/PXL_20230101_123456789.MP.jpg").read_bytes()
    back = mstore("show", aid, "--json", store=world.store).json()["meta"]["motion_video"]
    assert r.content == data[-back:] and r.content[4:8] == b"ftyp"
    with av.open(io.BytesIO(r.content)) as c:  # a video a player opens
        assert c.streams.video and c.streams.video[0].codec_context.name == "h264"
    still = asset_id(world, "vacation/IMG_0002.JPG")
    assert "/motion" not in client.get(f"/asset/{still}").text
    for bad in (still, aid[:12], "0" * 64):
        assert client.get(f"/asset/{bad}/motion").status_code == 404, bad


def test_asset_file_refuses_a_symlink_out_of_the_root(tmp_path: Path, client: TestClient
                                                      ) -> None:
    release(client)
    root = tmp_path / "archive"
    root.mkdir()
    (root / "a.txt").write_text("inside\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("outside\n")
    store = tmp_path / "st"
    assert mstore("init", "--store", store, root).code == 0
    assert mstore("add", store=store).code == 0
    [row] = mstore("find", "--json", store=store).json_lines()
    with local(create_app(store)) as c:
        assert c.get(f"/asset/{row['id']}/file").text == "inside\n"
        os.unlink(root / "a.txt")
        os.symlink(secret, root / "a.txt")  # swapped after cataloging
        r = c.get(f"/asset/{row['id']}/file")
        assert r.status_code == 404 and "outside" not in r.text
        os.unlink(root / "a.txt")
        os.symlink("../secret.txt", root / "a.txt")
        assert c.get(f"/asset/{row['id']}/file").status_code == 404


# -- auth, CSRF, steering ------------------------------------------------------------------
def test_token_required_off_loopback(world: World, client: TestClient) -> None:
    release(client)
    with pytest.raises(ValueError):
        create_app(world.store, bind="0.0.0.0")
    with local(create_app(world.store, token="s3cret", bind="0.0.0.0")) as c:
        for page in ("/", "/runs", "/runs/events?count=1", "/static/ui.css",
                     f"/run/{world.photos}"):
            assert c.get(page).status_code == 401, page
        assert c.get("/", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert c.get("/?token=wrong").status_code == 401
        assert c.get("/runs", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        r = c.get("/runs?token=s3cret", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/runs"  # token dropped
        assert c.get("/runs").status_code == 200  # the cookie from now on
        assert c.post(f"/run/{world.live}/pause").status_code == 403  # still needs CSRF


def test_post_needs_csrf(world: World, client: TestClient) -> None:
    for url in (f"/run/{world.live}/pause", f"/run/{world.live}/cancel",
                f"/run/{world.check}/rerun"):
        assert client.post(url).status_code == 403
        assert client.post(url, data={"csrf": "0" * 64}).status_code == 403
    # a token from another session does not work either
    release(client)
    with local(create_app(world.store)) as other:
        foreign = csrf(other)
    assert client.post(f"/run/{world.live}/pause", data={"csrf": foreign}).status_code == 403
    assert client.get("/run/" + world.live + "/pause").status_code == 405


class FakeCli:
    """Stands in for the ``mstore`` child process the run buttons start (the real one is
    driven by the browser tests): records each argv, answers like the command would."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, out: str = "",
                 fail: str | None = None) -> None:
        from mstore.ui import orchestrate

        self.calls: list[list[str]] = []
        self.out, self.fail = out, fail
        monkeypatch.setattr(orchestrate, "mstore_cli", self)

    def __call__(self, store_dir: Path, *args: str) -> str:
        from mstore.errors import UsageError

        self.calls.append(list(args))
        if self.fail:
            raise UsageError(self.fail)
        if "--dry-run" in args:  # a plan: what run --dry-run --json answers
            return json.dumps(DRY_RUN)
        return self.out


DRY_RUN = {"dry_run": True, "pipeline": "photos", "policy": "production", "units": 2,
           "selected": 2, "sample": None, "processes": 2, "estimate_s": 0.1,
           "units_followed": 2, "steps": [
               {"name": "thumbnail", "tool": "thumbnail", "version": "2", "params": {"size": 256},
                "shape": "per-asset", "resource": "cpu", "applies": 2, "reuse": 1, "compute": 1,
                "ms_per_unit": 90.0, "measured_in": "r20990101-000000-cafe",
                "same_params": True, "seconds": 0.1}]}


def test_buttons_steer_the_run(world: World, client: TestClient,
                               monkeypatch: pytest.MonkeyPatch) -> None:
    cli = FakeCli(monkeypatch)
    token = csrf(client)
    for action in ("pause", "resume", "cancel"):
        r = client.post(f"/run/{world.live}/{action}", data={"csrf": token},
                        follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/run/{world.live}"
    assert cli.calls == [["pause", world.live], ["resume", world.live],
                         ["cancel", world.live]]
    # what the command refuses (a finished run) comes back as the page's message
    FakeCli(monkeypatch, fail=f"run {world.check} is already completed")
    r = client.post(f"/run/{world.check}/pause", data={"csrf": token})
    assert r.status_code == 409 and "already completed" in r.text
    assert client.post(f"/run/{world.live}/explode", data={"csrf": token}).status_code == 404


def test_rerun_failed_button(world: World, client: TestClient,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    cli = FakeCli(monkeypatch, out="r20990101-000000-beef\n")
    r = client.post(f"/run/{world.check}/rerun", data={"csrf": csrf(client, f"/run/{world.check}")},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/run/r20990101-000000-beef"
    assert cli.calls == [["rerun", world.check, "--failed"]]


def test_start_a_run_from_the_ui(world: World, client: TestClient,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    cli = FakeCli(monkeypatch, out='{"run": "r20990101-000000-cafe", "units": 5}\n')
    page = client.get("/runs", params={"q": "kind:image", "pipeline": "dedupe"}).text
    assert 'action="/runs/start"' in page and 'value="kind:image"' in page
    for name in ("photos", "video", "dedupe", "check"):
        assert f'<option value="{name}"' in page
    assert "selected" in page.split('<option value="dedupe"', 1)[1].split(">", 1)[0]
    token = csrf(client)
    r = client.post("/runs/start", data={"csrf": token, "pipeline": "photos",
                                         "q": "kind:image", "policy": "sandbox",
                                         "sample": "5"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/run/r20990101-000000-cafe"
    r = client.post("/runs/start", data={"csrf": token, "pipeline": "photos",
                                         "policy": "production", "sample": "5"},
                    follow_redirects=False)
    assert r.status_code == 303
    assert cli.calls == [
        ["run", "photos", "--sandbox", "--json", "--sample", "5", "--", "kind:image"],
        ["run", "photos", "--production", "--json", "--"]]  # production: no sample
    r = client.post("/runs/start", data={"csrf": token, "pipeline": "photos",
                                         "policy": "yolo"})
    assert r.status_code == 400 and "unknown policy" in r.text
    for data, msg in (({"pipeline": "nope"}, "unknown pipeline"),
                      ({"pipeline": "--store=/etc"}, "unknown pipeline"),
                      ({"pipeline": "photos", "sample": "--force"}, "a sample is")):
        r = client.post("/runs/start", data={"csrf": token, **data})
        assert r.status_code == 400 and msg in r.text, data
    assert len(cli.calls) == 2  # none of those reached the command line
    FakeCli(monkeypatch, fail="'kind:' needs a value")
    r = client.post("/runs/start", data={"csrf": token, "pipeline": "photos", "q": "kind:"})
    assert r.status_code == 400 and "needs a value" in r.text
    assert client.post("/runs/start", data={"pipeline": "photos"}).status_code == 403
    # the assets page offers it for the query shown
    assert "/runs?q=kind%3Aimage" in client.get("/", params={"kind": "image"}).text


def test_plan_a_run_from_the_ui(world: World, client: TestClient) -> None:
    """The start form's Plan button: per step what the run would reuse and compute and
    the tool time (the numbers of mstore run --dry-run, through the real command), and a
    button that starts exactly that run. Nothing is started by planning."""
    assert 'formaction="/runs/plan"' in client.get("/runs").text
    token = csrf(client)
    def run_ids() -> list[str]:
        return [v["id"] for v in mstore("log", "--json", store=world.store).json_lines()]

    runs_before = run_ids()
    form = {"csrf": token, "pipeline": "photos", "q": "kind:image", "policy": "production"}
    r = client.post("/runs/plan", data=form)
    assert r.status_code == 200, r.text
    d = mstore("run", "photos", "--production", "-n", "--json", "--", "kind:image",
               store=world.store).json()
    rows = {m.group(1): m.group(2) for m in re.finditer(
        r"<tr><td>([a-z]+)</td>(.*?)</tr>", r.text, re.S)}
    assert list(rows) == [st["name"] for st in d["steps"]]
    for st in d["steps"]:
        assert (f"<td>{st['applies']:,}</td><td>{st['reuse']:,}</td>"
                f"<td>{st['compute']:,}</td>") in rows[st["name"]]
    assert f"{d['units']:,} of {d['selected']:,} selected" in r.text
    for name, value in (("pipeline", "photos"), ("q", "kind:image"), ("policy", "production")):
        assert f'name="{name}" value="{value}"' in r.text
    assert 'action="/runs/start"' in r.text
    assert run_ids() == runs_before
    assert client.post("/runs/plan", data={**form, "policy": "yolo"}).status_code == 400
    bad = client.post("/runs/plan", data={**form, "q": "kind:"})
    assert bad.status_code == 400 and "needs a value" in bad.text
    assert client.post("/runs/plan", data={**form, "csrf": "0"}).status_code == 403


def test_run_buttons_go_through_the_command_line(world: World) -> None:
    """The real child process: a refusal of the command reaches the page's message."""
    from mstore.errors import UsageError
    from mstore.ui import orchestrate

    with pytest.raises(UsageError, match="unknown pipeline 'nope'"):
        orchestrate.start_run(world.store, "nope", "", "sandbox", "")
    with pytest.raises(UsageError, match="already"):
        orchestrate.steer(world.store, world.check, "pause")


def test_only_its_own_host_names_are_served(world: World, client: TestClient) -> None:
    """DNS rebinding: evil.example made to resolve to 127.0.0.1 reaches the UI with
    ``Host: evil.example``. It gets no page, no session and no CSRF token, and its POST
    changes nothing; localhost, the loopback addresses and configured names work."""
    token = csrf(client, "/")  # from the real page, in this client's session
    evil = {"Host": "evil.example:8765"}
    r = client.get("/", headers=evil)
    assert r.status_code == 400 and "not served here" in r.text
    assert 'name="csrf"' not in r.text and "set-cookie" not in r.headers
    for page in ("/runs", "/collections", "/review", "/healthz", "/static/ui.css",
                 "/runs/events?count=1", f"/run/{world.photos}", "/no/such/page"):
        assert client.get(page, headers=evil).status_code == 400, page
    for host in ("evil.example", "127.0.0.1.evil.example", "localhost.evil.example", "",
                 "[::2]", "10.0.0.1", "localhost:80@evil.example"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 400, host
    r = client.post("/collections/create", data={"csrf": token, "name": "rebound", "query": ""},
                    headers={**evil, "Origin": "http://evil.example:8765"})
    assert r.status_code == 400
    # a POST from another site's page to the right host: refused by its Origin
    for origin in ("http://evil.example:8765", "http://localhost.evil.example", "file://",
                   "http://localhost:8765/x"):
        r = client.post("/collections/create", headers={"Origin": origin},
                        data={"csrf": token, "name": "rebound", "query": ""})
        assert r.status_code == 403, origin
    assert client.get("/collection/rebound").status_code == 404
    for host in ("localhost", "localhost:9999", "LOCALHOST:8765", "127.0.0.1", "127.0.0.1:8765",
                 "[::1]", "[::1]:8765"):
        assert client.get("/healthz", headers={"Host": host}).status_code == 200, host
    # the same origin may POST (a refusal of the name itself proves it got through)
    r = client.post("/collections/create", headers={"Origin": "http://localhost:8765"},
                    data={"csrf": token, "name": "no spaces", "query": ""})
    assert r.status_code == 400 and "collection name" in r.text


def test_configured_host_names(world: World, client: TestClient) -> None:
    """Names from ``--allow-host`` (create_app's hosts) and ``[ui] hosts`` in config.toml."""
    release(client)
    config = world.store / "config.toml"
    before = config.read_text()
    try:
        config.write_text(before + '\n[ui]\nhosts = ["album.home"]\n')
        with local(create_app(world.store, hosts=["photos.lan", "192.168.1.5"])) as c:
            for host in ("photos.lan", "photos.lan:8765", "album.home", "192.168.1.5:80"):
                assert c.get("/healthz", headers={"Host": host}).status_code == 200, host
            assert c.get("/healthz", headers={"Host": "evil.example"}).status_code == 400
            assert c.get("/healthz", headers={"Host": "192.168.1.6"}).status_code == 400
            page = c.get("/collections", headers={"Host": "photos.lan:8765"})
            token = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
            assert token is not None
            r = c.post("/collections/create", headers={"Host": "photos.lan:8765",
                                                       "Origin": "http://photos.lan:8765"},
                       data={"csrf": token.group(1), "name": "no spaces", "query": ""})
            assert r.status_code == 400 and "collection name" in r.text
        # bound to every address: any IP literal (it cannot be rebound), names still not
        with local(create_app(world.store, token="t", bind="0.0.0.0")) as c:
            auth = {"Authorization": "Bearer t"}
            assert c.get("/healthz", headers={**auth, "Host": "10.1.2.3:8765"}).status_code == 200
            assert c.get("/healthz", headers={**auth, "Host": "[fe80::1]"}).status_code == 200
            assert c.get("/healthz", headers={**auth, "Host": "nas.lan"}).status_code == 400
        config.write_text(before + '\n[ui]\nhosts = "album.home"\n')
        with pytest.raises(UsageError, match=r"\[ui\] hosts"):
            create_app(world.store)
    finally:
        config.write_text(before)
    for bad in ("http://photos.lan", "photos.lan:8765", "photos.lan/x", "a b"):
        with pytest.raises(UsageError, match="not a host name"):
            create_app(world.store, hosts=[bad])
    r = mstore("ui", "--allow-host", "http://photos.lan", store=world.store)
    assert r.code == 2 and "not a host name" in r.err


def test_security_headers(client: TestClient) -> None:
    r = client.get("/")
    assert "script-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "SameSite=Strict" in r.headers.get("set-cookie", "") or client.cookies.get(
        "mstore_session")


def test_status_does_not_import_the_ui() -> None:
    import subprocess
    import sys

    code = ("import sys; from mstore.cli.main import cli; "
            "bad = [m for m in sys.modules if m.split('.')[0] in "
            "('starlette', 'jinja2', 'uvicorn', 'mstore.ui') or m.startswith('mstore.ui')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


# -- duplicate review (the duplicates tool's page) ------------------------------------------
REVIEW = "/tool/duplicates/review"
REVIEW_MARK = "/tool/duplicates/review/mark"
REVIEW_JS = "/tool/duplicates/static/review.js"
REVIEW_CSS = "/tool/duplicates/static/review.css"


def groups_on(page: str) -> dict[str, list[str]]:
    """group artifact id -> the asset ids of its items, as the review page lists them."""
    out: dict[str, list[str]] = {}
    for m in re.finditer(r'data-group="([0-9a-f]+)"(.*?)</section>', page, re.S):
        out[m.group(1)] = re.findall(r'class="tile item" data-asset="([0-9a-f]+)"', m.group(2))
    return out


def test_duplicate_review_marks_are_labels(world: World, client: TestClient) -> None:
    r = client.get(REVIEW)
    assert r.status_code == 200 and world.dedupe in r.text
    assert f'href="{REVIEW}" class="here">Review</a>' in r.text  # the tool's header link
    assert f'src="{REVIEW_JS}"' in r.text and f'href="{REVIEW_CSS}"' in r.text
    assert "keydown" in client.get(REVIEW_JS).text
    groups = groups_on(r.text)
    ids = {p.rsplit("/", 1)[-1]: rid for p, rid in
           ((p, r["id"]) for p, r in world.by_path.items())}
    near = {ids["IMG_0001.JPG"], ids["IMG_0001-q60.JPG"], ids["IMG_0001-small.JPG"]}
    [gid] = [g for g, items in groups.items() if set(items) == near]
    exact = [g for g, items in groups.items() if items and set(items) == {ids["IMG_0001.JPG"]}]
    assert exact, "the exact group (one content at 3 paths) is reviewable per path"
    items = groups[gid]
    token = csrf(client, REVIEW)
    keep, drop = items[0], items[1]
    r = client.post(REVIEW_MARK, data={"csrf": token, "group": gid, "m0": "keep",
                                       "m1": "not-keep", "m2": "",
                                       "back": f"{REVIEW}?offset=0#x"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{REVIEW}?offset=0#x"
    page = client.get(REVIEW).text
    assert f'data-asset="{keep}" data-mark="keep"' in page
    assert f'data-asset="{drop}" data-mark="not-keep"' in page
    assert f'data-asset="{items[2]}" data-mark=""' in page
    # the marks are labels on the assets, with lineage to the group they judged
    ap = client.get(f"/asset/{drop}").text
    assert "Duplicates" in ap and f"/artifact/{gid}" in ap and "keep = not-keep" in ap
    gp = client.get(f"/artifact/{gid}").text
    assert "Review marks" in gp and "<strong>keep</strong>" in gp
    # saving the same marks again writes nothing; bad input writes nothing
    n_labels = len(labels_of(client, world, keep))
    client.post(REVIEW_MARK, data={"csrf": token, "group": gid, "m0": "keep"})
    assert client.post(REVIEW_MARK, data={"csrf": token, "group": gid,
                                          "m0": "delete-it"}).status_code == 400
    assert client.post(REVIEW_MARK, data={"csrf": token, "group": gid,
                                          "m7": "keep"}).status_code == 400
    assert client.post(REVIEW_MARK, data={"csrf": token, "group": "ab" * 32,
                                          "m0": "keep"}).status_code == 404
    assert client.post(REVIEW_MARK, data={"csrf": token, "group": world.phash.id,
                                          "m0": "keep"}).status_code == 400
    assert client.post(REVIEW_MARK, data={"group": gid, "m0": "keep"}).status_code == 403
    for away in ("https://example.org/", "//example.org/", "/runs", "/tool/other/x"):
        r = client.post(REVIEW_MARK, data={"csrf": token, "group": gid, "m0": "keep",
                                           "back": away}, follow_redirects=False)
        assert r.headers["location"] == REVIEW  # never sent off the review page
    assert len(labels_of(client, world, keep)) == n_labels
    # what was marked is a query away, in the CLI and in the grid
    assert [r["id"] for r in mstore_json(client, world, "find", "label:keep=not-keep")] == [drop]
    assert {r["id"] for r in mstore_json(client, world, "find", "label:keep")} == {keep, drop}
    grid = client.get("/", params={"q": "label:keep=not-keep"}).text
    assert "1 match" in grid and f"/asset/{drop}" in grid
    # a rerun that groups differently makes new group artifacts; the marks stay
    release(client)
    rerun = run_all(world.store, "dedupe", params={"duplicates": {"max_distance": 10}})
    page = client.get(REVIEW).text
    assert rerun in page
    regrouped = groups_on(page)
    assert gid not in regrouped
    assert f'data-asset="{drop}" data-mark="not-keep"' in page
    assert "another grouping" in page
    # an old run's groups can still be chosen
    assert gid in groups_on(client.get(REVIEW, params={"run": world.dedupe}).text)


def test_old_review_address_still_works(world: World, client: TestClient) -> None:
    """/review (bookmarks, links from before the review moved into its tool) leads to the
    tool's page, with the query string kept."""
    r = client.get("/review", params={"run": world.dedupe}, follow_redirects=False)
    assert r.status_code == 307
    assert r.headers["location"] == f"{REVIEW}?run={world.dedupe}"
    page = client.get("/review", params={"run": world.dedupe})
    assert page.status_code == 200 and str(page.url).endswith(f"{REVIEW}?run={world.dedupe}")
    assert groups_on(page.text)


def labels_of(client: TestClient, world: World, aid: str) -> list[dict]:
    release(client)
    [row] = mstore("show", aid, "--json", store=world.store).json_lines()
    return row.get("labels", [])


def test_keyframes_strip_on_a_video(world: World, client: TestClient) -> None:
    vid = asset_id(world, "party.mp4")
    t = client.get(f"/asset/{vid}").text
    strip = t.split('id="panel-keyframes"', 1)[1].split("</section>", 1)[0]
    frames = re.findall(r'<img src="/artifact/([0-9a-f]+)/payload"', strip)
    assert frames and world.video in strip
    p = client.get(f"/artifact/{frames[0]}/payload")
    assert p.status_code == 200 and p.headers["content-type"] == "image/jpeg"


STARS_UI = """\
from mstore.ui.api import Page, ToolUi, UsageError

def stars(ctx):
    return ctx.render("stars.html", n=5, k=ctx.data["kind"])

def listing(ctx):
    n = ctx.query.number("n", 3)
    with ctx.store.reader() as r:
        count = r.asset_count()
    return Page("list.html", f"{n} stars", {"n": n, "count": count})

def starred(ctx):
    aid = ctx.store.asset(ctx.form.get("asset"))  # NotFound: 404
    if ctx.form.get("n") not in ("1", "2", "3"):
        raise UsageError("stars are 1, 2 or 3")
    ctx.set_labels([LabelChange(aid, "stars", ctx.form.get("n"))])
    return ctx.links.tool("", n=ctx.form.get("n"))

def register(ui: ToolUi):
    ui.panel("asset-sidebar", "stars", stars, title="Stars", order=5)
    ui.page("", listing, nav="Stars", alias="/stars")
    ui.action("star", starred)
"""


def write_tool(tools: Path, tool_id: str, files: dict[str, str], key: str = "ui") -> None:
    (tools / tool_id).mkdir(parents=True)
    (tools / tool_id / "manifest.toml").write_text(
        f'id = "{tool_id}"\nversion = "1"\ninputs = ["image"]\noutputs = ["x"]\n'
        f'entry = "python:tool:run"\n{key} = "ui:register"\n')
    (tools / tool_id / "tool.py").write_text("def run(req, progress):\n    return None\n")
    for name, text in files.items():
        (tools / tool_id / name).write_text(text)


def test_a_tool_contributes_panels_pages_and_actions(world: World, client: TestClient) -> None:
    """A third-party tool in <store>/tools/ names its UI function in its manifest: its
    panel shows on asset pages, its page under /tool/<id>/ (rendered from its folder,
    inside the UI's layout), its action writes labels once the CSRF token checks. A
    broken tool is reported, with nothing of it shown, and nothing else breaks."""
    tools = world.store / "tools"
    write_tool(tools, "stars", {
        "ui.py": STARS_UI.replace("ToolUi, UsageError", "LabelChange, ToolUi, UsageError"),
        "stars.html": '<p class="stars">{{ n }} stars for {{ k }}</p>',
        "list.html": '<h1 class="stars">{{ n }} stars</h1><p>{{ count }} assets</p>'
                     '<form method="post" action="{{ links.tool(\'star\') }}">'
                     '<input type="hidden" name="csrf" value="{{ ctx.csrf }}"></form>'})
    write_tool(tools, "broken", {"ui.py": "import no_such_module_here\n"})
    write_tool(tools, "oldstyle", {"ui.py": "def register():\n    pass\n"}, key="panels")
    write_tool(tools, "greedy", {"ui.py": STARS_UI.replace('"/stars"', '"/runs"')})
    aid = next(iter(world.thumbs))
    release(client)
    try:
        with local(create_app(world.store)) as c:
            health = c.get("/healthz").json()
            problems = sorted(health["panel_problems"])
            assert len(problems) == 3, problems
            assert "tool broken" in problems[0] and "no_such_module_here" in problems[0]
            assert "tool greedy" in problems[1] and "/runs" in problems[1]
            assert "tool oldstyle" in problems[2] and "must take the ToolUi" in problems[2]
            page = c.get(f"/asset/{aid}").text
            assert '<p class="stars">5 stars for image</p>' in page
            assert 'id="panel-stars"' in page and "Metadata" in page
            listing = c.get("/tool/stars", params={"n": "2"})
            assert listing.status_code == 200
            assert '<h1 class="stars">2 stars</h1>' in listing.text
            assert f"<p>{world.total} assets</p>" in listing.text
            assert '<a href="/tool/stars" class="here">Stars</a>' in listing.text
            assert '<a class="brand" href="/">mstore</a>' in listing.text  # the UI's layout
            assert c.get("/stars", follow_redirects=False).headers["location"] == "/tool/stars"
            assert c.get("/tool/greedy").status_code == 404  # nothing of a refused tool
            token = csrf(c, "/tool/stars")
            r = c.post("/tool/stars/star", data={"csrf": token, "asset": aid[:12], "n": "3"},
                       follow_redirects=False)
            assert r.status_code == 303 and r.headers["location"] == "/tool/stars?n=3"
            assert c.post("/tool/stars/star", data={"asset": aid, "n": "3"}).status_code == 403
            assert c.post("/tool/stars/star", data={"csrf": token, "asset": aid,
                                                    "n": "9"}).status_code == 400
            assert c.post("/tool/stars/star", data={"csrf": token, "asset": "ab" * 32,
                                                    "n": "1"}).status_code == 404
            c.app.state.ui.close()  # type: ignore[attr-defined]
        labels = {lab["key"]: lab["value"] for lab in labels_of(client, world, aid)}
        assert labels["stars"] == "3"
    finally:
        import shutil

        shutil.rmtree(tools)


def test_a_broken_tool_page_or_action_is_an_error_page(world: World,
                                                        client: TestClient) -> None:
    """A tool's page or action that fails (a bug, a wrong answer) shows the UI's error page
    naming the failure, never a traceback; one that would send the browser off the UI
    does not; a refusal it raises is the person's 400 / 404."""
    def crash(ctx: PageContext) -> Page:
        raise RuntimeError("the handler broke")

    def wrong(ctx: PageContext) -> Page:
        return "<p>not a Page</p>"  # type: ignore[return-value]

    def refuse(ctx: PageContext) -> Page:
        ctx.store.run(ctx.query.get("run"))  # unknown: NotFound
        raise UsageError("not today")

    def off_site(ctx: ActionContext) -> str:
        return "//evil.example/"

    def register(ui: ToolUi) -> None:
        ui.page("crash", crash)
        ui.page("wrong", wrong)
        ui.page("refuse", refuse)
        ui.action("off", off_site)

    release(client)
    with local(create_app(world.store, extensions={"bad": register})) as c:
        for path, status, says in (("crash", 500, "RuntimeError: the handler broke"),
                                   ("wrong", 500, "not a Page"),
                                   ("refuse?run=nope", 404, "no run"),
                                   (f"refuse?run={world.photos}", 400, "not today")):
            r = c.get(f"/tool/bad/{path}")
            assert r.status_code == status and says in r.text, (path, r.text[-500:])
            assert "Traceback" not in r.text and '<a class="brand"' in r.text
        r = c.post("/tool/bad/off", data={"csrf": csrf(c)}, follow_redirects=False)
        assert r.status_code == 500 and "location" not in r.headers
        c.app.state.ui.close()  # type: ignore[attr-defined]


def test_built_in_tool_ui_is_documented(tmp_path: Path) -> None:
    """docs/panels.md names every slot, and every panel, page and action the shipped tools
    contribute."""
    from mstore.tools.registry import BUILTIN, Registry
    from mstore.ui.registry import SLOTS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "panels.md").read_text()
    for slot in SLOTS:
        assert f"`{slot}`" in doc, slot
    with_ui = [m for m in Registry([BUILTIN]).tools.values() if m.ui]
    assert {m.id for m in with_ui} >= {"keyframes", "duplicates"}
    (tmp_path / "archive").mkdir()
    assert mstore("init", "--store", tmp_path / "st", tmp_path / "archive").code == 0
    reg = create_app(tmp_path / "st").state.ui.registry
    assert reg.problems == []
    tool_panels = {p.name for s in SLOTS for p in reg.panels(s) if p.owner}
    assert tool_panels >= {"keyframes", "duplicates", "marks"}
    for name in tool_panels:
        assert f"`{name}`" in doc, name
    for url in [p.url for p in reg.pages] + [a.url for a in reg.actions]:
        assert f"`{url}`" in doc, url


# -- every route, hostile input ------------------------------------------------------------
SESSION = "fuzz" + "s" * 40  # a session cookie value the guard accepts


async def asgi_request(app: Starlette, req: Request) -> tuple[int, bytes, BaseException | None]:
    """Call the app as uvicorn does (the path percent-decoded with errors replaced), read
    the answer; an event stream is cut after its first frame. (status, body, what the
    app raised)."""
    import asyncio
    from urllib.parse import unquote

    raw_path, _, qs = req.target.encode().partition(b"?")
    headers = [(b"host", b"localhost:8765"), (b"cookie", f"mstore_session={SESSION}".encode())]
    if req.content_type:
        headers.append((b"content-type", req.content_type.encode("latin-1")))
    if req.body:
        headers.append((b"content-length", str(len(req.body)).encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": req.method, "scheme": "http", "path": unquote(raw_path.decode("ascii")),
             "raw_path": raw_path, "query_string": qs, "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8765), "state": {}}
    status, body, done, streaming = 0, bytearray(), asyncio.Event(), False
    sent_body = False

    async def receive() -> dict:
        nonlocal sent_body
        if not sent_body:
            sent_body = True
            return {"type": "http.request", "body": req.body, "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status, streaming
        if message["type"] == "http.response.start":
            status = message["status"]
            streaming = any(k == b"content-type" and v.startswith(b"text/event-stream")
                            for k, v in message.get("headers", []))
        elif message["type"] == "http.response.body":
            body.extend(message.get("body", b""))
            if not message.get("more_body") or streaming:
                done.set()

    task = asyncio.ensure_future(app(scope, receive, send))
    await asyncio.wait([task, asyncio.ensure_future(done.wait())],
                       return_when=asyncio.FIRST_COMPLETED)
    if not task.done():
        task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception as e:  # noqa: BLE001 - reported with the request that caused it
        return status, bytes(body), e
    return status, bytes(body), None


def test_no_input_makes_any_route_fail(world: World, client: TestClient,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Every route of the router x seeded hostile input: never a 500, never an exception
    out of the app, never a panel's error, never unescaped markup. Runs last: its valid
    review marks and collections are written to the shared store."""
    import asyncio
    import traceback

    FakeCli(monkeypatch, out='{"run": "r20990101-000000-cafe", "units": 1}\n')
    app = client.app
    page = asyncio.run(asgi_request(app, Request("GET", "/runs")))[1].decode()
    token = re.search(r'name="csrf" value="([0-9a-f]+)"', page)
    assert token is not None
    groups = list(groups_on(asyncio.run(asgi_request(app, Request("GET", REVIEW)))[1]
                            .decode()))
    assert groups
    thumb = next(iter(world.thumbs.values()))
    real = {"aid": [next(iter(world.thumbs)), world.text_ids[0], asset_id(world, "party.mp4")],
            "art": [thumb.id, world.phash.id, *groups],
            "run": [world.photos, world.live, world.dedupe], "name": ["trip"],
            "action": ["pause", "resume", "cancel"], "path": ["ui.css", "ui.js"],
            "group": groups, "pipeline": ["photos"], "policy": ["sandbox", "production"],
            "kind": ["image", "text"], "m0": ["keep", "not-keep"], "m1": ["not-keep"],
            "back": [REVIEW, f"{REVIEW}?offset=20#group-21"], "freeze": ["1"],
            "offset": ["0", "20"], "n": ["1"]}
    fuzzer = Fuzzer(app, real, seed=8, csrf=token.group(1))
    assert {t for t, _, _ in fuzzer.routes()} >= {"/", "/asset/{aid}", "/static/{path}",
                                                   REVIEW, REVIEW_MARK, REVIEW_JS, "/review"}
    assert {"run", "group", "back", "offset", "q"} <= set(fuzzer.fields())

    async def all_requests() -> list[str]:
        problems = []
        for req in fuzzer.requests():
            status, body, exc = await asgi_request(app, req)
            text = body.decode("utf-8", "replace")
            if exc is not None:
                problems.append(f"{req.show()}: raised\n"
                                + "".join(traceback.format_exception(exc)))
            elif status >= 500 or status == 0:
                problems.append(f"{req.show()}: {status}")
            elif "panel error" in text or "Traceback" in text:
                problems.append(f"{req.show()}: {text[:300]}")
            elif "<script>alert(1)" in text:
                problems.append(f"{req.show()}: unescaped markup")
        return problems

    problems = asyncio.run(all_requests())
    assert not problems, f"{len(problems)} failures (seed 8):\n" + "\n".join(problems[:10])


def test_content_with_thousands_of_copies_lists_some_and_says_how_many_more(
        tmp_path: Path) -> None:
    """An empty file is one content at thousands of paths (``.nomedia``, lock files): its
    page and ``show`` list the first ones and how many more there are; the JSON all."""
    root = tmp_path / "archive"
    for i in range(230):
        (root / f"d{i:03d}").mkdir(parents=True)
        (root / f"d{i:03d}" / ".nomedia").write_bytes(b"")
    store = tmp_path / "store"
    assert mstore("init", "--store", store, root).code == 0
    assert mstore("add", store=store).code == 0
    aid = mstore("show", "archive/d000/.nomedia", "--json", store=store).json()["id"]
    out = mstore("show", aid, store=store).out
    assert "archive/d019/.nomedia" in out and "archive/d020/.nomedia" not in out
    assert "... 210 more (--limit N, or --json)" in out
    assert "archive/d229/.nomedia" in mstore("show", aid, "--limit", "300", store=store).out
    assert len(mstore("show", aid, "--json", store=store).json()["paths"]) == 230
    with local(create_app(store)) as c:
        page = c.get(f"/asset/{aid}")
    assert page.status_code == 200
    assert "archive/d199/.nomedia" in page.text and "archive/d200/.nomedia" not in page.text
    assert "and 30 more" in page.text
