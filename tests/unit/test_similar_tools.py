"""The look-alike tools (embed, quality, best) called the way runs call them, through the
registry and the runner, on photo-like scenes drawn here (tests/scenes.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from mstore.tools.api import BadInput, InputArtifact, ToolInput, ToolResult
from mstore.tools.registry import Registry
from tests.helpers import REPO
from tests.scenes import blurred, jpeg, scene, write_with_variants
from tests.unit.test_tools import asset, call, make_video

SCENES = range(6)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.for_store(None)


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("scenes")
    out = {}
    for seed in SCENES:
        written = write_with_variants(scene(seed), d / f"s{seed}.jpg",
                                      lambda n, seed=seed: d / f"s{seed}-{n}.jpg")
        out.update({path.stem: path for path in written.values()})
    sharp = scene(0)
    out["blurred"] = d / "blurred.jpg"
    out["blurred"].write_bytes(jpeg(blurred(sharp)))
    out["dark"] = d / "dark.jpg"
    out["dark"].write_bytes(jpeg(ImageEnhance.Brightness(sharp).enhance(0.15)))
    noisy = Image.blend(sharp, Image.effect_noise(sharp.size, 90).convert("RGB"), 0.35)
    out["noisy"] = d / "noisy.jpg"
    out["noisy"].write_bytes(jpeg(noisy, 95))
    return out


def vector(registry: Registry, path: Path, out: Path, kind: str = "image") -> np.ndarray:
    res = call(registry, "embed", [asset(path, kind)], out)
    art = res.artifacts[0]
    assert art.kind == "embedding" and art.meta["dim"] == 1280
    raw = (out / art.file).read_bytes()
    assert len(raw) == 1280 * 2  # float16
    return np.frombuffer(raw, dtype="<f2").astype(np.float32)


@pytest.fixture(scope="module")
def vectors(registry: Registry, photos: dict[str, Path],
            tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    out = tmp_path_factory.mktemp("emb")
    return {name: vector(registry, p, out / name) for name, p in photos.items()
            if name.startswith("s")}


def test_embeddings_put_a_photos_copies_nearest_to_it(vectors: dict[str, np.ndarray]) -> None:
    names = list(vectors)
    m = np.stack([vectors[n] for n in names])
    assert np.allclose(np.linalg.norm(m, axis=1), 1.0, atol=1e-2)  # normalised
    sims = m @ m.T
    for i, name in enumerate(names):
        order = [names[j] for j in np.argsort(-sims[i]) if j != i]
        scene_of = name.split("-")[0]
        # the other three pictures of the same scene are its three nearest
        assert {n.split("-")[0] for n in order[:3]} == {scene_of}, (name, order[:5])
        # and every copy is closer than every unrelated photo
        same = [sims[i, names.index(n)] for n in order if n.split("-")[0] == scene_of]
        other = [sims[i, names.index(n)] for n in order if n.split("-")[0] != scene_of]
        assert min(same) > max(other), name


def test_embed_loads_the_model_once_per_process(registry: Registry, photos: dict[str, Path],
                                                tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("embed_tool", REPO / "workers/embed/tool.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    first = mod.load_model()
    mod.embed_images([Image.open(photos["s1"])])
    assert mod.load_model() is first


def test_embed_a_video_from_its_frames(registry: Registry, tmp_path: Path) -> None:
    clip = make_video(tmp_path / "clip.mp4", audio=False, seconds=2.0)
    vec = vector(registry, clip, tmp_path / "out", kind="video")
    assert abs(float(np.linalg.norm(vec)) - 1.0) < 1e-2
    # materialized frames (the keyframes step's files) give the same kind of vector
    frame = tmp_path / "f.jpg"
    scene(3).save(frame)
    res = call(registry, "embed", [asset(clip, "video")], tmp_path / "out2",
               views={"frames": {"mode": "materialized", "files": [[0.0, str(frame)]]}})
    assert res.artifacts[0].meta["source"] == "frames" and res.artifacts[0].meta["frames"] == 1


def test_embed_of_a_corrupt_image_is_bad_input(registry: Registry, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(BadInput):
        call(registry, "embed", [asset(bad, "image")], tmp_path / "out")


def test_without_the_extra_the_unit_fails_with_one_line_naming_it(photos: dict[str, Path],
                                                                   tmp_path: Path) -> None:
    # torch made unimportable in a fresh interpreter (the fault: the extra not installed)
    code = f"""
import sys
from pathlib import Path
sys.modules["torch"] = None
from tests.unit.test_similar_tools import asset, call
from mstore.tools.api import BadInput
from mstore.tools.registry import Registry
try:
    call(Registry.for_store(None), "embed", [asset(Path({str(photos["s1"])!r}), "image")],
         Path({str(tmp_path)!r}))
except BadInput as e:
    print(e)
"""
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert "pip install 'mstore[similar]'" in r.stdout


# --------------------------------------------------------------------------- quality


def quality(registry: Registry, path: Path, out: Path, **artifacts: InputArtifact
            ) -> dict[str, Any]:
    res = call(registry, "quality", [asset(path, "image", **artifacts)], out)
    return res.artifacts[0].data


def test_quality_sees_blur_darkness_and_noise(registry: Registry, photos: dict[str, Path],
                                              tmp_path: Path) -> None:
    sharp = quality(registry, photos["s0"], tmp_path / "a")
    blur = quality(registry, photos["blurred"], tmp_path / "b")
    dark = quality(registry, photos["dark"], tmp_path / "c")
    noisy = quality(registry, photos["noisy"], tmp_path / "d")
    assert blur["sharpness"] < sharp["sharpness"] / 3 and blur["score"] < sharp["score"]
    assert dark["brightness"] < sharp["brightness"] / 3 and dark["exposed"] < sharp["exposed"]
    assert noisy["noise"] > 2 * sharp["noise"] and noisy["clean"] < sharp["clean"]
    # from a thumbnail artifact when there is one
    thumb = tmp_path / "thumb.webp"
    scene(0).resize((256, 192)).save(thumb)
    res = call(registry, "quality", [asset(photos["s0"], "image", thumbnail=InputArtifact(
        id="t", kind="thumbnail", path=str(thumb)))], tmp_path / "e")
    assert res.artifacts[0].meta["source"] == "thumbnail"


# --------------------------------------------------------------------------- best


def group_input(name: str, q: dict, group: str = "g1", gtype: str = "near",
                faces: Any = None) -> ToolInput:
    arts = {"quality": InputArtifact(id=f"q-{name}", kind="quality", data=q),
            "duplicate-group": InputArtifact(id=group, kind="duplicate-group",
                                             data={"type": gtype})}
    if faces is not None:
        arts["faces"] = InputArtifact(id=f"f-{name}", kind="faces", data=faces)
    return ToolInput(asset=name, kind="image", mime="image/jpeg", path="/nonexistent",
                     artifacts=arts)


def test_best_picks_the_sharp_shot_of_a_burst(registry: Registry, photos: dict[str, Path],
                                              tmp_path: Path) -> None:
    q = {n: quality(registry, photos[n], tmp_path / n) for n in ("s0", "blurred", "dark")}
    res: ToolResult = call(registry, "best", [
        group_input("blurred", q["blurred"]), group_input("s0", q["s0"]),
        group_input("dark", q["dark"]),
        # another group, and an exact group (nothing to choose in it)
        group_input("x1", q["blurred"], "g2"), group_input("x2", q["s0"], "g2"),
        group_input("e1", q["s0"], "g3", "exact")], tmp_path / "best")
    by_group = {a.data["group"]: a for a in res.artifacts}
    assert set(by_group) == {"g1", "g2"}
    assert by_group["g1"].data["best"] == "s0" and by_group["g1"].data["by"] == "quality"
    assert by_group["g1"].members == ["blurred", "dark", "s0"]
    assert by_group["g2"].data["best"] == "x2"


def test_best_weighs_faces_where_they_exist(registry: Registry, tmp_path: Path) -> None:
    q_hi, q_lo = {"score": 0.9}, {"score": 0.8}
    eyes_shut = {"faces": [{"eyes_open": 0.0, "sharpness": 0.9}]}
    eyes_open = {"faces": [{"eyes_open": 1.0, "sharpness": 0.9}]}
    res = call(registry, "best", [group_input("a", q_hi, faces=eyes_shut),
                                  group_input("b", q_lo, faces=eyes_open)], tmp_path / "o")
    assert res.artifacts[0].data["best"] == "b"
    assert res.artifacts[0].data["by"] == "quality and faces"
    # without faces artifacts: quality alone
    res = call(registry, "best", [group_input("a", q_hi), group_input("b", q_lo)],
               tmp_path / "o2")
    assert res.artifacts[0].data["best"] == "a"
    # a member without a quality score is reported, the others still judged
    res = call(registry, "best", [group_input("a", q_hi), group_input("b", q_lo),
                                  group_input("c", {})], tmp_path / "o3")
    assert set(res.failed) == {"c"} and res.artifacts[0].data["best"] == "a"
