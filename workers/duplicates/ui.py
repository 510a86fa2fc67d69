"""The duplicates tool's web UI: the duplicate review — a page of a dedupe run's groups
where a person marks what to keep, and the action that saves the marks — and two panels:
an asset's duplicate groups (asset sidebar) and the marks on a group (its artifact page).

Where the ``best`` tool ran (the dedupe pipeline's last step), each near group shows its
suggestion: the best shot by quality (and faces, where known) is badged "best shot" with
the scores; it is a hint, never a mark.

A mark is a label (written through ``ActionContext.set_labels``), never a change to the
archive:

* near groups (several assets that look alike): key ``keep`` on each member, ``about`` the
  group artifact;
* exact groups (one asset at several paths): key ``keep-path:<path>`` per path.

The value is ``keep``, ``not-keep`` or ``""`` (the mark was cleared). A mark belongs to
the asset, not to one run: when the dedupe pipeline runs again and the groups come out as
new artifacts, the review shows each asset's newest mark, and says when it was made
while judging another group (``about`` names that group, so the judgement keeps its
lineage).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup

from mstore.ui.api import (
    ActionContext,
    ArtifactMade,
    Label,
    LabelChange,
    Page,
    PageContext,
    PanelContext,
    StoreView,
    ToolUi,
    UsageError,
)

GROUP_KIND = "duplicate-group"
BEST_KIND = "best-shot"  # the best tool's suggestion for a near group
KEEP = "keep"
PATH_KEY = "keep-path:"
VALUES = ("keep", "not-keep", "")
PAGE_SIZE = 20  # groups per review page
FIELD_RE = re.compile(r"m\d{1,6}")  # the page numbers a group's items m0, m1, ...


@dataclass(frozen=True)
class Mark:
    value: str  # "keep" | "not-keep"
    about: str  # the group judged when the mark was made
    hlc: int


# -- groups and marks ---------------------------------------------------------------------
def dedupe_runs(store: StoreView) -> list[str]:
    """Runs with a ``duplicates`` step, newest first."""
    out = []
    with store.reader() as r:
        for rid, info in r.runs():
            rs = info.started
            if rs is not None and any(s.tool == "duplicates" for s in rs.steps):
                out.append((rs.hlc, rid))
    return [rid for _, rid in sorted(out, reverse=True)]


def groups(store: StoreView, run: str) -> list[ArtifactMade]:
    """The run's duplicate groups: near ones first (biggest first), then exact ones."""
    with store.reader() as r:
        arts = [a for a in r.run_artifacts(run, newest_first=False) if a.kind == GROUP_KIND]
    return sorted(arts, key=lambda a: (group_type(a) != "near", -len(a.members), a.members))


def group_type(art: ArtifactMade) -> str:
    return str(art.data.get("type", "")) if isinstance(art.data, dict) else ""


def group_paths(art: ArtifactMade) -> list[str]:
    """An exact group's paths (the items a person marks)."""
    paths = art.data.get("paths") if isinstance(art.data, dict) else None
    return [str(p) for p in paths] if isinstance(paths, list) else []


def best_shot(store: StoreView, group: ArtifactMade) -> dict | None:
    """The ``best`` tool's suggestion for a near group (its newest ``best-shot`` about this
    group): {"best": asset, "scores": {...}, "reasons": {...}, "by": ...}, or None."""
    if group_type(group) != "near" or not group.members:
        return None
    with store.reader() as r:
        found = [a for a in r.artifacts_of(group.members[0], BEST_KIND)
                 if isinstance(a.data, dict) and a.data.get("group") == group.id]
    if not found:
        return None
    data = max(found, key=lambda a: a.hlc).data
    return data if data.get("best") in group.members else None


def marks(store: StoreView, asset: str) -> dict[str, Mark]:
    """The asset's newest mark per key ("keep", "keep-path:<path>"), whatever group it was
    made about; cleared marks are left out."""
    best: dict[str, Label] = {}
    with store.reader() as r:
        for lab in r.labels(asset):
            if lab.key != KEEP and not lab.key.startswith(PATH_KEY):
                continue
            if lab.key not in best or best[lab.key].hlc < lab.hlc:
                best[lab.key] = lab
    return {k: Mark(lab.value, lab.about, lab.hlc) for k, lab in best.items() if lab.value}


def item_keys(art: ArtifactMade) -> list[tuple[str, str]]:
    """(asset, label key) of every item of a group, in display order."""
    if group_type(art) == "exact" and art.members:
        return [(art.members[0], PATH_KEY + p) for p in group_paths(art)]
    return [(m, KEEP) for m in art.members]


def changes(store: StoreView, art: ArtifactMade, values: dict[int, str]) -> list[LabelChange]:
    """The labels to write for the marks a person chose: ``values`` maps an item's
    position (as ``item_keys`` lists them) to "keep" / "not-keep" / "". A position the
    group does not have, or another value, is refused; a mark equal to the item's
    current one (made about this group) is not written again."""
    items = item_keys(art)
    chosen: dict[tuple[str, str], str] = {}
    for pos, value in values.items():
        if not 0 <= pos < len(items):
            raise UsageError(f"this group has no item {pos}")
        if value not in VALUES:
            raise UsageError(f"a mark is keep, not-keep or empty, not '{value}'")
        chosen[items[pos]] = value
    current = {a: marks(store, a) for a in {a for a, _ in chosen}}
    out = []
    for (asset, key), value in sorted(chosen.items()):
        old = current[asset].get(key)
        if (old.value if old else "") == value and (not value or old.about == art.id):
            continue
        out.append(LabelChange(asset=asset, key=key, value=value, about=art.id))
    return out


# -- the review page and its action -----------------------------------------------------------
def review_page(ctx: PageContext) -> Page:
    """A page of the chosen dedupe run's groups (the newest run by default), every item
    with its thumbnail, path and current mark."""
    runs = dedupe_runs(ctx.store)
    asked = ctx.query.get("run")
    chosen = asked if asked in runs else (runs[0] if runs else "")
    offset = ctx.query.number("offset")
    all_groups = groups(ctx.store, chosen) if chosen else []
    shown = all_groups[offset:offset + PAGE_SIZE]
    tiles = ctx.store.tiles(a for g in shown for a, _ in item_keys(g))
    page = []
    for n, g in enumerate(shown, start=offset + 1):
        entries = []
        suggestion = best_shot(ctx.store, g)
        for i, (asset, key) in enumerate(item_keys(g)):
            mark = marks(ctx.store, asset).get(key)
            tile = tiles[asset]
            entries.append({
                "tile": tile, "field": f"m{i}", "asset": asset,
                # an exact group's items are its paths; a near group's, its assets
                "label": key[len(PATH_KEY):] if key != KEEP else tile.path,
                "mark": mark.value if mark else "",
                "elsewhere": mark.about if mark and mark.about != g.id else None,
                "best": bool(suggestion) and suggestion["best"] == asset,
                "why": (suggestion or {}).get("reasons", {}).get(asset, ""),
            })
        data = g.data if isinstance(g.data, dict) else {}
        page.append({"n": n, "id": g.id, "type": data.get("type", "?"),
                     "max_distance": data.get("max_distance"),
                     "pairs": data.get("pair_count"), "entries": entries,
                     "suggested_by": (suggestion or {}).get("by", ""),
                     "marked": sum(1 for x in entries if x["mark"])})

    def link(off: int) -> str:
        return ctx.links.tool("review", run=chosen, offset=off)

    total = len(all_groups)
    return Page("review.html", "duplicate review", {
        "runs": runs, "run": chosen, "total": total, "groups": page, "back": link(offset),
        "prev_link": link(max(offset - PAGE_SIZE, 0)) if offset > 0 else None,
        "next_link": link(offset + PAGE_SIZE) if offset + PAGE_SIZE < total else None})


def save_marks(ctx: ActionContext) -> str:
    """Save one group's marks (fields ``m0``, ``m1``, ...), then back to the review."""
    art = ctx.store.artifact(ctx.form.get("group"))
    if art.kind != GROUP_KIND:
        raise UsageError(f"'{art.id[:16]}' is not a duplicate group")
    values = {int(k[1:]): v for k, v in ctx.form.items() if FIELD_RE.fullmatch(k)}
    ctx.set_labels(changes(ctx.store, art, values))
    return ctx.back(ctx.links.tool("review"))


# -- panels -------------------------------------------------------------------------------------
def asset_groups(ctx: PanelContext) -> Markup | None:
    """The duplicate groups an asset is in, with its marks and a link to review them."""
    with ctx.store.reader() as r:
        found = r.artifacts_of(ctx.subject, GROUP_KIND)
    if not found:
        return None
    rows = []
    for g in sorted(found, key=lambda g: -g.hlc):
        data = g.data if isinstance(g.data, dict) else {}
        rows.append({"id": g.id, "run": g.run, "type": data.get("type", "?"),
                     "others": [m for m in g.members if m != ctx.subject],
                     "paths": data.get("paths") or []})
    return ctx.render("panel_asset.html", rows=rows, marks=sorted(
        (k, m.value, m.about) for k, m in marks(ctx.store, ctx.subject).items()))


def group_marks(ctx: PanelContext) -> Markup | None:
    """On a duplicate group's page: each item's current mark."""
    if ctx.data["kind"] != GROUP_KIND:
        return None
    with ctx.store.reader() as r:
        art = r.artifact(ctx.subject)
    if art is None:
        return None
    items = []
    for asset, key in item_keys(art):
        m = marks(ctx.store, asset).get(key)
        items.append({"asset": asset, "key": key, "value": m.value if m else "",
                      "here": bool(m) and m.about == art.id})
    return ctx.render("panel_group.html", items=items, run=art.run)


def register(ui: ToolUi) -> None:
    ui.page("review", review_page, nav="Review", alias="/review", scripts=("review.js",),
            styles=("review.css",))
    ui.action("review/mark", save_marks)
    ui.panel("asset-sidebar", "duplicates", asset_groups, title="Duplicates", order=35)
    ui.panel("artifact-detail", "marks", group_marks, title="Review marks", order=15)
