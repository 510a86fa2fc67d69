"""The assets grid (``/``), an asset's page and its file."""

from __future__ import annotations

import re
import time
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response
from starlette.routing import Route

from mstore.errors import QueryError, UsageError
from mstore.model.meta import KINDS
from mstore.query.order import check_sort
from mstore.store.store import Store
from mstore.ui import files
from mstore.ui.core import pager, params, ui_of
from mstore.ui.filters import file_name, folder
from mstore.ui.tiles import best_thumb, taken_date

PAGE_SIZE = 60
# the grid's "order" choices: (find --sort key, label); "" is the catalog's own order
ORDERS = [("", "by path"), ("-taken", "newest first"), ("taken", "oldest first"),
          ("-size", "largest first"), ("size", "smallest first")]
DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")


def build_query(q: str, kind: str, date_from: str, date_to: str) -> str:
    """The ``find`` query the form stands for: the typed query (parenthesized, so an OR
    in it stays inside) plus ``kind:`` and ``taken:`` terms; bad filter values raise."""
    parts = [f"({q.strip()})"] if q.strip() else []
    if kind:
        if kind not in KINDS:
            raise UsageError(f"unknown kind '{kind}'")
        parts.append(f"kind:{kind}")
    for d in (date_from, date_to):
        if d and not DATE_RE.match(d):
            raise UsageError(f"'{d}' is not a date (YYYY, YYYY-MM or YYYY-MM-DD)")
    if date_from or date_to:
        parts.append(f"taken:{date_from}..{date_to}")
    return " ".join(parts)


# -- what the pages read ------------------------------------------------------------------
def grid(store: Store, query: str, offset: int, size: int, sort: str = ""
         ) -> tuple[int, int, list[dict]]:
    """(number of tiles, number of sidecars shown with their file, the page of tiles at
    ``offset``): evaluates the query over the catalog table, folds each sidecar whose
    file is in the result into that file's tile (see ``query/sidecars.py``), puts the
    tiles in order ``sort`` (query/order.py; default: the catalog's, or best first) and
    reads only the ``size`` rows shown."""
    from itertools import compress

    from mstore.query import sidecars
    from mstore.query.evaluate import evaluate, evaluate_mask, parse, ranking_term
    from mstore.query.order import sort_rows
    from mstore.query.snapshot import load_table
    from mstore.query.table import F_SIDECAR, KIND_NAMES
    from mstore.query.terms import TermContext

    store.catch_up()
    table = load_table(store)
    context = TermContext(store)
    # a ranked query (text:, similar:) shows its tiles best first, as find does
    ranked = evaluate(query, table, context) if ranking_term(parse(query)) else None
    if ranked is not None:
        mask = bytearray(table.n)
        for i in ranked:
            mask[i] = 1
        mask = bytes(mask)
    else:
        mask = evaluate_mask(query, table, context)
    folded: dict[int, list[int]] = {}
    if not sidecars.asks_for_sidecars(query):
        mask, folded = sidecars.fold(table, mask)
    rows = ([i for i in ranked if mask[i]] if ranked is not None
            else list(compress(range(table.n), mask)))
    total = len(rows)
    if sort:
        rows = sort_rows(rows, table, sort, offset + size)  # this page and those before it
    page = rows[offset:offset + size]
    items = []
    with store.reader() as r:
        for i in page:
            aid = table.row_id(i)
            paths = table.row_paths(i)
            thumb = None
            if aid:
                t = best_thumb(r.artifacts_of(aid, "thumbnail"))
                thumb = t.id if t else None
            items.append({
                "id": aid, "kind": KIND_NAMES.get(table.kinds[i], "other"),
                "size": table.sizes[i], "taken": taken_date(table.taken[i]),
                "path": _text(paths[0]) if paths else "",
                "error": table.errors[i] or None, "thumb": thumb,
                "sidecars": [_text(table.row_paths(r)[0]) for r in folded.get(i, [])],
                "has_sidecar": bool(table.flags[i] & F_SIDECAR),
            })
    return total, sum(map(len, folded.values())), items


def _text(path: bytes) -> str:
    return path.decode("utf-8", "backslashreplace")


def asset_mime(store: Store, aid: str) -> str:
    with store.reader() as r:
        a = r.asset(aid)
    return a.meta.mime if a else ""


def asset_data(store: Store, aid: str) -> dict:
    from mstore.services.assets import describe_asset
    from mstore.services.describe import asset_labels, hlc_ms

    store.catch_up()
    d = describe_asset(store, aid)
    d["labels"] = asset_labels(store, aid)
    # what the page is called: its first current path (a missing asset: its last one)
    shown = [p for p in d["paths"] if p["current"]] or d["paths"][-1:]
    d["shown_path"] = f"{shown[0]['root']}/{_text(shown[0]['path'])}" if shown else ""
    by_kind: dict[str, list[dict]] = {}
    with store.reader() as r:
        arts = r.artifacts_of(aid)
    for a in sorted(arts, key=lambda a: (a.kind, -a.hlc)):
        by_kind.setdefault(a.kind, []).append({
            "id": a.id, "tool": a.tool, "version": a.version, "run": a.run, "step": a.step,
            "params": a.params, "policy": a.policy, "expires_ms": a.expires_ms or None,
            "made_ms": hlc_ms(a.hlc), "aggregate": not a.asset, "inputs": len(a.inputs),
            "payload": bool(a.payload), "filename": a.filename,
            "image": bool(a.payload) and files.type_of_filename(a.filename).startswith("image/"),
        })
    d["artifacts"] = by_kind
    thumb = best_thumb([a for a in arts if a.kind == "thumbnail"])
    d["thumb"] = thumb.id if thumb else None
    mime = (d["mime"] or "").lower()
    d["browser_image"] = mime in files.BROWSER_IMAGES
    d["excerpt"] = None
    if d["kind"] == "text":
        real = files.asset_file(store, aid)
        if real is not None:
            try:
                d["excerpt"] = files.read_excerpt(real)
            except OSError:
                d["excerpt"] = None
    d["has_file"] = d["kind"] in ("image", "video", "audio") and not d["missing"]
    return d


# -- pages ----------------------------------------------------------------------------------
async def assets(request: Request) -> Response:
    ui = ui_of(request)
    qp = params(request)
    q, kind = qp.get("q"), qp.get("kind")
    date_from, date_to = qp.get("from"), qp.get("to")
    sort = qp.get("sort")
    offset = qp.number("offset")
    form = {"q": q, "kind": kind, "from": date_from, "to": date_to, "sort": sort}
    error = None
    total, with_file, items, query = 0, 0, [], ""
    try:
        query = build_query(q, kind, date_from, date_to)
        if sort:
            check_sort(sort, "unknown order")
        total, with_file, items = await ui.call(grid, ui.store, query, offset, PAGE_SIZE,
                                                sort)
    except QueryError as e:
        error = e.render()
    except UsageError as e:
        error = e.message

    def link(off: int) -> str:
        return "/?" + urlencode({**{k: v for k, v in form.items() if v}, "offset": off})

    # this day of the year in every year, newest first (a timeline of "N years ago")
    on_this_day = "/?" + urlencode({"q": time.strftime("taken:*-%m-%d"), "sort": "-taken"})
    return ui.page(request, "assets.html", status=400 if error else 200, title="assets",
                   form=form, kinds=KINDS, orders=ORDERS, query=query, error=error,
                   total=total, on_this_day=on_this_day,
                   with_file=with_file, items=items, offset=offset, page_size=PAGE_SIZE,
                   **pager(link, offset, PAGE_SIZE, total))


async def asset(request: Request) -> Response:
    ui = ui_of(request)
    d = await ui.lookup("asset", request.path_params["aid"], asset_data)
    aid = d["id"]

    def panels() -> tuple[list, list]:
        return (ui.render_slot(request, "asset-main", aid, d),
                ui.render_slot(request, "asset-sidebar", aid, d))

    main, side = await ui.call(panels)
    title = (f"{file_name(d['shown_path'])} ({folder(d['shown_path'])})"
             if d["shown_path"] else f"asset {aid[:12]}")
    return ui.page(request, "asset.html", title=title, a=d, main=main, side=side)


def motion_video(store: Store, aid: str) -> bytes | None:
    """A motion photo's video (files.asset_file says which file may be read)."""
    with store.reader() as r:
        a = r.asset(aid) if files.ID_RE.match(aid) else None
    back = a.meta.motion_video if a is not None else None
    real = files.asset_file(store, aid) if back else None
    if real is None or back is None:
        return None
    try:
        return files.read_motion_video(real, back)
    except OSError:
        return None


async def asset_motion(request: Request) -> Response:
    """The video a motion photo carries after its picture, as an MP4."""
    ui = ui_of(request)
    data = await ui.call(motion_video, ui.store, request.path_params["aid"])
    if data is None:
        return PlainTextResponse("not found", status_code=404)
    return Response(data, media_type="video/mp4",
                    headers={"Content-Security-Policy": "sandbox; default-src 'none'",
                             "Cache-Control": "private, max-age=3600"})


async def asset_file(request: Request) -> Response:
    """The asset's own file, by its full id only (``files.py`` says which file may be
    served, and how)."""
    ui = ui_of(request)
    aid = request.path_params["aid"]
    real = await ui.call(files.asset_file, ui.store, aid)
    if real is None:
        return PlainTextResponse("not found", status_code=404)
    mime = await ui.call(asset_mime, ui.store, aid)
    ctype, inline = files.safe_type(mime)
    return FileResponse(real.decode("utf-8", "surrogateescape"), media_type=ctype,
                        content_disposition_type="inline" if inline else "attachment",
                        filename=None if inline else f"{aid[:16]}.bin",
                        headers={"Content-Security-Policy": "sandbox; default-src 'none'",
                                 "Cache-Control": "private, max-age=3600"})


ROUTES = [
    Route("/", assets),
    Route("/asset/{aid}", asset),
    Route("/asset/{aid}/file", asset_file),
    Route("/asset/{aid}/motion", asset_motion),
]
