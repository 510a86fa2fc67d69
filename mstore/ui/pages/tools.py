"""Tools' pages and actions (``mstore.ui.api``): their routes under ``/tool/<id>/``, the
files their pages load, and the short addresses (aliases) that redirect to them.

A page handler runs in the store thread and returns a ``Page``, rendered with the tool's
templates inside the UI's layout; an action runs there too, once its CSRF token is
checked, and its answer is a redirect. What a handler raises becomes an error page: 404
for ``NotFound``, 400 for another refusal, 500 for a bug — never a traceback.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mstore.ui.api import ActionContext, Links, Page, PageContext, Params, StoreView
from mstore.ui.core import Ui, params, ui_of
from mstore.ui.registry import ToolAction, ToolFile, ToolPage, UiRegistry, static_url


def is_local(address: str) -> bool:
    """A path on this UI (not "//host/..." nor "/\\host", which browsers take as hosts)."""
    return (address.startswith("/") and not address.startswith(("//", "/\\"))
            and all(c >= " " for c in address))


def page_route(p: ToolPage) -> Route:
    async def endpoint(request: Request) -> Response:
        ui = ui_of(request)
        query, csrf = params(request), ui.csrf_token(request)
        try:
            page, body = await ui.call(_render_page, ui, p, query, csrf)
        except Exception as e:  # noqa: BLE001 - shown as an error page, not a traceback
            return ui.refusal(request, e)
        return ui.page(request, "tool_page.html", status=page.status, title=page.title,
                       body=body, scripts=[static_url(p.tool, n) for n in p.scripts],
                       styles=[static_url(p.tool, n) for n in p.styles])

    return Route(p.url, endpoint, methods=["GET"])


def _render_page(ui: Ui, p: ToolPage, query: Params, csrf: str) -> tuple[Page, str]:
    ui.store.catch_up()
    links = Links(p.tool)
    ctx = PageContext(store=StoreView(ui.store), query=query, csrf=csrf, links=links,
                      tool=p.tool)
    page = p.handler(ctx)
    if not isinstance(page, Page):
        raise TypeError(f"the page handler returned {type(page).__name__}, not a Page")
    assert p.renderer is not None
    return page, p.renderer(page.template, ctx=ctx, **page.values)


def action_route(a: ToolAction) -> Route:
    async def endpoint(request: Request) -> Response:
        ui = ui_of(request)
        await ui.check_csrf(request)
        form = Params((await request.form()).multi_items())
        try:
            address = await ui.call(_run_action, ui, a, form)
        except Exception as e:  # noqa: BLE001 - shown as an error page, not a traceback
            return ui.refusal(request, e)
        if not isinstance(address, str) or not is_local(address):
            return ui.error(request, 500, f"the {a.tool} tool's action {a.path} sent "
                            "no address on this UI to go to")
        return RedirectResponse(address, status_code=303)

    return Route(a.url, endpoint, methods=["POST"])


def _run_action(ui: Ui, a: ToolAction, form: Params) -> str:
    ui.store.catch_up()
    return a.handler(ActionContext(ui.store, form, a.tool))


def file_route(f: ToolFile) -> Route:
    async def endpoint(request: Request) -> Response:
        return FileResponse(f.path, media_type=f.media_type,
                            headers={"Cache-Control": "private, max-age=300"})

    return Route(f.url, endpoint, methods=["GET"])


def alias_route(alias: str, p: ToolPage) -> Route:
    async def endpoint(request: Request) -> Response:
        query = request.url.query
        return RedirectResponse(p.url + ("?" + query if query else ""), status_code=307)

    return Route(alias, endpoint, methods=["GET"])


def routes(registry: UiRegistry) -> list[BaseRoute]:
    return [*map(page_route, registry.pages), *map(action_route, registry.actions),
            *map(file_route, registry.files.values()),
            *(alias_route(alias, p) for alias, p in registry.aliases().items())]
