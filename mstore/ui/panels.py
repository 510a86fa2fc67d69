"""Panels: the pieces a page is built from, registered per slot.

A page (asset detail, run detail, artifact detail) renders the panels registered for its
slots in ``order``. A panel is a function ``render(ctx) -> Markup | str | None``:

* ``None`` (or ``""``): the panel has nothing to show here and is left out;
* a ``str``: shown as escaped text (never interpreted as HTML);
* a ``markupsafe.Markup``: HTML, which a panel should only get from ``ctx.render`` — a
  template of the UI's Jinja2 environment, where autoescape is on.

Built-in panels are registered through the same :func:`register_panel` as third-party ones;
a tool contributes panels by naming a registering function in its manifest (``panels =
"panel:register"``), loaded by :func:`load_tool_panels` (see ``docs/panels.md``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

# the slots pages render; a panel registered for another slot is never shown
SLOTS = ("asset-main", "asset-sidebar", "run-detail", "artifact-detail")


@dataclass
class PanelContext:
    """What a panel gets: the store, the page's subject (``data``) and a template renderer."""

    store: Any  # mstore.store.store.Store
    slot: str
    subject: str  # the asset, run or artifact id the page is about
    data: dict[str, Any]  # what the page already read (e.g. the describe_* dict)
    render_template: Callable[..., Markup]
    csrf: str = ""  # the CSRF token for a POST form a panel renders
    extra: dict[str, Any] = field(default_factory=dict)

    def render(self, template: str, **values: Any) -> Markup:
        """Render ``template`` (a name under the UI's templates, e.g. "panels/x.html", or a
        template string when it contains "{{" or "{%") with autoescape on."""
        return self.render_template(template, ctx=self, **values)


Render = Callable[[PanelContext], "Markup | str | None"]


@dataclass(frozen=True)
class Panel:
    slot: str
    name: str
    render: Render
    title: str
    order: int


_REGISTRY: dict[str, dict[str, Panel]] = {}


def register_panel(slot: str, name: str, render: Render, *, title: str | None = None,
                   order: int = 100) -> None:
    """Show ``render``'s output in ``slot`` under ``name`` (registering a name again
    replaces that panel, so a plugin can override a built-in one)."""
    if slot not in SLOTS:
        raise ValueError(f"unknown panel slot '{slot}' (one of {', '.join(SLOTS)})")
    if not name or not callable(render):
        raise ValueError("a panel needs a name and a render function")
    _REGISTRY.setdefault(slot, {})[name] = Panel(slot, name, render, title or name, order)


def unregister_panel(slot: str, name: str) -> None:
    _REGISTRY.get(slot, {}).pop(name, None)


def panels(slot: str) -> list[Panel]:
    return sorted(_REGISTRY.get(slot, {}).values(), key=lambda p: (p.order, p.name))


@dataclass(frozen=True)
class Rendered:
    name: str
    title: str
    html: Markup


def render_slot(slot: str, ctx: PanelContext) -> list[Rendered]:
    """Every panel of ``slot`` that has something to show; a panel that raises shows its
    error (escaped) instead of breaking the page."""
    out = []
    for p in panels(slot):
        ctx.slot = slot
        try:
            got = p.render(ctx)
        except Exception as e:  # noqa: BLE001 - one broken panel must not break the page
            got = f"panel error: {type(e).__name__}: {e}"
        if got is None or got == "":
            continue
        html = got if isinstance(got, Markup) else Markup(f"<p>{escape(got)}</p>")
        out.append(Rendered(p.name, p.title, html))
    return out


def load_tool_panels(store_root: Path | None) -> list[str]:
    """Call the ``panels`` function of every tool on the tool path (``workers/``,
    ``$MSTORE_TOOLS_PATH``, ``<store>/tools/``) that declares one; returns the problems
    (a broken tool must not take the UI down)."""
    from mstore.errors import UsageError
    from mstore.tools.loader import load_function
    from mstore.tools.registry import Registry

    try:
        tools = Registry.for_store(store_root).tools
    except UsageError as e:
        return [f"tool registry: {e.message}"]
    problems = []
    for m in sorted(tools.values(), key=lambda m: m.id):
        if not m.panels:
            continue
        try:
            load_function(m.folder, m.panels, m.id)()
        except Exception as e:  # noqa: BLE001 - reported, the other panels still load
            problems.append(f"tool {m.id}: panels {m.panels}: {type(e).__name__}: {e}")
    return problems
