"""What every page of the UI shares: the store (one thread at a time), templates, CSRF
tokens, the panels and tools' pages of this app (``registry``), "look up or 404", and
running a button's action.

Every store access runs in a worker thread under one lock (the index is an LMDB
environment this process opens once, and ``catch_up`` writes to it), so the event loop
stays free for the Server-Sent Events stream and file responses.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from markupsafe import Markup
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from mstore.errors import MstoreError, QueryError, UsageError
from mstore.services.resolve import Ambiguous
from mstore.store.store import Store
from mstore.ui.api import Links, PanelContext, Params, StoreView
from mstore.ui.lookup import NotFound, resolved
from mstore.ui.panels import Rendered, render_slot
from mstore.ui.registry import Renderer, UiRegistry
from mstore.ui.templating import environment, render

HERE = Path(__file__).resolve().parent
T = TypeVar("T")
log = logging.getLogger("mstore.ui")


class Refused(Exception):
    """A page that cannot be shown (``Ui.lookup``): the app answers ``status`` with the
    UI's error page and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


class Ui:
    def __init__(self, store_dir: Path, registry: UiRegistry) -> None:
        self.store_dir = Path(store_dir)
        self.registry = registry
        self._store: Store | None = None
        self.lock = threading.Lock()
        self.secret = secrets.token_bytes(32)
        self.env = environment(HERE / "templates")
        self.own_renderer = self.renderer("", None)

    @property
    def panel_problems(self) -> list[str]:
        """Tools whose UI (panels, pages, actions) did not load, and why."""
        return self.registry.problems

    # -- the store: one thread at a time -------------------------------------------------
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

    async def lookup(self, what: str, text: str,
                     load: Callable[[Store, Any], Any] | None = None) -> Any:
        """What ``text`` (from the address) names — an "asset", "artifact", "run" or
        "collection", resolved like the command line resolves it — or the page answers
        404 (400 for an ambiguous prefix). With ``load``: ``load(store, found)``, read in
        the same turn of the store thread; a refusal of its is a 404 too."""
        def find() -> Any:
            self.store.catch_up()  # what the command line just made is found too
            found = resolved(self.store, what, text)
            return found if load is None else load(self.store, found)

        try:
            return await self.call(find)
        except Ambiguous as e:
            raise Refused(400, e.message) from None
        except UsageError as e:
            raise Refused(404, e.message if isinstance(e, NotFound)
                          else f"no such {what}") from None

    # -- templates ------------------------------------------------------------------------
    def renderer(self, tool: str, folder: Path | None) -> Renderer:
        """Rendering in ``folder``'s templates (a tool's, or the UI's own for ``tool``
        "")."""
        env = self.env if not tool else environment(folder, links=Links(tool))

        def render_in(template: str, **values: Any) -> Markup:
            return render(env, template, **values)

        return render_in

    def csrf_token(self, request: Request) -> str:
        session = request.state.session
        return hmac.new(self.secret, b"csrf\0" + session.encode(), hashlib.sha256).hexdigest()

    async def check_csrf(self, request: Request) -> None:
        form = await request.form()
        sent = form.get("csrf")
        if not isinstance(sent, str) or not hmac.compare_digest(
                sent.encode(), self.csrf_token(request).encode()):
            raise HTTPException(403, "missing or wrong CSRF token (reload the page)")

    def nav(self, path: str) -> list[tuple[str, str, bool]]:
        """The header's links tools' pages asked for: (text, address, whether it is the
        page shown)."""
        return [(text, url, path == url or path.startswith(url + "/"))
                for text, url in self.registry.nav()]

    def page(self, request: Request, template: str, status: int = 200, **values: Any
             ) -> HTMLResponse:
        values.setdefault("scripts", ())
        values.setdefault("styles", ())
        path = request.url.path
        html = self.env.get_template(template).render(
            request_path=path, csrf=self.csrf_token(request), nav=self.nav(path), **values)
        return HTMLResponse(html, status_code=status)

    def error(self, request: Request, status: int, message: str) -> HTMLResponse:
        return self.page(request, "error.html", status=status, title=f"{status}",
                         message=message)

    def refusal(self, request: Request, e: Exception, status: int = 400) -> HTMLResponse:
        """The page for an operation that refused: ``NotFound`` 404, a bad query with its
        caret, another mstore error ``status``, anything else a 500 that names it."""
        if isinstance(e, NotFound):
            return self.error(request, 404, e.message)
        if isinstance(e, QueryError):
            return self.error(request, 400, e.render())
        if isinstance(e, MstoreError):
            return self.error(request, status, e.message)
        log.error("%s %s failed", request.method, request.url.path, exc_info=e)
        return self.error(request, 500, f"{request.url.path} failed: {type(e).__name__}: {e}")

    # -- panels -------------------------------------------------------------------------------
    def render_slot(self, request: Request, slot: str, subject: str, data: dict
                    ) -> list[Rendered]:
        """The panels of ``slot`` about ``subject`` (call in the store thread)."""
        ctx = PanelContext(store=StoreView(self.store), slot=slot, subject=subject, data=data,
                           csrf=self.csrf_token(request), links=Links(),
                           renderer=self.own_renderer)
        return render_slot(self.registry, ctx)

    # -- buttons ------------------------------------------------------------------------------
    async def act(self, request: Request, redirect: Callable[[Any], str],
                  fn: Callable[..., Any], *args: Any, status: int = 409,
                  locked: bool = True) -> Response:
        """Do a button's action — in the store thread, or (``locked=False``, a child
        ``mstore`` process) beside it — then redirect (303) to ``redirect(result)``; a
        refusal shows its message (``refusal``)."""
        try:
            got = await (self.call(fn, *args) if locked else run_in_threadpool(fn, *args))
        except MstoreError as e:
            return self.refusal(request, e, status)
        return RedirectResponse(redirect(got), status_code=303)


def ui_of(request: Request) -> Ui:
    return request.app.state.ui


def params(request: Request) -> Params:
    """The address's query string, read as a tool's page reads it."""
    return Params(request.query_params.multi_items())


def pager(link: Callable[[int], str], offset: int, size: int, total: int
          ) -> dict[str, str | None]:
    """The previous / next page links of a listing shown ``size`` at a time."""
    return {"prev_link": link(max(offset - size, 0)) if offset > 0 else None,
            "next_link": link(offset + size) if offset + size < total else None}
