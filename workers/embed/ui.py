"""The embed tool's web UI: a "Similar photos" panel on an asset's page -- the assets
that look most like it, nearest first, through the same ``similar:`` term `mstore find`
uses (the vector index in the store's local/, caught up as embeddings arrive)."""

from __future__ import annotations

from markupsafe import Markup

from mstore.ui.api import PanelContext, ToolUi, UsageError

SHOWN = 12  # look-alikes on the panel; the link shows them all in the grid


def similar_photos(ctx: PanelContext) -> Markup | None:
    if ctx.data["kind"] not in ("image", "video"):
        return None
    with ctx.store.reader() as r:
        if not any(a.payload for a in r.artifacts_of(ctx.subject, "embedding")):
            return None  # not embedded (yet): nothing to say
    query = f"similar:{ctx.subject}"
    try:
        ids = ctx.store.find(query, limit=SHOWN)
    except UsageError as e:
        return str(e)  # shown as text in the panel (e.g. the extra is not installed)
    if not ids:
        return None
    tiles = ctx.store.tiles(ids)
    return ctx.render("panel.html", tiles=[tiles[i] for i in ids], query=query)


def register(ui: ToolUi) -> None:
    ui.panel("asset-main", "similar", similar_photos, title="Similar photos", order=30)
