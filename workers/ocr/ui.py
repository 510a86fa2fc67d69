"""The ocr tool's panel: the text found in a picture, its line boxes drawn over the picture
(SVG: the boxes scale with it, and no inline style is needed), or a PDF's text page by page.
The newest run's artifact is shown."""

from __future__ import annotations

import json
from typing import Any

from markupsafe import Markup

from mstore.ui.api import PanelContext, ToolUi


def newest_payload(ctx: PanelContext, kind: str) -> tuple[Any, dict] | None:
    """The asset's newest artifact of ``kind`` with its JSON payload, or None."""
    with ctx.store.reader() as r:
        arts = [a for a in r.artifacts_of(ctx.subject, kind) if a.payload]
    if not arts:
        return None
    art = max(arts, key=lambda a: a.hlc)
    return art, json.loads(ctx.store.payload(art.payload))


def ocr_text(ctx: PanelContext) -> Markup | None:
    found = newest_payload(ctx, "ocr")
    if found is None:
        return None
    art, doc = found
    meta = art.meta or {}
    blocks = doc.get("blocks") or []
    if ctx.data["kind"] != "image":
        pages: dict[Any, list[dict]] = {}
        for b in blocks:
            pages.setdefault(b.get("page"), []).append(b)
        return ctx.render("panel_pages.html", art=art, pages=pages, meta=meta)
    return ctx.render("panel.html", art=art, blocks=blocks, meta=meta,
                      picture=_picture(ctx, meta))


def _picture(ctx: PanelContext, meta: dict) -> dict | None:
    """What to draw the boxes over, placed in the upright picture's pixels: the original
    when the browser shows it as stored (no EXIF turn), else the upright thumbnail; turned
    by the rotation the tool applied after EXIF."""
    w, h, turn = meta.get("width"), meta.get("height"), int(meta.get("rotation") or 0)
    if not w or not h:
        return None
    if ctx.data.get("browser_image") and not (ctx.data["meta"].get("orientation") or 1) > 1:
        href = ctx.links.file(ctx.subject)
    else:
        with ctx.store.reader() as r:
            thumbs = [a for a in r.artifacts_of(ctx.subject, "thumbnail") if a.payload]
        if not thumbs:
            return None
        href = ctx.links.payload(max(thumbs, key=lambda a: a.hlc).id)
    # the image before the turn is h x w for a quarter turn; place it so it lands upright
    iw, ih = (h, w) if turn in (90, 270) else (w, h)
    transform = {90: f"translate({w} 0) rotate(90)", 180: f"rotate(180 {w / 2} {h / 2})",
                 270: f"translate(0 {h}) rotate(270)"}.get(turn, "")
    return {"href": href, "w": w, "h": h, "iw": iw, "ih": ih, "transform": transform}


def register(ui: ToolUi) -> None:
    ui.panel("asset-main", "ocr", ocr_text, title="Text in the picture", order=25)
