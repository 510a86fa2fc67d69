"""The scenes tool's panel: a video's scenes as a strip, each with the frame taken from its
middle when the run made one (the keyframes step that needs scenes) and its start time,
which plays the video from there (``data-seek``)."""

from __future__ import annotations

import json

from markupsafe import Markup

from mstore.ui.api import PanelContext, ToolUi


def scenes_strip(ctx: PanelContext) -> Markup | None:
    if ctx.data["kind"] != "video":
        return None
    with ctx.store.reader() as r:
        arts = [a for a in r.artifacts_of(ctx.subject, "scenes") if a.payload]
        frames = [a for a in r.artifacts_of(ctx.subject, "keyframe") if a.payload]
    if not arts:
        return None
    art = max(arts, key=lambda a: a.hlc)
    cuts = json.loads(ctx.store.payload(art.payload)).get("cuts") or []
    # the frames of the newest run that has any, by time
    newest = max(frames, key=lambda a: a.hlc).run if frames else None
    times = sorted(((a.meta or {}).get("t", 0.0), a.id) for a in frames if a.run == newest)
    scenes = []
    for c in cuts:
        inside = [fid for t, fid in times if c["start"] <= t < max(c["end"], c["start"] + 1e-3)]
        scenes.append({"start": c["start"], "end": c["end"],
                       "frame": inside[0] if inside else None})
    return ctx.render("panel.html", art=art, scenes=scenes)


def register(ui: ToolUi) -> None:
    ui.panel("asset-main", "scenes", scenes_strip, title="Scenes", order=21)
