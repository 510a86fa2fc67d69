"""The web UI's Starlette app over one store: the UI's own pages (``pages/``: assets,
artifacts, runs, collections), built from panels, plus what the tools contribute —
panels, pages and actions registered through ``mstore.ui.api`` — in a registry of this
app's own.

Safety: the app is meant to bind to loopback. With a token (required for any other
address) every request must carry it (``guard.py``). Every POST must carry the CSRF
token of the caller's session cookie. Files are served by asset id only (see
``files.py``), payloads by artifact id from the object store; run buttons run the
``mstore`` command (``orchestrate.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from mstore.errors import MstoreError, UsageError
from mstore.ui import builtin_panels
from mstore.ui.api import ToolUi
from mstore.ui.core import HERE, Refused, Ui, ui_of
from mstore.ui.guard import Guard, HostRule, is_loopback
from mstore.ui.pages import artifacts, assets, collections, runs, search, tools
from mstore.ui.registry import TOOL_PREFIX, UiRegistry, takes_registrar

PAGE_SIZE = assets.PAGE_SIZE
Register = Callable[[ToolUi], None]


def configured_hosts(store_dir: Path) -> list[str]:
    """The host names ``[ui] hosts`` in the store's config.toml lets the UI answer to."""
    from mstore.store.config import load
    from mstore.store.layout import Layout

    hosts = load(Layout(Path(store_dir)).config).raw.get("ui", {}).get("hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
        raise UsageError("[ui] hosts in config.toml must be a list of host names")
    return hosts


def load_tool_uis(ui: Ui, store_root: Path | None,
                  extensions: Mapping[str, Register] | None = None) -> None:
    """Call the ``ui`` function of every tool on the tool path (``workers/``,
    ``$MSTORE_TOOLS_PATH``, ``<store>/tools/``) that declares one, then ``extensions``
    (owner name -> function, for scripts); a tool whose function fails is reported in
    ``ui.registry.problems`` with nothing of it shown, and the others still load."""
    from mstore.tools.loader import load_function
    from mstore.tools.registry import Registry

    todo: list[tuple[str, Path | None, str, Callable[[], Register]]] = []
    try:
        manifests = Registry.for_store(store_root).tools
    except UsageError as e:
        ui.registry.problems.append(f"tool registry: {e.message}")
        manifests = {}
    for m in sorted(manifests.values(), key=lambda m: m.id):
        if m.ui:
            todo.append((m.id, m.folder, f"ui {m.ui}",
                         lambda m=m: load_function(m.folder, m.ui, m.id)))
    todo += [(name, None, "ui", lambda fn=fn: fn) for name, fn in (extensions or {}).items()]
    for tool, folder, what, load in todo:
        try:
            fn = load()
            if not takes_registrar(fn):
                raise TypeError(f"{getattr(fn, '__name__', 'it')}() must take the ToolUi "
                                "to register on (docs/panels.md)")
            staged = ToolUi(tool, folder)
            fn(staged)
            ui.registry.commit(staged, ui.renderer(tool, folder))
        except Exception as e:  # noqa: BLE001 - reported, the other tools still load
            ui.registry.problems.append(f"tool {tool}: {what}: {type(e).__name__}: {e}")


async def healthz(request: Request) -> Response:
    return JSONResponse({"ok": True, "panel_problems": ui_of(request).panel_problems})


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if "session" not in request.scope.get("state", {}):
        return PlainTextResponse(exc.detail, status_code=exc.status_code)
    return ui_of(request).error(request, exc.status_code, str(exc.detail))


async def refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, Refused)
    return ui_of(request).error(request, exc.status, exc.message)


async def store_error(request: Request, exc: Exception) -> Response:
    """An mstore error no page answered itself (a damaged object a page needed, exit 5 on
    the command line): its one line, never a stack trace."""
    assert isinstance(exc, MstoreError)
    status = 400 if isinstance(exc, UsageError) else 500
    if "session" not in request.scope.get("state", {}):
        return PlainTextResponse(exc.message, status_code=status)
    return ui_of(request).refusal(request, exc, status)


async def not_found(request: Request, exc: Exception) -> Response:
    return PlainTextResponse("not found", status_code=404)


OWN_ROUTES: list[BaseRoute] = [
    *assets.ROUTES, *artifacts.ROUTES, *runs.ROUTES, *collections.ROUTES, *search.ROUTES,
    Route("/healthz", healthz),
    Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
]


def create_app(store_dir: Path, *, token: str | None = None, bind: str = "127.0.0.1",
               hosts: list[str] | tuple[str, ...] = (),
               extensions: Mapping[str, Register] | None = None) -> Starlette:
    """The UI over the store at ``store_dir``. ``bind``: the address it will listen on; any
    address but loopback needs ``token``, which every request must then carry. Requests
    must name as their Host localhost, the bound address, one of ``hosts`` or one of the
    config's ``[ui] hosts`` (see ``guard.HostRule``). ``extensions``: registering
    functions like a tool's ``ui`` one, by owner name, called after the tools'."""
    if token is not None and not token:
        raise ValueError("an empty token")
    if not is_loopback(bind) and token is None:
        raise ValueError(f"binding {bind} (not loopback) needs a token")
    host_rule = HostRule(bind, [*hosts, *configured_hosts(store_dir)])
    own = {r.path.split("/")[1] for r in OWN_ROUTES if isinstance(r, Route | Mount)}
    ui = Ui(Path(store_dir), UiRegistry(reserved=own | {TOOL_PREFIX.strip("/")}))
    staged = ToolUi("", HERE / "templates")
    builtin_panels.register(staged)
    ui.registry.commit(staged, ui.own_renderer)
    load_tool_uis(ui, Path(store_dir), extensions)

    @asynccontextmanager
    async def lifespan(app: Starlette):  # noqa: ANN202
        yield
        ui.close()

    app = Starlette(routes=[*OWN_ROUTES, *tools.routes(ui.registry)], lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, Refused: refused,
                                        MstoreError: store_error, 404: not_found})
    app.state.ui = ui
    app.add_middleware(Guard, token=token, hosts=host_rule)
    return app
