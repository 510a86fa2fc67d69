"""The duplicates tool's UI panels: an asset's duplicate groups (asset sidebar) and the
review marks on a group (its artifact page)."""

from __future__ import annotations

from pathlib import Path

from markupsafe import Markup

from mstore.services import review
from mstore.ui.panels import PanelContext, register_panel

HERE = Path(__file__).parent
ASSET_TEMPLATE = (HERE / "panel_asset.html").read_text()
GROUP_TEMPLATE = (HERE / "panel_group.html").read_text()


def asset_groups(ctx: PanelContext) -> Markup | None:
    """The duplicate groups an asset is in, with its marks and a link to review them."""
    with ctx.store.reader() as r:
        groups = r.artifacts_of(ctx.subject, review.GROUP_KIND)
    if not groups:
        return None
    marks = review.marks(ctx.store, ctx.subject)
    rows = []
    for g in sorted(groups, key=lambda g: -g.hlc):
        data = g.data if isinstance(g.data, dict) else {}
        rows.append({"id": g.id, "run": g.run, "type": data.get("type", "?"),
                     "others": [m for m in g.members if m != ctx.subject],
                     "paths": data.get("paths") or []})
    return ctx.render(ASSET_TEMPLATE, rows=rows, marks=sorted(
        (k, m.value, m.about) for k, m in marks.items()))


def group_marks(ctx: PanelContext) -> Markup | None:
    """On a duplicate group's page: each item's current mark."""
    if ctx.data["kind"] != review.GROUP_KIND:
        return None
    with ctx.store.reader() as r:
        art = r.artifact(ctx.subject)
    if art is None:
        return None
    items = []
    for asset, key in review.item_keys(art):
        m = review.marks(ctx.store, asset).get(key)
        items.append({"asset": asset, "key": key, "value": m.value if m else "",
                      "here": bool(m) and m.about == art.id})
    return ctx.render(GROUP_TEMPLATE, items=items, run=art.run)


def register() -> None:
    register_panel("asset-sidebar", "duplicates", asset_groups, title="Duplicates", order=35)
    register_panel("artifact-detail", "marks", group_marks, title="Review marks", order=15)
