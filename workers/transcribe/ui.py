"""The transcribe tool's panel: the newest transcript, a line per segment with its time;
a line's time is a button that plays the page's video or audio from there (``data-seek``,
handled by the UI's own script)."""

from __future__ import annotations

import json

from markupsafe import Markup

from mstore.ui.api import PanelContext, ToolUi


def clock(seconds: float) -> str:
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def transcript(ctx: PanelContext) -> Markup | None:
    if ctx.data["kind"] not in ("audio", "video"):
        return None
    with ctx.store.reader() as r:
        arts = [a for a in r.artifacts_of(ctx.subject, "transcript") if a.payload]
    if not arts:
        return None
    art = max(arts, key=lambda a: a.hlc)
    doc = json.loads(ctx.store.payload(art.payload))
    lines = [{"start": b.get("start") or 0.0, "clock": clock(b.get("start") or 0.0),
              "text": b["text"]} for b in doc.get("blocks") or []]
    return ctx.render("panel.html", art=art, lines=lines, lang=doc.get("lang"),
                      meta=art.meta or {})


def register(ui: ToolUi) -> None:
    ui.panel("asset-main", "transcript", transcript, title="Transcript", order=26)
