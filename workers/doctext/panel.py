"""The doctext tool's panel: a document's text page by page on its asset page."""

from __future__ import annotations

import json

from markupsafe import Markup

from mstore.ui.api import PanelContext, ToolUi

# a long book is shown in part; the rest is a `mstore cat` away
MAX_PAGES_SHOWN = 200


def document_text(ctx: PanelContext) -> Markup | None:
    """The newest doctext artifact's blocks, one section per page (a text file: one)."""
    with ctx.store.reader() as r:
        arts = [a for a in r.artifacts_of(ctx.subject, "doctext") if a.payload]
    if not arts:
        return None
    art = max(arts, key=lambda a: a.hlc)
    try:
        payload = json.loads(ctx.store.payload(art.payload))
    except ValueError:
        return None
    blocks = payload.get("blocks") or []
    pages: dict[int | None, list[str]] = {}
    for b in blocks:
        pages.setdefault(b.get("page"), []).append(b.get("text") or "")
    shown = list(pages.items())[:MAX_PAGES_SHOWN]
    return ctx.render("panel.html", art=art.id, source=payload.get("source"),
                      pages=[{"page": p, "paragraphs": texts} for p, texts in shown],
                      more=len(pages) - len(shown),
                      without=payload.get("pages_without_text") or [])


def register(ui: ToolUi) -> None:
    ui.panel("asset-main", "doctext", document_text, title="Text", order=30)
