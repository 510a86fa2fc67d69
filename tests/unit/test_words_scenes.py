"""The ``scenes`` tool and the frames view's "one frame per scene", on a video encoded here
with PyAV: blocks of colour with a moving square, cut hard at known times."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from mstore.tools.api import InputArtifact, ToolInput, ToolRequest, ToolResult
from mstore.tools.registry import Registry
from mstore.tools.runner import run_tool
from mstore.tools.views import offer

FPS = 25
# (colour, seconds): each a shot; the cuts fall at 2.0, 3.6, 6.6 and 7.6 s
SHOTS = [((230, 60, 60), 2.0), ((20, 110, 20), 1.6), ((60, 60, 230), 3.0),
         ((250, 250, 150), 1.0), ((15, 15, 15), 2.0)]


def shot_starts() -> list[float]:
    out, t = [], 0.0
    for _, seconds in SHOTS:
        out.append(round(t, 3))
        t += seconds
    return out


def cut_video(path: Path, size: tuple[int, int] = (160, 120), repeat: int = 1) -> Path:
    """SHOTS (``repeat`` times over) at ``size``, h264 at 25 fps."""
    w, h = size
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        i = 0
        for colour, seconds in SHOTS * repeat:
            for k in range(round(seconds * FPS)):
                a = np.zeros((h, w, 3), np.uint8)
                a[:] = colour
                x = (k * 3 * w // 160) % (w * 3 // 4)
                # something moves in the shot
                a[h // 3:h * 2 // 3, x:x + w // 4] = [255 - c for c in colour]
                frame = av.VideoFrame.from_ndarray(a, format="rgb24")
                frame.pts, frame.time_base = i, Fraction(1, FPS)
                i += 1
                out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return path


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.for_store(None)


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cut_video(tmp_path_factory.mktemp("scenes") / "cuts.mp4")


def call(registry: Registry, tool: str, inp: ToolInput, out: Path, views: dict | None = None,
         **params: Any) -> ToolResult:
    m = registry.get(tool)
    out.mkdir(parents=True, exist_ok=True)
    return run_tool(m, ToolRequest(tool=tool, version=m.version, params=m.resolve_params(params),
                                   inputs=[inp], out_dir=str(out), views=views or {}), None)


def scenes_of(registry: Registry, video: Path, out: Path, **params: Any) -> tuple[dict, Any]:
    (art,) = call(registry, "scenes", ToolInput(asset="v" * 64, kind="video",
                                                mime="video/mp4", path=str(video)),
                  out, **params).artifacts
    return json.loads((out / art.file).read_text()), art


def test_every_hard_cut_is_found_to_the_frame(registry: Registry, video: Path,
                                              tmp_path: Path) -> None:
    doc, art = scenes_of(registry, video, tmp_path)
    assert doc["version"] == 1 and art.kind == "scenes"
    cuts = doc["cuts"]
    starts = shot_starts()
    assert len(cuts) == len(SHOTS) and art.meta["scenes"] == len(SHOTS)
    for cut, start in zip(cuts, starts, strict=True):
        assert abs(cut["start"] - start) <= 0.5
        assert cut["frame"] == round(cut["start"] * FPS)
    # scenes follow one another to the end of the video
    assert [c["end"] for c in cuts[:-1]] == [c["start"] for c in cuts[1:]]
    assert cuts[-1]["end"] == pytest.approx(sum(s for _, s in SHOTS), abs=0.1)


def test_the_sandbox_window_looks_only_at_the_start(registry: Registry, video: Path,
                                                    tmp_path: Path) -> None:
    doc, art = scenes_of(registry, video, tmp_path, max_seconds=3.0)
    assert [round(c["start"], 1) for c in doc["cuts"]] == [0.0, 2.0]
    assert art.meta["window"] == 3.0


def test_one_frame_per_scene_for_the_steps_that_need_scenes(registry: Registry, video: Path,
                                                            tmp_path: Path) -> None:
    doc, art = scenes_of(registry, video, tmp_path / "s")
    scene_list = InputArtifact(id="s" * 64, kind="scenes", path=str(tmp_path / "s" / art.file),
                               meta=art.meta)
    views = offer(["frames"], {"frames": [scene_list]})
    mids = [(c["start"] + c["end"]) / 2 for c in doc["cuts"]]
    assert views["frames"]["mode"] == "decode"
    assert views["frames"]["times"] == pytest.approx(mids, abs=0.01)
    # keyframes, given that view, takes one frame in the middle of each scene
    frames = call(registry, "keyframes", ToolInput(asset="v" * 64, kind="video",
                                                   mime="video/mp4", path=str(video)),
                  tmp_path / "k", views=views).artifacts
    assert len(frames) == len(SHOTS)
    from PIL import Image

    for frame, (colour, _), mid in zip(frames, SHOTS, mids, strict=True):
        assert abs(frame.meta["t"] - mid) <= 1 / FPS + 1e-3
        img = Image.open(tmp_path / "k" / frame.file).convert("RGB")
        corner = img.getpixel((5, 5))  # the background: the shot's own colour
        assert max(abs(a - b) for a, b in zip(corner, colour, strict=True)) < 30, (corner, colour)
    # a frame consumer reading the keyframes gets them as materialized frames
    materialized = offer(["frames"], {"frames": [
        InputArtifact(id=f"k{i}", kind="keyframe", path=str(tmp_path / "k" / f.file),
                      meta=f.meta) for i, f in enumerate(frames)]})
    assert materialized["frames"]["mode"] == "materialized"
    assert len(materialized["frames"]["files"]) == len(SHOTS)


def test_a_video_without_cuts_is_one_scene(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "still.mp4"
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(2 * FPS):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 90, np.uint8),
                                               format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    doc, _ = scenes_of(registry, path, tmp_path / "o")
    assert len(doc["cuts"]) == 1 and doc["cuts"][0]["start"] == 0.0


def test_frames_at_times_far_apart_seek_instead_of_decoding_everything(video: Path) -> None:
    from mstore.tools.views import FramePolicy, FrameSource

    # 0.5 s is in the first shot, 8.5 s in the last: more than SEEK_GAP apart
    got = list(FrameSource(str(video), FramePolicy(times=(8.5, 0.5), size=64)))
    assert [round(t, 2) for t, _ in got] == [0.52, 8.52]  # the first frame at or after each
    for (_, img), (colour, _) in zip(got, [SHOTS[0], SHOTS[-1]], strict=True):
        corner = img.convert("RGB").getpixel((2, 2))
        assert max(abs(a - b) for a, b in zip(corner, colour, strict=True)) < 30


def still_video(path: Path, frames: int, fps: int = 1) -> Path:
    """``frames`` frames of one grey at ``fps``: a still picture with its sound, the last
    minutes of a screen recording that only writes a frame when the screen changes."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), 90, np.uint8),
                                               format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return path


def test_a_scene_after_the_last_frames_start_gets_the_last_frame(registry: Registry,
                                                                video: Path,
                                                                tmp_path: Path) -> None:
    from mstore.tools.views import FramePolicy, FrameSource

    # one frame shown for a second: its one scene's middle (0.5 s) is after it started
    still = still_video(tmp_path / "still.mp4", 1)
    doc, art = scenes_of(registry, still, tmp_path / "s")
    views = offer(["frames"], {"frames": [InputArtifact(
        id="s" * 64, kind="scenes", path=str(tmp_path / "s" / art.file), meta=art.meta)]})
    assert views["frames"]["times"] == [0.5]
    frames = call(registry, "keyframes", ToolInput(asset="v" * 64, kind="video",
                                                   mime="video/mp4", path=str(still)),
                  tmp_path / "k", views=views).artifacts
    assert [f.meta["t"] for f in frames] == [0.0]
    # the last frame of the cut video starts at 9.56 s and is shown until 9.6 s; after a
    # seek (8.5 s is more than SEEK_GAP past 0.5 s) and without one
    assert sum(s for _, s in SHOTS) - 1 / FPS == pytest.approx(9.56)
    for times, want in (((0.5, 9.58), [0.52, 9.56]), ((9.0, 9.58), [9.0, 9.56])):
        got = [round(t, 2) for t, _ in FrameSource(str(video), FramePolicy(times=times))]
        assert got == want
