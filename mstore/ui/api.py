"""The web UI's public API for tools: panels on the UI's pages, pages of a tool's own, and
POST actions, each handed a typed context with a read-only view of the store.

A tool names its registering function in its manifest (``ui = "ui:register"``); ``mstore
ui`` calls it once per app with a :class:`ToolUi` for that tool::

    def register(ui: ToolUi) -> None:
        ui.panel("asset-sidebar", "stars", stars, title="Stars")
        ui.page("review", review_page, nav="Review")      # GET /tool/<id>/review
        ui.action("review/mark", save_marks)              # POST /tool/<id>/review/mark

Pages and actions live under ``/tool/<id>/``, inside the UI's layout and guard (token,
Host check, security headers); every action's CSRF token is checked before it runs.
Templates come from the tool's own folder. Code under ``workers/`` imports from mstore only
this module and ``mstore.tools.api``; the rest is internal (``docs/panels.md``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from markupsafe import Markup

from mstore.errors import UsageError
from mstore.model.names import NAME_RULE, is_name
from mstore.model.records import ArtifactMade, CollectionDefined, Label
from mstore.services import people
from mstore.services.labels import LabelChange
from mstore.store.reader import Reader
from mstore.store.store import Store
from mstore.ui.lookup import NotFound, resolved
from mstore.ui.registry import (
    ALIAS_RE,
    FILE_RE,
    PATH_RE,
    SLOTS,
    Panel,
    ToolAction,
    ToolPage,
    tool_url,
)
from mstore.ui.tiles import Tile

ID_RE = re.compile(r"[0-9a-f]{64}")

__all__ = ["SLOTS", "ActionContext", "ArtifactMade", "CollectionDefined", "Label",
           "LabelChange", "Links", "NotFound", "Page", "PageContext", "PanelContext",
           "Params", "Reader", "StoreView", "Tile", "ToolUi", "UsageError", "people"]


# -- reading the store -------------------------------------------------------------------
class StoreView:
    """The store as a panel, a page or an action sees it: read-only. ``with view.reader()
    as r:`` is one consistent view of the index (``mstore.store.reader.Reader``: assets,
    paths, runs, artifacts, labels, collections as typed rows); payloads by object id;
    names resolved the way the command line resolves them. A name that matches nothing
    raises :class:`NotFound` (the page answers 404), an ambiguous prefix ``UsageError``."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def reader(self) -> AbstractContextManager[Reader]:
        return self._store.reader()

    def payload(self, object_id: str) -> bytes:
        """An artifact's payload bytes (``ArtifactMade.payload`` is the object id)."""
        if not ID_RE.fullmatch(object_id):
            raise NotFound(f"no object '{object_id[:16]}'")
        try:
            return self._store.objects.get(object_id)
        except KeyError:
            raise NotFound(f"no object '{object_id[:16]}'") from None

    def asset(self, text: str) -> str:
        """The asset id ``text`` names (an id or a unique prefix of 4+ hex digits)."""
        return resolved(self._store, "asset", text)

    def artifact(self, text: str) -> ArtifactMade:
        """The artifact ``text`` names (an id or a unique prefix)."""
        art_id = resolved(self._store, "artifact", text)
        with self._store.reader() as r:
            art = r.artifact(art_id)
        if art is None:
            raise NotFound(f"no artifact '{text}'")
        return art

    def run(self, text: str) -> str:
        """The run id ``text`` names (an id or a unique prefix)."""
        return resolved(self._store, "run", text)

    def collection(self, name: str) -> CollectionDefined:
        return resolved(self._store, "collection", name)

    def find(self, query: str, limit: int | None = None) -> list[str]:
        """The ids of the assets a query of the find language matches, in the order `mstore
        find` gives them (a ranked term's, e.g. ``similar:``, nearest first), at most
        ``limit``. A bad query, or a term whose data is not there, raises ``UsageError``."""
        from mstore.errors import QueryError
        from mstore.query.evaluate import evaluate
        from mstore.query.snapshot import load_table
        from mstore.query.terms import TermContext

        try:
            table = load_table(self._store)
            rows = evaluate(query, table, TermContext(self._store), limit=limit)
        except QueryError as e:
            raise UsageError(str(e).splitlines()[0]) from None
        return [rid for i in rows if (rid := table.row_id(i))]

    def tiles(self, ids: Iterable[str]) -> dict[str, Tile]:
        """Each asset as the UI's grids show it (kind, size, date, path, thumbnail)."""
        from mstore.ui.tiles import tile

        with self._store.reader() as r:
            return {aid: tile(r, aid) for aid in dict.fromkeys(ids)}


class Params:
    """The fields of a query string or a form, read-only: text values only (an uploaded
    file is not a field here)."""

    def __init__(self, items: Iterable[tuple[str, Any]]) -> None:
        self._items = [(k, v) for k, v in items if isinstance(v, str)]

    def get(self, name: str, default: str = "") -> str:
        """The first value of ``name``."""
        return next((v for k, v in self._items if k == name), default)

    def get_all(self, name: str) -> list[str]:
        return [v for k, v in self._items if k == name]

    def number(self, name: str, default: int = 0) -> int:
        """``name`` as a non-negative number (a page offset); anything else: ``default``."""
        text = self.get(name)
        return int(text) if text.isascii() and text.isdigit() and len(text) < 19 else default

    def items(self) -> list[tuple[str, str]]:
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return any(k == name for k, _ in self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys(k for k, _ in self._items))


class Links:
    """Addresses in the UI, by id (never built from a file path). ``tool(path, **query)``:
    one of this tool's own pages or actions."""

    def __init__(self, tool: str = "") -> None:
        self._tool = tool

    @staticmethod
    def asset(aid: str) -> str:
        return "/asset/" + quote(aid, safe="")

    @staticmethod
    def artifact(art_id: str) -> str:
        return "/artifact/" + quote(art_id, safe="")

    @staticmethod
    def file(aid: str) -> str:
        """An asset's original file, for ``<img>``, ``<video>`` and ``<audio>``."""
        return Links.asset(aid) + "/file"

    @staticmethod
    def payload(art_id: str) -> str:
        """An artifact's payload (an image artifact's bytes, for ``<img src>``)."""
        return Links.artifact(art_id) + "/payload"

    @staticmethod
    def run(run_id: str) -> str:
        return "/run/" + quote(run_id, safe="")

    @staticmethod
    def collection(name: str) -> str:
        return "/collection/" + quote(name, safe="")

    @staticmethod
    def search(query: str) -> str:
        """The assets grid showing what a query of the find language matches."""
        return "/?" + urlencode({"q": query})

    def tool(self, path: str = "", **query: Any) -> str:
        q = {k: v for k, v in query.items() if v is not None}
        return tool_url(self._tool, path) + ("?" + urlencode(q) if q else "")

    def is_tool_page(self, address: str) -> bool:
        """Whether ``address`` is one of this tool's pages (where an action may send a
        person back to): a local path under ``/tool/<id>/``."""
        base = tool_url(self._tool)
        return (address == base or address.startswith((base + "/", base + "?", base + "#"))
                ) and "\\" not in address


# -- what panels, pages and actions get ------------------------------------------------------
@dataclass
class PanelContext:
    """What a panel gets: the store, the page's subject and what the page already read."""

    store: StoreView
    slot: str
    subject: str  # the asset, run or artifact id the page is about
    data: dict[str, Any]  # what the page read (docs/panels.md, per slot)
    csrf: str  # the CSRF token for a POST form the panel renders
    links: Links
    renderer: Callable[..., Markup] = field(repr=False)

    def render(self, template: str, **values: Any) -> Markup:
        """Render ``template`` — a file in the panel's tool folder (the UI's own
        templates for the UI's panels), or a template string when it contains "{{" or
        "{%" — with autoescape on; ``ctx`` and ``links`` are defined in it."""
        return self.renderer(template, ctx=self, **values)


@dataclass
class PageContext:
    """What a tool's page handler gets (``GET /tool/<id>/<path>``)."""

    store: StoreView
    query: Params  # the address's query string
    csrf: str  # for the POST forms the page renders: <input name="csrf" value=...>
    links: Links
    tool: str


@dataclass(frozen=True)
class Page:
    """What a page handler returns: ``template`` (a file in the tool's folder) rendered
    with ``values`` (plus ``ctx`` and ``links``) inside the UI's layout."""

    template: str
    title: str
    values: Mapping[str, Any] = field(default_factory=dict)
    status: int = 200


class ActionContext:
    """What a tool's action gets (``POST /tool/<id>/<path>``, its CSRF token checked):
    the form, the store to read, and the writes an action may make."""

    def __init__(self, store: Store, form: Params, tool: str) -> None:
        self._store = store
        self.store = StoreView(store)
        self.form = form
        self.tool = tool
        self.links = Links(tool)

    def set_labels(self, changes: Iterable[LabelChange]) -> int:
        """Write a person's marks as labels (all or none); returns how many."""
        from mstore.services.labels import set_labels

        return set_labels(self._store, changes)

    def back(self, default: str) -> str:
        """The form's ``back`` field when it is one of this tool's pages, else
        ``default``: where to send the person afterwards, never off the tool."""
        back = self.form.get("back")
        return back if self.links.is_tool_page(back) else default


PanelRender = Callable[[PanelContext], "Markup | str | None"]
PageHandler = Callable[[PageContext], Page]
ActionHandler = Callable[[ActionContext], str]  # returns the address to go to (303)


# -- registering ------------------------------------------------------------------------------
class ToolUi:
    """What a tool's ``ui`` function gets: it registers the tool's panels, pages and
    actions on one app. Nothing is shown until the function returns; if it raises, none
    of it is (the problem is reported on ``/healthz`` and by ``mstore ui``)."""

    def __init__(self, tool: str, folder: Path | None) -> None:
        if tool and not is_name(tool):  # "" is the UI itself
            raise ValueError(f"'{tool}' is not a tool name: use {NAME_RULE}")
        self.tool = tool
        self.folder = folder  # its templates, scripts and styles
        self.links = Links(tool)
        self.panels: list[Panel] = []
        self.pages: list[ToolPage] = []
        self.actions: list[ToolAction] = []

    def panel(self, slot: str, name: str, render: PanelRender, *, title: str | None = None,
              order: int = 100) -> None:
        """Show ``render(ctx)``'s output in ``slot`` (one of ``SLOTS``) under ``name``:
        None or "" leaves it out, a str is shown as escaped text, ``Markup`` as HTML (get
        it from ``ctx.render``). A name registered again in a slot replaces that panel."""
        if slot not in SLOTS:
            raise ValueError(f"unknown panel slot '{slot}' (one of {', '.join(SLOTS)})")
        if not name or not callable(render):
            raise ValueError("a panel needs a name and a render function")
        self.panels.append(Panel(slot, name, render, title or name, order, self.tool))

    def page(self, path: str, handler: PageHandler, *, nav: str | None = None,
             alias: str | None = None, scripts: tuple[str, ...] = (),
             styles: tuple[str, ...] = ()) -> None:
        """``GET /tool/<id>/<path>`` ("" for ``/tool/<id>``) answers ``handler(ctx)``'s
        Page. ``nav``: a header link with this text; ``alias``: a short address of one
        segment ("/review") that redirects here, query string kept; ``scripts`` /
        ``styles``: files in the tool's folder the page loads."""
        if path and (not PATH_RE.fullmatch(path) or path.split("/")[0] == "static"):
            raise ValueError(f"a page path is lowercase segments, not 'static', not {path!r}")
        if alias is not None and not ALIAS_RE.fullmatch(alias):
            raise ValueError(f"an alias is one lowercase segment like '/review', not {alias!r}")
        for names, ext in ((scripts, ".js"), (styles, ".css")):
            for name in names:
                if not FILE_RE.fullmatch(name) or not name.endswith(ext):
                    raise ValueError(f"not a {ext} file name: {name!r}")
        if not callable(handler):
            raise ValueError("a page needs a handler")
        self.pages.append(ToolPage(self.tool, path, handler, nav, alias, tuple(scripts),
                                   tuple(styles)))

    def action(self, path: str, handler: ActionHandler) -> None:
        """``POST /tool/<id>/<path>`` runs ``handler(ctx)`` once the form's CSRF token is
        checked, then redirects (303) to the address it returns (a local one). A
        ``UsageError`` it raises is shown with status 400, ``NotFound`` with 404."""
        if not PATH_RE.fullmatch(path) or path.split("/")[0] == "static":
            raise ValueError(f"an action path is lowercase segments, not 'static', not {path!r}")
        if not callable(handler):
            raise ValueError("an action needs a handler")
        self.actions.append(ToolAction(self.tool, path, handler))
