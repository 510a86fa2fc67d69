"""``/search``: one box over everything — the find language, each free word or phrase also
looked for in the text of documents, OCR and transcripts and in file names
(``query.text.with_text``); the best text matches first, each with its snippet (the matched
words highlighted), where it is, and a thumbnail."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mstore.errors import QueryError
from mstore.store.store import Store
from mstore.ui.core import pager, params, ui_of

PAGE_SIZE = 30
_SOURCES = {"doctext": "in the text", "ocr": "in the picture", "transcript": "spoken",
            "metadata": "caption or keywords", "sidecar": "sidecar's caption or keywords"}


def results(store: Store, q: str, offset: int, size: int) -> tuple[int, list[dict]]:
    """(number of matches, the page of them at ``offset``), best text match first."""
    from mstore.query.evaluate import evaluate
    from mstore.query.snapshot import load_table
    from mstore.query.terms import TermContext
    from mstore.query.text import with_text
    from mstore.ui.tiles import tile

    store.catch_up()
    table = load_table(store)
    ctx = TermContext(store)
    rows = evaluate(with_text(q), table, ctx)
    place: dict[bytes, int] = {}
    for (key, _value), hits in ctx.hits.items():
        if key == "text":
            for k, aid in enumerate(hits.order or ()):
                place[aid] = min(place.get(aid, k), k)
    ids = [rid for i in rows if (rid := table.row_id(i))]
    ids.sort(key=lambda rid: place.get(bytes.fromhex(rid), len(place)))  # stable
    items = []
    with store.reader() as r:
        for aid in ids[offset:offset + size]:
            t = tile(r, aid)
            found = [d for key, d in ctx.details(bytes.fromhex(aid)).items()
                     if key.startswith("text:")]
            items.append({"tile": t, "match": _shown(found[0]) if found else None})
    return len(ids), items


def _shown(match: dict) -> dict:
    """A match as the page shows it: the snippet cut into (text, highlighted) pieces, and
    where it is in words."""
    snippet, pieces, at = match["snippet"], [], 0
    for a, b in match["marks"]:
        pieces += [(snippet[at:a], False), (snippet[a:b], True)]
        at = b
    pieces.append((snippet[at:], False))
    if match["kind"] == "name":
        where = "file name"
    elif match["start"] is not None:
        where = f"at {_clock(match['start'])}"
    elif match["page"] is not None:
        where = f"page {match['page']}"
    else:
        where = _SOURCES.get(match["kind"], match["kind"])
    return {"pieces": [p for p in pieces if p[0]], "where": where, "kind": match["kind"],
            "artifact": match["artifact"]}


def _clock(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


async def search(request: Request) -> Response:
    ui = ui_of(request)
    qp = params(request)
    q = qp.get("q").strip()
    offset = qp.number("offset")
    error, total, items = None, 0, []
    if q:
        try:
            total, items = await ui.call(results, ui.store, q, offset, PAGE_SIZE)
        except QueryError as e:
            error = e.render()

    def link(off: int) -> str:
        return "/search?" + urlencode({"q": q, "offset": off})

    return ui.page(request, "search.html", status=400 if error else 200, title="search",
                   q=q, error=error, total=total, items=items, offset=offset,
                   page_size=PAGE_SIZE, **pager(link, offset, PAGE_SIZE, total))


ROUTES = [Route("/search", search)]
