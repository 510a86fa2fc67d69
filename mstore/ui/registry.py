"""What one app shows besides its own routes: the panels of its pages' slots, and the
pages, POST actions and files the tools contributed.

One registry per app, so two apps in one process share nothing. A tool registers through
its :class:`mstore.ui.api.ToolUi`, which only collects; :meth:`UiRegistry.commit` then
takes all of it or, on a conflict, none of it (a tool's UI is never half there).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from markupsafe import Markup

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mstore.ui.api import ToolUi

# the slots the UI's pages render; a panel registered for another slot is refused
SLOTS = ("asset-main", "asset-sidebar", "run-detail", "artifact-detail")
TOOL_PREFIX = "/tool/"
FILE_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
PATH_RE = re.compile(r"[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)*")
ALIAS_RE = re.compile(r"/[a-z][a-z0-9-]*")
FILE_RE = re.compile(r"[A-Za-z0-9_-]+\.(js|css)")

Renderer = Callable[..., Markup]  # (template, **values) -> Markup, in its owner's folder


def tool_url(tool: str, path: str = "") -> str:
    return TOOL_PREFIX + tool + ("/" + path if path else "")


def static_url(tool: str, name: str) -> str:
    """Where a script or style sheet of a tool's pages is served."""
    return tool_url(tool, "static/" + name)


@dataclass(frozen=True)
class Panel:
    slot: str
    name: str
    render: Callable[..., Any]  # (PanelContext) -> Markup | str | None
    title: str
    order: int
    owner: str  # the tool that registered it ("" for the UI's own)
    renderer: Renderer | None = None  # its owner's templates, set when committed


@dataclass(frozen=True)
class ToolPage:
    tool: str
    path: str
    handler: Callable[..., Any]  # (PageContext) -> Page
    nav: str | None  # a link in the header, with this text
    alias: str | None  # a short address redirecting here ("/review")
    scripts: tuple[str, ...]
    styles: tuple[str, ...]
    renderer: Renderer | None = None

    @property
    def url(self) -> str:
        return tool_url(self.tool, self.path)


@dataclass(frozen=True)
class ToolAction:
    tool: str
    path: str
    handler: Callable[..., Any]  # (ActionContext) -> str, the address to go back to

    @property
    def url(self) -> str:
        return tool_url(self.tool, self.path)


@dataclass(frozen=True)
class ToolFile:
    """A script or style sheet of a tool's pages, served from its folder."""

    tool: str
    name: str
    path: Path

    @property
    def url(self) -> str:
        return static_url(self.tool, self.name)

    @property
    def media_type(self) -> str:
        return FILE_TYPES[self.path.suffix]


class UiRegistry:
    def __init__(self, reserved: Iterable[str]) -> None:
        """``reserved``: the first path segments of the UI's own routes (no alias may
        take one)."""
        self.reserved = frozenset(reserved)
        self._panels: dict[str, dict[str, Panel]] = {}
        self.pages: list[ToolPage] = []
        self.actions: list[ToolAction] = []
        self.files: dict[str, ToolFile] = {}
        self.problems: list[str] = []  # tools whose UI did not load, and why

    # -- panels -----------------------------------------------------------------------
    def panels(self, slot: str) -> list[Panel]:
        return sorted(self._panels.get(slot, {}).values(), key=lambda p: (p.order, p.name))

    def unregister_panel(self, slot: str, name: str) -> None:
        self._panels.get(slot, {}).pop(name, None)

    # -- pages --------------------------------------------------------------------------
    def nav(self) -> list[tuple[str, str]]:
        """(text, address) of the header links tools' pages asked for."""
        return [(p.nav, p.url) for p in self.pages if p.nav]

    def aliases(self) -> dict[str, ToolPage]:
        return {p.alias: p for p in self.pages if p.alias}

    def commit(self, staged: ToolUi, renderer: Renderer) -> None:
        """Add everything ``staged`` collected, rendering with ``renderer``; a ValueError
        (and nothing added) when an address is taken or a file is missing."""
        taken = {p.url for p in self.pages} | {a.url for a in self.actions}
        aliases = self.aliases()
        urls: set[tuple[str, str]] = set()
        for kind, url in ([("GET", p.url) for p in staged.pages]
                          + [("POST", a.url) for a in staged.actions]):
            if url in taken or (kind, url) in urls:
                raise ValueError(f"{url} is registered twice")
            urls.add((kind, url))
        for p in staged.pages:
            if p.alias is None:
                continue
            if p.alias.strip("/") in self.reserved:
                raise ValueError(f"alias {p.alias} is one of the UI's own addresses")
            if p.alias in aliases:
                raise ValueError(f"alias {p.alias} is taken by {aliases[p.alias].url}")
            aliases[p.alias] = p
        files = {}
        for p in staged.pages:
            for name in (*p.scripts, *p.styles):
                if staged.folder is None:
                    raise ValueError(f"page {p.path!r}: {name} needs the tool's folder")
                f = ToolFile(staged.tool, name, staged.folder / name)
                if not f.path.is_file():
                    raise ValueError(f"page {p.path!r}: no file {name} in {staged.folder}")
                files[f.url] = f
        for panel in staged.panels:
            self._panels.setdefault(panel.slot, {})[panel.name] = replace(
                panel, renderer=renderer)
        self.pages += [replace(p, renderer=renderer) for p in staged.pages]
        self.actions += staged.actions
        self.files.update(files)


def takes_registrar(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` can be called with one argument (a ToolUi)."""
    try:
        inspect.signature(fn).bind(None)
    except TypeError:
        return False
    except ValueError:  # no signature to read (a builtin): let the call tell
        return True
    return True
