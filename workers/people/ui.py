"""The people tool's web UI: the People page (a tile per person: a face, the name — named
inline —, counts; merge by selecting), a person's page (every photo and video of them,
newest first, each face with "not this person"), and the face boxes over an asset's
picture (each box a link to its person). Every change is a label written through the
people service (``docs/people.md``)."""

from __future__ import annotations

from markupsafe import Markup

from mstore.ui.api import (
    ActionContext,
    Page,
    PageContext,
    PanelContext,
    StoreView,
    ToolUi,
    UsageError,
    people,
)

PAGE = 120  # people per page


def _source(tile, asset: str) -> str:  # noqa: ANN001
    """Where the browser gets the picture a face box is a fraction of."""
    if tile is not None and tile.thumb:
        return f"/artifact/{tile.thumb}/payload"
    return f"/asset/{asset}/file"


def _view(store: StoreView):  # noqa: ANN202
    with store.reader() as r:
        return people.load(r)


def people_page(ctx: PageContext) -> Page:
    view = _view(ctx.store)
    unnamed_first = ctx.query.get("unnamed") == "first"
    everyone = people.listing(view, unnamed_first=unnamed_first)
    offset = min(ctx.query.number("offset"), max(0, len(everyone) - 1))
    rows = everyone[offset:offset + PAGE]
    order = {"unnamed": "first"} if unnamed_first else {}
    prev_link = ctx.links.tool("", offset=max(0, offset - PAGE), **order) if offset else None
    next_link = (ctx.links.tool("", offset=offset + PAGE, **order)
                 if offset + PAGE < len(everyone) else None)
    # the face shown: the biggest one in a photo (a video's face is of one frame, and the
    # picture at hand is its first)
    faces = {row["id"]: max(view.persons[row["id"]].faces,
                            key=lambda f: (f.t is None, f.box[2] * f.box[3])) for row in rows}
    tiles = ctx.store.tiles({f.asset for f in faces.values()})
    for row in rows:
        f = faces[row["id"]]
        row["src"] = _source(tiles.get(f.asset), f.asset)
        row["box"] = " ".join(f"{v:.4f}" for v in f.box)
    return Page("people.html", "People", {
        "rows": rows, "total": len(everyone), "run": view.run, "unnamed_first": unnamed_first,
        "prev_link": prev_link, "next_link": next_link})


def person_page(ctx: PageContext) -> Page:
    view = _view(ctx.store)
    p = people.person(view, ctx.query.get("id") or "")
    tiles = ctx.store.tiles(p.assets)
    with ctx.store.reader() as r:
        items = []
        for aid in p.assets:
            mine = [f for f in people.asset_faces(r, view, aid) if f["person"] == p.id]
            items.append({"asset": aid, "tile": tiles.get(aid), "faces": mine})
    # newest first: by the date taken, undated ones last
    items.sort(key=lambda it: (it["tile"].taken if it["tile"] else "", it["asset"]),
               reverse=True)
    return Page("person.html", p.name or p.id, {"p": p, "items": items})


def faces_panel(ctx: PanelContext) -> Markup | None:
    if ctx.data["kind"] not in ("image", "video"):
        return None
    with ctx.store.reader() as r:
        faces = people.asset_faces(r, people.load(r), ctx.subject)
    if not faces:
        return None
    tile = ctx.store.tiles([ctx.subject]).get(ctx.subject)
    w = int(ctx.data["meta"].get("width") or 1000)
    h = int(ctx.data["meta"].get("height") or 1000)
    return ctx.render("faces.html", faces=faces, w=w, h=h, video=ctx.data["kind"] == "video",
                      src=_source(tile, ctx.subject))


def name_action(ctx: ActionContext) -> str:
    view = _view(ctx.store)
    ctx.set_labels(people.name_changes(view, ctx.form.get("person") or "",
                                       ctx.form.get("name") or ""))
    return ctx.back(ctx.links.tool(""))


def merge_action(ctx: ActionContext) -> str:
    view = _view(ctx.store)
    chosen = [people.person(view, t) for t in ctx.form.get_all("person")]
    chosen = list({p.id: p for p in chosen}.values())
    if len(chosen) < 2:
        raise UsageError("select two people or more to merge")
    # the one kept: a named one, else the one with most faces
    keep = min(chosen, key=lambda p: (p.name is None, -len(p.faces), p.id))
    changes = []
    for other in chosen:
        if other.id != keep.id:
            changes += people.merge_changes(view, keep.id, other.id)[1]
    ctx.set_labels(changes)
    return ctx.links.tool("person", id=keep.id)


def split_action(ctx: ActionContext) -> str:
    view = _view(ctx.store)
    aid = ctx.store.asset(ctx.form.get("asset") or "")
    n = ctx.form.get("n") or ""
    if not n.isdigit():
        raise UsageError("which face? (n)")
    with ctx.store.reader() as r:
        p, changes = people.split_changes(r, view, ctx.form.get("person") or "",
                                          [(aid, int(n))])
    ctx.set_labels(changes)
    return ctx.back(ctx.links.tool("person", id=p.id))


def register(ui: ToolUi) -> None:
    ui.page("", people_page, nav="People", alias="/people", styles=("people.css",))
    ui.page("person", person_page, styles=("people.css",))
    ui.action("name", name_action)
    ui.action("merge", merge_action)
    ui.action("split", split_action)
    ui.panel("asset-main", "faces", faces_panel, title="Faces", order=15)
