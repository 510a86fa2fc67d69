"""scenes: where a video cuts from one shot to the next, as a scene list ``scenes.json``::

    {"version": 1, "cuts": [{"start": 0.0, "end": 2.0, "frame": 0},
                            {"start": 2.0, "end": 3.48, "frame": 50}, ...]}

one entry per scene (a shot between two cuts): its start and end in seconds and the
number of its first frame (0-based). PySceneDetect's ContentDetector compares each frame
with the one before in HSV (about 3 ms a frame, ../shared/MEASUREMENTS.md), decoding with
PyAV like the rest of mstore.

The scene list is also a frames view (``provides = { frames = "scenes" }``): a step that
needs this one and reads frames is offered one frame in the middle of each scene
(``mstore.tools.api.frame_source``), instead of the codec's keyframes, which fall where
the encoder put them and miss most cuts.
"""

from __future__ import annotations

import json
from pathlib import Path

from mstore.tools.api import BadInput, OutputArtifact, Progress, ToolRequest, ToolResult, decoding

EXTRA = "scenes needs the 'words' extra: pip install 'mstore[words]'"


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    if len(req.inputs) != 1:
        raise BadInput(f"scenes is per-asset: expected 1 input, got {len(req.inputs)}")
    inp = req.inputs[0]
    try:
        from scenedetect import ContentDetector, SceneManager, open_video
    except ImportError:
        raise BadInput(EXTRA) from None
    p = req.params
    with decoding("video"):
        video = open_video(inp.path, backend="pyav")
    fps = float(video.frame_rate or 0) or 25.0
    min_len = max(1, round(float(p.get("min_scene_len", 0.6)) * fps))
    manager = SceneManager()
    manager.add_detector(ContentDetector(threshold=float(p.get("threshold", 27.0)),
                                         min_scene_len=min_len))
    max_seconds = float(p.get("max_seconds", 0.0))
    duration = inp.meta.get("duration")
    progress(0.05, "looking for cuts")
    with decoding("video"):
        manager.detect_scenes(video, end_time=max_seconds or None)
        # a video without a cut is one scene, not none
        scenes = manager.get_scene_list(start_in_scene=True)
    if not scenes and video.frame_number == 0:
        raise BadInput("no decodable video frame")
    cuts = [{"start": round(a.seconds, 3), "end": round(b.seconds, 3), "frame": a.frame_num}
            for a, b in scenes]
    (Path(req.out_dir) / "scenes.json").write_text(json.dumps({"version": 1, "cuts": cuts}))
    meta = {"scenes": len(cuts), "fps": round(fps, 3), "frames": video.frame_number}
    if max_seconds and (not duration or duration > max_seconds):
        meta["window"] = max_seconds
    progress(1.0, f"{len(cuts)} scenes")
    return ToolResult(artifacts=[OutputArtifact(kind="scenes", asset=inp.asset,
                                                file="scenes.json", meta=meta)])
