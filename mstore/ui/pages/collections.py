"""Collections: the list, one collection's members as a grid, and the create / freeze /
delete buttons (``mstore.services.collections``)."""

from __future__ import annotations

from dataclasses import asdict
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mstore.errors import MstoreError
from mstore.model.records import CollectionDefined
from mstore.store.store import Store
from mstore.ui.core import pager, params, ui_of
from mstore.ui.pages.assets import PAGE_SIZE
from mstore.ui.tiles import tile


def collection_page(store: Store, c: CollectionDefined, offset: int, size: int) -> dict:
    """A collection's summary and one page of its members as grid tiles."""
    from mstore.services import collections as ce

    store.catch_up()
    try:
        ids, error = ce.members(store, c), ""
    except MstoreError as e:  # a query naming what is gone now, a member list lost
        ids, error = [], e.message
    with store.reader() as r:
        items = [{**asdict(tile(r, aid)), "error": None, "sidecars": [], "has_sidecar": False}
                 for aid in ids[offset:offset + size]]
    return {"c": ce.summary(c, None if error else len(ids), error), "total": len(ids),
            "items": items}


def collection_rows(store: Store) -> list[dict]:
    from mstore.services import collections as ce

    store.catch_up()
    return [ce.summary(c, n, error) for c, n, error in ce.all_collections(store)]


async def collections(request: Request) -> Response:
    ui = ui_of(request)
    rows = await ui.call(collection_rows, ui.store)
    return ui.page(request, "collections.html", title="collections", rows=rows)


async def collection_show(request: Request) -> Response:
    ui = ui_of(request)
    name = request.path_params["name"]
    offset = params(request).number("offset")
    d = await ui.lookup("collection", name,
                        lambda store, c: collection_page(store, c, offset, PAGE_SIZE))

    def link(off: int) -> str:
        return f"/collection/{quote(name)}?" + urlencode({"offset": off})

    return ui.page(request, "collection.html", title=f"collection {name}", **d,
                   offset=offset, page_size=PAGE_SIZE,
                   **pager(link, offset, PAGE_SIZE, d["total"]))


async def collection_create(request: Request) -> Response:
    from mstore.services import collections as ce

    ui = ui_of(request)
    await ui.check_csrf(request)
    form = await request.form()
    name, query = str(form.get("name", "")).strip(), str(form.get("query", ""))
    freeze = form.get("freeze") == "1"
    return await ui.act(request, lambda c: f"/collection/{quote(c.name)}",
                        lambda: ce.create(ui.store, name, query=query, freeze=freeze),
                        status=400)


async def collection_freeze(request: Request) -> Response:
    from mstore.services import collections as ce

    ui = ui_of(request)
    await ui.check_csrf(request)
    return await ui.act(request, lambda c: f"/collection/{quote(c.name)}", ce.freeze,
                        ui.store, request.path_params["name"])


async def collection_delete(request: Request) -> Response:
    from mstore.services import collections as ce

    ui = ui_of(request)
    await ui.check_csrf(request)
    return await ui.act(request, lambda _: "/collections", ce.delete, ui.store,
                        request.path_params["name"], status=404)


ROUTES = [
    Route("/collections", collections),
    Route("/collections/create", collection_create, methods=["POST"]),
    Route("/collection/{name}", collection_show),
    Route("/collection/{name}/freeze", collection_freeze, methods=["POST"]),
    Route("/collection/{name}/delete", collection_delete, methods=["POST"]),
]
