"""The web UI's Starlette app: pages over one store, built from panels.

Every store access runs in a worker thread under one lock (the index is an LMDB
environment this process opens once, and ``catch_up`` writes to it), so the event loop
stays free for the Server-Sent Events stream and file responses.

Safety: the app is meant to bind to loopback. With a token (required for any other
address) every request must carry it (``guard.py``). Every POST must carry the CSRF
token of the caller's session cookie. Files are served by asset id only (see
``files.py``), payloads by artifact id from the object store; run buttons run the
``mstore`` command (``orchestrate.py``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from mstore.errors import MstoreError, QueryError, UsageError
from mstore.model.meta import KINDS
from mstore.store.store import Store
from mstore.ui import builtin_panels, files, orchestrate
from mstore.ui.filters import FILTERS, file_name, folder
from mstore.ui.guard import Guard, HostRule, is_loopback
from mstore.ui.panels import PanelContext, load_tool_panels, render_slot

HERE = Path(__file__).resolve().parent
PAGE_SIZE = 60
REVIEW_PAGE = 20  # duplicate groups per review page
RUN_ID_RE = re.compile(r"^r\d[0-9a-f-]{1,40}$")
SAMPLE_RE = re.compile(r"^\d{1,9}(\.\d+)?%?$")
DATE_RE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
T = TypeVar("T")


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


def pager(link: Callable[[int], str], offset: int, size: int, total: int
          ) -> dict[str, str | None]:
    """The previous / next page links of a listing shown ``size`` at a time."""
    return {"prev_link": link(max(offset - size, 0)) if offset > 0 else None,
            "next_link": link(offset + size) if offset + size < total else None}


def _offset(text: str) -> int:
    """A page offset from the address bar: anything but a non-negative number is 0."""
    try:
        return max(int(text or 0), 0)
    except ValueError:
        return 0


# -- the app ------------------------------------------------------------------------------
class Ui:
    def __init__(self, store_dir: Path) -> None:
        self.store_dir = Path(store_dir)
        self._store: Store | None = None
        self.panel_problems: list[str] = []  # tools whose panels did not load
        self.lock = threading.Lock()
        self.secret = secrets.token_bytes(32)
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(HERE / "templates")),
            autoescape=True,  # every template, whatever its name
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters.update(FILTERS)

    # store access: one thread at a time
    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = Store(self.store_dir)
        return self._store

    def _locked(self, fn: Callable[..., T], *args: Any) -> T:
        with self.lock:
            return fn(*args)

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        return await run_in_threadpool(self._locked, fn, *args)

    def close(self) -> None:
        with self.lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    # templates
    def render_template(self, template: str, **values: Any) -> Markup:
        if "{{" in template or "{%" in template:
            t = self.env.from_string(template)
        else:
            t = self.env.get_template(template)
        return Markup(t.render(**values))

    def csrf_token(self, request: Request) -> str:
        session = request.state.session
        return hmac.new(self.secret, b"csrf\0" + session.encode(), hashlib.sha256).hexdigest()

    def page(self, request: Request, template: str, status: int = 200, **values: Any
             ) -> HTMLResponse:
        html = self.env.get_template(template).render(
            request_path=request.url.path, csrf=self.csrf_token(request), **values)
        return HTMLResponse(html, status_code=status)

    def error(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.page(request, "error.html", status=status, title=f"{status}",
                         message=message)

    def panel_ctx(self, request: Request, slot: str, subject: str, data: dict) -> PanelContext:
        return PanelContext(store=self.store, slot=slot, subject=subject, data=data,
                            render_template=self.render_template,
                            csrf=self.csrf_token(request))

    async def check_csrf(self, request: Request) -> None:
        form = await request.form()
        sent = form.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(
                sent.encode(), self.csrf_token(request).encode()):
            raise HTTPException(403, "missing or wrong CSRF token (reload the page)")


def configured_hosts(store_dir: Path) -> list[str]:
    """The host names ``[ui] hosts`` in the store's config.toml lets the UI answer to."""
    from mstore.store.config import load
    from mstore.store.layout import Layout

    hosts = load(Layout(Path(store_dir)).config).raw.get("ui", {}).get("hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h for h in hosts):
        raise UsageError("[ui] hosts in config.toml must be a list of host names")
    return hosts


def create_app(store_dir: Path, *, token: str | None = None, bind: str = "127.0.0.1",
               hosts: list[str] | tuple[str, ...] = ()) -> Starlette:
    """The UI over the store at ``store_dir``. ``bind``: the address it will listen on; any
    address but loopback needs ``token``, which every request must then carry. Requests
    must name as their Host localhost, the bound address, one of ``hosts`` or one of the
    config's ``[ui] hosts`` (see ``guard.HostRule``)."""
    if token is not None and not token:
        raise ValueError("an empty token")
    if not is_loopback(bind) and token is None:
        raise ValueError(f"binding {bind} (not loopback) needs a token")
    host_rule = HostRule(bind, [*hosts, *configured_hosts(store_dir)])
    ui = Ui(Path(store_dir))
    builtin_panels.register()
    ui.panel_problems = load_tool_panels(Path(store_dir))

    async def act(request: Request, redirect: Callable[[Any], str], fn: Callable[..., Any],
                  *args: Any, status: int = 409, locked: bool = True) -> Response:
        """Do a button's action — in the store thread, or (``locked=False``, a child
        ``mstore`` process) beside it — then redirect (303) to ``redirect(result)``; a
        refusal shows its message (a bad query with its caret)."""
        try:
            got = await (ui.call(fn, *args) if locked else run_in_threadpool(fn, *args))
        except QueryError as e:
            return ui.error(request, 400, e.render())
        except MstoreError as e:
            return ui.error(request, status, e.message)
        return RedirectResponse(redirect(got), status_code=303)

    # -- pages --------------------------------------------------------------------------
    async def assets(request: Request) -> Response:
        qp = request.query_params
        q, kind = qp.get("q", ""), qp.get("kind", "")
        date_from, date_to = qp.get("from", ""), qp.get("to", "")
        offset = _offset(qp.get("offset", ""))
        form = {"q": q, "kind": kind, "from": date_from, "to": date_to}
        error = None
        total, with_file, items, query = 0, 0, [], ""
        try:
            query = build_query(q, kind, date_from, date_to)
            total, with_file, items = await ui.call(builtin_panels.grid, ui.store, query,
                                                    offset, PAGE_SIZE)
        except QueryError as e:
            error = e.render()
        except UsageError as e:
            error = e.message

        def link(off: int) -> str:
            return "/?" + urlencode({**{k: v for k, v in form.items() if v}, "offset": off})

        return ui.page(request, "assets.html", status=400 if error else 200, title="assets",
                       form=form, kinds=KINDS, query=query, error=error, total=total,
                       with_file=with_file, items=items, offset=offset, page_size=PAGE_SIZE,
                       **pager(link, offset, PAGE_SIZE, total))

    async def asset(request: Request) -> Response:
        aid = request.path_params["aid"]
        if not files.ID_RE.match(aid):
            return ui.error(request, 404, "no such asset")
        try:
            d = await ui.call(builtin_panels.asset_data, ui.store, aid)
        except UsageError:
            return ui.error(request, 404, "no such asset")
        main, side = await ui.call(_render_asset, request, aid, d)
        title = (f"{file_name(d['shown_path'])} ({folder(d['shown_path'])})"
                 if d["shown_path"] else f"asset {aid[:12]}")
        return ui.page(request, "asset.html", title=title, a=d, main=main, side=side)

    def _render_asset(request: Request, aid: str, d: dict) -> tuple[list, list]:
        return (render_slot("asset-main", ui.panel_ctx(request, "asset-main", aid, d)),
                render_slot("asset-sidebar", ui.panel_ctx(request, "asset-sidebar", aid, d)))

    async def asset_file(request: Request) -> Response:
        aid = request.path_params["aid"]
        real = await ui.call(files.asset_file, ui.store, aid)
        if real is None:
            return PlainTextResponse("not found", status_code=404)
        mime = await ui.call(builtin_panels.asset_mime, ui.store, aid)
        ctype, inline = files.safe_type(mime)
        return FileResponse(real.decode("utf-8", "surrogateescape"), media_type=ctype,
                            content_disposition_type="inline" if inline else "attachment",
                            filename=None if inline else f"{aid[:16]}.bin",
                            headers={"Content-Security-Policy": "sandbox; default-src 'none'",
                                     "Cache-Control": "private, max-age=3600"})

    async def artifact(request: Request) -> Response:
        art_id = request.path_params["art"]
        if not files.ID_RE.match(art_id):
            return ui.error(request, 404, "no such artifact")
        try:
            d = await ui.call(builtin_panels.artifact_data, ui.store, art_id)
        except UsageError:
            return ui.error(request, 404, "no such artifact")
        rendered = await ui.call(lambda: render_slot(
            "artifact-detail", ui.panel_ctx(request, "artifact-detail", art_id, d)))
        return ui.page(request, "artifact.html", title=f"artifact {art_id[:12]}", d=d,
                       panels=rendered)

    async def artifact_payload(request: Request) -> Response:
        art_id = request.path_params["art"]
        if not files.ID_RE.match(art_id):
            return PlainTextResponse("not found", status_code=404)
        got = await ui.call(builtin_panels.payload, ui.store, art_id)
        if got is None:
            return PlainTextResponse("not found", status_code=404)
        body, ctype, filename = got
        ctype, inline = files.safe_type(ctype) if ctype != "application/json" else (
            "application/json", True)
        headers = {"Content-Security-Policy": "sandbox; default-src 'none'",
                   "Cache-Control": "private, max-age=86400"}  # same id, same bytes
        if not inline:
            headers["Content-Disposition"] = f'attachment; filename="{art_id[:16]}.bin"'
        return Response(body, media_type=ctype, headers=headers)

    async def runs(request: Request) -> Response:
        views = await ui.call(builtin_panels.run_views, ui.store)
        pipes = await ui.call(builtin_panels.pipeline_choices, ui.store)
        qp = request.query_params
        start = {"q": qp.get("q", ""), "pipeline": qp.get("pipeline", "")}
        return ui.page(request, "runs.html", title="runs", runs=views, pipelines=pipes,
                       start=start)

    async def run_start(request: Request) -> Response:
        """Start a run from the form on /runs: sandbox unless production is chosen."""
        await ui.check_csrf(request)
        form = await request.form()
        policy = str(form.get("policy", "sandbox"))
        if policy not in ("sandbox", "production"):
            return ui.error(request, 400, f"unknown policy '{policy}'")
        sample = str(form.get("sample", "")).strip() if policy == "sandbox" else ""
        pipeline, query = str(form.get("pipeline", "")), str(form.get("q", "")).strip()
        # only values the form offers reach the command line (no "--store=..." as a name)
        known = {p["name"] for p in await ui.call(builtin_panels.pipeline_choices, ui.store)}
        if pipeline not in known:
            return ui.error(request, 400, f"unknown pipeline '{pipeline}'")
        if sample and not SAMPLE_RE.match(sample):
            return ui.error(request, 400, f"a sample is N or P% (e.g. 50 or 10%), not '{sample}'")
        return await act(request, lambda new: f"/run/{new}", orchestrate.start_run,
                         ui.store_dir, pipeline, query, policy, sample, status=400,
                         locked=False)

    async def run_events(request: Request) -> Response:
        try:
            count = max(int(request.query_params.get("count", "0") or 0), 0)
        except ValueError:
            count = 0

        async def stream():  # noqa: ANN202 - an async generator of SSE frames
            sent = 0
            while True:
                views = await ui.call(builtin_panels.run_views, ui.store)
                yield f"data: {json.dumps(views, separators=(',', ':'))}\n\n"
                sent += 1
                if count and sent >= count:
                    return
                await asyncio.sleep(1.0)
                if await request.is_disconnected():
                    return

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store",
                                          "X-Accel-Buffering": "no"})

    async def run(request: Request) -> Response:
        return await _run_page(request, "run.html")

    async def run_live(request: Request) -> Response:
        """The run page's body alone: the page's script swaps it in every second or two,
        so progress, failures and the results gallery move without a reload."""
        resp = await _run_page(request, "run_body.html")
        resp.headers["Cache-Control"] = "no-store"
        return resp

    async def _run_page(request: Request, template: str) -> Response:
        rid = request.path_params["run"]
        if not RUN_ID_RE.match(rid):
            return ui.error(request, 404, "no such run")
        try:
            d = await ui.call(builtin_panels.run_data, ui.store, rid)
        except UsageError:
            return ui.error(request, 404, "no such run")
        rendered = await ui.call(lambda: render_slot(
            "run-detail", ui.panel_ctx(request, "run-detail", rid, d)))
        return ui.page(request, template, title=f"run {rid}", d=d, panels=rendered)

    async def run_steer(request: Request) -> Response:
        await ui.check_csrf(request)
        rid, action = request.path_params["run"], request.path_params["action"]
        if action not in ("pause", "resume", "cancel") or not RUN_ID_RE.match(rid):
            return ui.error(request, 404, "no such action")
        return await act(request, lambda _: f"/run/{rid}", orchestrate.steer, ui.store_dir,
                         rid, action, locked=False)

    async def run_rerun(request: Request) -> Response:
        await ui.check_csrf(request)
        rid = request.path_params["run"]
        if not RUN_ID_RE.match(rid):
            return ui.error(request, 404, "no such run")
        return await act(request, lambda new: f"/run/{new}", orchestrate.rerun_failed,
                         ui.store_dir, rid, locked=False)

    async def collections(request: Request) -> Response:
        rows = await ui.call(builtin_panels.collection_rows, ui.store)
        return ui.page(request, "collections.html", title="collections", rows=rows)

    async def collection_show(request: Request) -> Response:
        name = request.path_params["name"]
        offset = _offset(request.query_params.get("offset", ""))
        try:
            d = await ui.call(builtin_panels.collection_page, ui.store, name, offset,
                              PAGE_SIZE)
        except UsageError:
            return ui.error(request, 404, "no such collection")

        def link(off: int) -> str:
            return f"/collection/{quote(name)}?" + urlencode({"offset": off})

        return ui.page(request, "collection.html", title=f"collection {name}", **d,
                       offset=offset, page_size=PAGE_SIZE,
                       **pager(link, offset, PAGE_SIZE, d["total"]))

    async def collection_create(request: Request) -> Response:
        await ui.check_csrf(request)
        form = await request.form()
        name, query = str(form.get("name", "")).strip(), str(form.get("query", ""))
        freeze = form.get("freeze") == "1"
        from mstore.services import collections as ce

        return await act(request, lambda c: f"/collection/{quote(c.name)}",
                         lambda: ce.create(ui.store, name, query=query, freeze=freeze),
                         status=400)

    async def collection_freeze(request: Request) -> Response:
        await ui.check_csrf(request)
        name = request.path_params["name"]
        from mstore.services import collections as ce

        return await act(request, lambda c: f"/collection/{quote(c.name)}", ce.freeze,
                         ui.store, name)

    async def collection_delete(request: Request) -> Response:
        await ui.check_csrf(request)
        from mstore.services import collections as ce

        return await act(request, lambda _: "/collections", ce.delete, ui.store,
                         request.path_params["name"], status=404)

    async def review(request: Request) -> Response:
        qp = request.query_params
        run_id = qp.get("run", "")
        offset = _offset(qp.get("offset", ""))
        d = await ui.call(builtin_panels.review_data, ui.store, run_id, offset, REVIEW_PAGE)

        def link(off: int) -> str:
            return "/review?" + urlencode({"run": d["run"], "offset": off})

        return ui.page(request, "review.html", title="duplicate review", **d,
                       back=link(offset), **pager(link, offset, REVIEW_PAGE, d["total"]))

    async def review_mark(request: Request) -> Response:
        await ui.check_csrf(request)
        form = await request.form()
        group = str(form.get("group", ""))
        back = str(form.get("back", ""))
        if not back.startswith("/review"):  # only ever back to the review page
            back = "/review"
        if not files.ID_RE.match(group):
            return ui.error(request, 404, "no such duplicate group")
        from mstore.services import review as rv

        # the page numbers each group's items m0, m1, ... in item_keys order
        values = {int(k[1:]): v for k, v in form.multi_items()
                  if re.fullmatch(r"m\d{1,6}", k) and isinstance(v, str)}
        return await act(request, lambda _: back, rv.mark_group, ui.store, group, values,
                         status=400)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if "session" not in request.scope.get("state", {}):
            return PlainTextResponse(exc.detail, status_code=exc.status_code)
        return ui.error(request, exc.status_code, str(exc.detail))

    async def not_found(request: Request, exc: Exception) -> Response:
        return PlainTextResponse("not found", status_code=404)

    @asynccontextmanager
    async def lifespan(app: Starlette):  # noqa: ANN202
        yield
        ui.close()

    routes = [
        Route("/", assets),
        Route("/asset/{aid}", asset),
        Route("/asset/{aid}/file", asset_file),
        Route("/artifact/{art}", artifact),
        Route("/artifact/{art}/payload", artifact_payload),
        Route("/runs", runs),
        Route("/runs/events", run_events),
        Route("/runs/start", run_start, methods=["POST"]),
        Route("/run/{run}", run),
        Route("/run/{run}/live", run_live),
        Route("/run/{run}/rerun", run_rerun, methods=["POST"]),
        Route("/run/{run}/{action}", run_steer, methods=["POST"]),
        Route("/collections", collections),
        Route("/collections/create", collection_create, methods=["POST"]),
        Route("/collection/{name}", collection_show),
        Route("/collection/{name}/freeze", collection_freeze, methods=["POST"]),
        Route("/collection/{name}/delete", collection_delete, methods=["POST"]),
        Route("/review", review),
        Route("/review/mark", review_mark, methods=["POST"]),
        Route("/healthz", lambda r: JSONResponse({"ok": True,
                                                  "panel_problems": ui.panel_problems})),
        Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan,
                    exception_handlers={HTTPException: http_error, 404: not_found})
    app.state.ui = ui
    app.add_middleware(Guard, token=token, hosts=host_rule)
    return app
