"""best: in each near-duplicate (burst) group, the shot to keep — a suggestion for the
duplicate review, never an action.

Inputs: each image with its ``quality`` and the ``duplicate-group`` naming it (from the
``duplicates`` step this one needs), and its ``faces`` when some step made them (optional:
a store without a faces tool suggests by quality alone). Members of one group are the
inputs that carry the same group artifact; exact groups (one content at several paths)
hold nothing to choose between and are left out.

Per shot: ``quality.score`` (0..1), and the picture's size: 0.85 score + 0.15 pixels /
the group's largest (a downscaled copy is not the shot to keep when it looks as good;
members of unknown size count as the largest). Where the group's shots have faces, the faces' state
counts too, weighted ``face_weight``: the mean over the faces of how open and sharp they
are, read from what the faces artifact says per face — ``eyes_open`` / ``eyes`` (0..1 or a
bool) and ``sharpness`` / ``quality`` (0..1) where present. A shot without the faces
others have scores 0 on that part: someone turned away. Ties go to the lowest asset id.
One ``best-shot`` artifact per group: ``members`` the group, ``data`` {group, best,
scores, reasons, by}.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from mstore.tools.api import OutputArtifact, Progress, ToolRequest, ToolResult


def face_state(faces: Any) -> float | None:
    """0..1 for a faces artifact's data (how open and sharp its faces are); None when it
    lists none."""
    items = faces.get("faces") if isinstance(faces, dict) else faces
    if not isinstance(items, list) or not items:
        return None
    scores = []
    for f in items:
        if not isinstance(f, dict):
            continue
        parts = []
        for key in ("eyes_open", "eyes"):
            if isinstance(f.get(key), (bool, int, float)):
                parts.append(float(f[key]))
                break
        for key in ("sharpness", "quality"):
            if isinstance(f.get(key), (int, float)):
                parts.append(min(max(float(f[key]), 0.0), 1.0))
                break
        if parts:
            scores.append(sum(parts) / len(parts))
    return sum(scores) / len(scores) if scores else None


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    w = float(req.params.get("face_weight", 0.5))
    result = ToolResult()
    groups: dict[str, list[str]] = defaultdict(list)
    quality: dict[str, float] = {}
    faces: dict[str, float | None] = {}
    pixels: dict[str, int | None] = {}
    for inp in req.inputs:
        group = inp.artifacts.get("duplicate-group")
        q = inp.artifacts.get("quality")
        if group is None or not isinstance(group.data, dict) or group.data.get("type") != "near":
            continue
        if q is None or not isinstance(q.data, dict) or not isinstance(
                q.data.get("score"), (int, float)):
            result.failed[inp.asset] = "no quality score to compare it by"
            continue
        groups[group.id].append(inp.asset)
        quality[inp.asset] = float(q.data["score"])
        w_, h_ = inp.meta.get("width"), inp.meta.get("height")
        pixels[inp.asset] = w_ * h_ if isinstance(w_, int) and isinstance(h_, int) else None
        f = inp.artifacts.get("faces")
        faces[inp.asset] = face_state(f.data) if f is not None else None
    for n, (gid, members) in enumerate(sorted(groups.items())):
        if len(members) < 2:
            continue
        with_faces = any(faces[m] is not None for m in members)
        largest = max((pixels[m] or 0 for m in members), default=0)
        scores, reasons = {}, {}
        for m in members:
            size = (pixels[m] or largest) / largest if largest else 1.0
            shot = 0.85 * quality[m] + 0.15 * size
            reasons[m] = f"quality {quality[m]:.2f}, size {size:.0%}"
            if with_faces:
                fs = faces[m] or 0.0
                shot = (1 - w) * shot + w * fs
                reasons[m] += f", faces {fs:.2f}"
            scores[m] = round(shot, 4)
        best = max(sorted(members), key=lambda m: scores[m])
        result.artifacts.append(OutputArtifact(
            kind="best-shot", members=sorted(members),
            data={"group": gid, "best": best, "scores": scores, "reasons": reasons,
                  "by": "quality and faces" if with_faces else "quality"}))
        progress((n + 1) / max(len(groups), 1), f"group {n + 1}")
    return result
