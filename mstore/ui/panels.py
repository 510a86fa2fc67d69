"""Rendering a page's slot: the panels one app registered for it (``registry.py``), in
``order``. A panel is ``render(ctx) -> Markup | str | None`` (``mstore.ui.api``):

* ``None`` (or ``""``): the panel has nothing to show here and is left out;
* a ``str``: shown as escaped text (never interpreted as HTML);
* a ``markupsafe.Markup``: HTML, which a panel should only get from ``ctx.render`` — a
  template of its owner's folder, where autoescape is on.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from markupsafe import Markup, escape

from mstore.ui.api import PanelContext
from mstore.ui.registry import UiRegistry


@dataclass(frozen=True)
class Rendered:
    name: str
    title: str
    html: Markup


def render_slot(registry: UiRegistry, ctx: PanelContext) -> list[Rendered]:
    """Every panel of ``ctx.slot`` that has something to show; a panel that raises shows
    its error (escaped) instead of breaking the page."""
    out = []
    for p in registry.panels(ctx.slot):
        assert p.renderer is not None  # set when the panel was committed
        try:
            got = p.render(replace(ctx, renderer=p.renderer))
        except Exception as e:  # noqa: BLE001 - one broken panel must not break the page
            got = f"panel error: {type(e).__name__}: {e}"
        if got is None or got == "":
            continue
        html = got if isinstance(got, Markup) else Markup(f"<p>{escape(got)}</p>")
        out.append(Rendered(p.name, p.title, html))
    return out
