"""keyframes: frames of a video as ``frame-0001.jpg``, ``frame-0002.jpg``, ... per asset.

Always decodes the original (FrameSource in decode mode): this tool is what makes
the materialized frames other tools may later read, so it cannot read them itself. When
it needs the ``scenes`` step, its frames view carries the scenes' times and it takes one
frame in the middle of each scene (``max_frames`` still caps them; ``fps`` and
``keyframes_only`` do not apply).
Frames come out upright (display rotation applied) and at most ``size`` pixels on
their longest side.
"""

from __future__ import annotations

from pathlib import Path

from mstore.tools.api import (
    BadInput,
    FramePolicy,
    FrameSource,
    OutputArtifact,
    Progress,
    ToolRequest,
    ToolResult,
    decoding,
)


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    if len(req.inputs) != 1:
        raise BadInput(f"keyframes is per-asset: expected 1 input, got {len(req.inputs)}")
    inp = req.inputs[0]
    p = req.params
    # a step it needs offers scene times (the scenes tool): one frame per scene instead
    view = req.views.get("frames") or {}
    times = tuple(float(t) for t in view.get("times") or ()) if isinstance(view, dict) else ()
    policy = FramePolicy(mode="decode", fps=float(p.get("fps", 1.0)), size=int(p.get("size", 320)),
                         max_frames=int(p.get("max_frames", 16)),
                         keyframes_only=bool(p.get("keyframes_only", True)), times=times)
    duration = inp.meta.get("duration")  # from the catalog, for a meaningful progress
    out: list[OutputArtifact] = []
    for i, (t, img) in enumerate(FrameSource(inp.path, policy), start=1):
        name = f"frame-{i:04d}.jpg"
        with decoding("frame"):
            img.save(Path(req.out_dir) / name, "JPEG", quality=85)
        out.append(OutputArtifact(kind="keyframe", asset=inp.asset, file=name,
                                  meta={"t": round(t, 3), "index": i,
                                        "width": img.width, "height": img.height}))
        if policy.max_frames:
            done = i / policy.max_frames
            if isinstance(duration, (int, float)) and duration > 0:
                done = max(done, t / duration)  # whichever limit ends it first
            progress(min(done, 0.99), f"frame {i} at {t:.1f}s")
    if not out:
        raise BadInput("no decodable video frame")
    progress(1.0, f"{len(out)} frames")
    return ToolResult(artifacts=out)
