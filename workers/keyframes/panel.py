"""The keyframes tool's UI panel: a video's frames as a strip on its asset page."""

from __future__ import annotations

from markupsafe import Markup

from mstore.ui.api import PanelContext, ToolUi


def keyframes_strip(ctx: PanelContext) -> Markup | None:
    """A video's keyframes in time order, from the newest run that made them."""
    if ctx.data["kind"] != "video":
        return None
    with ctx.store.reader() as r:
        arts = [a for a in r.artifacts_of(ctx.subject, "keyframe") if a.payload]
    if not arts:
        return None
    newest_run = max(arts, key=lambda a: a.hlc).run
    frames = sorted((a for a in arts if a.run == newest_run),
                    key=lambda a: (a.meta or {}).get("t", 0))
    return ctx.render("panel.html", run=newest_run, frames=[
        {"id": a.id, "t": (a.meta or {}).get("t")} for a in frames])


def register(ui: ToolUi) -> None:
    ui.panel("asset-main", "keyframes", keyframes_strip, title="Keyframes", order=20)
