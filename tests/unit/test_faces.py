"""The faces and people tools on real faces, called the way runs call them (registry and
runner), with one model load for the module: faces found with boxes on real photos and not
on a blank picture, small faces found through tiles, the same person across augmented
copies clustered together and two people apart, and the people tool's incremental rules
(ids kept, new faces assigned, merges and splits obeyed)."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mstore.errors import UsageError
from mstore.tools.api import InputArtifact, ToolInput, ToolRequest
from mstore.tools.manifest import load_manifest
from mstore.tools.registry import Registry
from mstore.tools.runner import run_tool
from tests.fixtures.faces import (
    GROUP_IN,
    astronaut,
    augmented,
    faces_inputs,
    grace_hopper,
    labelled_group_faces,
    pairwise,
)
from tests.helpers import REPO


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.for_store(None)


def faces_of(registry: Registry, path: Path, out: Path, **params: object) -> list[dict]:
    m = registry.get("faces")
    req = ToolRequest(tool=m.id, version=m.version, params=m.resolve_params(params),
                      inputs=[ToolInput(asset=path.stem, kind="image", mime="image/jpeg",
                                        path=str(path))], out_dir=str(out))
    (result,) = run_tool(m, req).artifacts
    assert result.meta["count"] == len(result.data["faces"])
    return result.data["faces"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory, registry: Registry
           ) -> dict[str, list[dict]]:
    """Faces of 6 variants of each of two real people, a blank picture and a 'group'."""
    d = tmp_path_factory.mktemp("faces")
    pics = {f"eileen-{k}": v for k, v in augmented(astronaut()).items()}
    pics |= {f"grace-{k}": v for k, v in augmented(grace_hopper()).items()}
    pics["blank"] = Image.new("RGB", (640, 480), (200, 190, 180))
    out = {}
    for name, img in pics.items():
        p = d / f"{name}.jpg"
        img.save(p, "JPEG", quality=92)
        out[name] = faces_of(registry, p, d)
    return out


def embedding(face: dict) -> np.ndarray:
    return np.frombuffer(base64.b64decode(face["embedding"]), dtype="<f4")


def test_faces_found_with_boxes_landmarks_and_embeddings(photos: dict[str, list[dict]]) -> None:
    (face,) = photos["eileen-orig"]
    x, y, w, h = face["box"]  # her face in the 512 x 512 photo: about (175, 70) to (275, 170)
    assert 0.3 < x < 0.4 and 0.1 < y < 0.2 and 0.15 < w < 0.25 and 0.15 < h < 0.25
    assert face["score"] > 0.8 and 90 < face["size"] < 120
    assert len(face["landmarks"]) == 5
    assert all(x - 0.02 < px < x + w + 0.02 and y < py < y + h * 1.1
               for px, py in face["landmarks"])
    assert face["quality"] > 0.8 and face["sharpness"] > 100
    assert embedding(face).shape == (128,)
    assert photos["blank"] == []
    # every variant has exactly its one face
    assert all(len(f) == 1 for k, f in photos.items() if k != "blank"), {
        k: len(f) for k, f in photos.items()}


def test_small_faces_are_found_through_tiles(registry: Registry, tmp_path: Path) -> None:
    """Two faces of ~50-75 px in a 3000 px picture: one look at the whole picture misses
    them (BlazeFace sees it at 192 px); the tiles find both."""
    canvas = Image.new("RGB", (3000, 1500), (90, 120, 90))
    canvas.paste(astronaut().resize((256, 256)), (200, 300))
    canvas.paste(grace_hopper().resize((200, 234)), (2200, 900))
    p = tmp_path / "group.jpg"
    canvas.save(p, "JPEG", quality=92)
    assert faces_of(registry, p, tmp_path, min_face=0) == []
    found = faces_of(registry, p, tmp_path)
    assert len(found) == 2
    assert [round(f["box"][0], 1) for f in found] == [0.1, 0.8]  # left to right


def test_same_person_across_copies_is_near_and_two_people_are_far(
        photos: dict[str, list[dict]]) -> None:
    e = [embedding(f[0]) for k, f in photos.items() if k.startswith("eileen")]
    g = [embedding(f[0]) for k, f in photos.items() if k.startswith("grace")]
    same = [np.linalg.norm(a - b) for grp in (e, g) for i, a in enumerate(grp)
            for b in grp[i + 1:]]
    apart = [np.linalg.norm(a - b) for a in e for b in g]
    assert max(same) < 0.4 < 0.55 < min(apart), (max(same), min(apart))


def people(registry: Registry, inputs: list[ToolInput], tmp_path: Path,
           previous: list | None = None, labels: list | None = None) -> dict[str, dict]:
    m = registry.get("people")
    req = ToolRequest(tool=m.id, version=m.version, params=m.resolve_params({}),
                      inputs=inputs, out_dir=str(tmp_path),
                      previous=[InputArtifact(id=f"prev{i}", kind="person", data=d)
                                for i, d in enumerate((previous or {}).values())],
                      labels=labels or [])
    result = run_tool(m, req)
    return {a.data["person"]: a.data | {"members": a.members} for a in result.artifacts}


def inputs_of(photos: dict[str, list[dict]], names: list[str]) -> list[ToolInput]:
    return faces_inputs({n: photos[n] for n in names})


def test_people_clusters_each_person_once(registry: Registry, photos: dict[str, list[dict]],
                                          tmp_path: Path) -> None:
    names = [k for k in photos if k != "blank"]
    out = people(registry, inputs_of(photos, names + ["blank"]), tmp_path)
    groups = sorted(sorted(p["members"]) for p in out.values())
    assert groups == [sorted(n for n in names if n.startswith("eileen")),
                      sorted(n for n in names if n.startswith("grace"))]
    assert all(p["count"] == 6 and len(base64.b64decode(p["centroid"])) == 512
               for p in out.values())


@pytest.fixture(scope="module")
def group(tmp_path_factory: pytest.TempPathFactory, registry: Registry
          ) -> dict[str, list[tuple[int | None, dict]]]:
    """Per copy of the group photo: its faces, each with the person it shows (the index in
    GROUP_FACES of the face it lies on in the photo, None for none)."""
    d = tmp_path_factory.mktemp("group")

    def faces_in(name: str, img: Image.Image) -> list[dict]:
        img.save(d / f"{name}.jpg", "JPEG", quality=92)
        return faces_of(registry, d / f"{name}.jpg", d)

    return labelled_group_faces(faces_in)


def test_every_face_of_a_group_photo_is_found_in_its_copies(
        group: dict[str, list[tuple[int | None, dict]]]) -> None:
    """Six people of 70-130 px faces (60-90 px in the smaller copy): the issue's target is
    95% of faces of at least 40 px found; a detection on no face is a false one."""
    expected = {name: set(GROUP_IN[name]) for name in group}
    found = {name: {k for k, _ in faces if k is not None} for name, faces in group.items()}
    hits = sum(len(found[n] & expected[n]) for n in group)
    assert hits / sum(map(len, expected.values())) >= 0.95, found
    assert [(n, f["box"]) for n, faces in group.items() for k, f in faces if k is None] == []


def test_people_clusters_eight_people_with_the_issues_precision_and_recall(
        registry: Registry, photos: dict[str, list[dict]],
        group: dict[str, list[tuple[int | None, dict]]], tmp_path: Path) -> None:
    """Every face of the group photo's copies and of the two portraits' variants, people
    run once over them: pairwise precision >= 0.97 and recall >= 0.9 (the issue's targets
    for a personal archive)."""
    faces: dict[str, tuple[int, dict]] = {}
    for name, found in group.items():
        for i, (k, face) in enumerate(found):
            if k is not None:
                faces[f"group-{name}-{i}"] = (k, face)
    for name, found in photos.items():
        if name != "blank":
            faces[name] = (6 if name.startswith("eileen") else 7, found[0])
    out = people(registry, faces_inputs({n: [face] for n, (_, face) in faces.items()}),
                 tmp_path)
    pred = {m: pid for pid, p in out.items() for m in p["members"]}
    precision, recall = pairwise({n: k for n, (k, _) in faces.items()}, pred)
    assert len(pred) == len(faces) and len({k for k, _ in faces.values()}) == 8
    assert precision >= 0.97 and recall >= 0.9, (precision, recall, len(out))


def test_people_builds_on_its_last_result(registry: Registry, photos: dict[str, list[dict]],
                                          tmp_path: Path) -> None:
    first = people(registry, inputs_of(photos, ["eileen-orig", "grace-orig"]), tmp_path)
    ids = {p["members"][0]: pid for pid, p in first.items()}
    # new photos join the people they show; the ids stay; a run over the new photos only
    # keeps the earlier faces it did not see
    second = people(registry, inputs_of(photos, ["eileen-dark", "grace-crop"]), tmp_path,
                    previous=first)
    assert set(second) == set(first)
    assert sorted(second[ids["eileen-orig"]]["members"]) == ["eileen-dark", "eileen-orig"]
    assert sorted(second[ids["grace-orig"]]["members"]) == ["grace-crop", "grace-orig"]
    # the same run again: nothing moves, the centres stay where they were
    third = people(registry, inputs_of(photos, ["eileen-dark", "grace-crop"]), tmp_path,
                   previous=second)

    def centre(p: dict) -> np.ndarray:
        return np.frombuffer(base64.b64decode(p["centroid"]), dtype="<f4")

    assert {k: p["faces"] for k, p in third.items()} == {
        k: p["faces"] for k, p in second.items()}
    assert all(np.allclose(centre(third[k]), centre(second[k]), atol=1e-5) for k in second)


def test_people_obeys_merge_and_split_labels(registry: Registry, photos: dict[str, list[dict]],
                                             tmp_path: Path) -> None:
    names = ["eileen-orig", "eileen-mirror", "grace-orig", "grace-mirror"]
    first = people(registry, inputs_of(photos, names), tmp_path)
    pe = next(pid for pid, p in first.items() if "eileen-orig" in p["members"])
    pg = next(pid for pid, p in first.items() if pid != pe)

    def key(name: str) -> str:
        return ",".join(format(v, ".4f") for v in photos[name][0]["box"])

    # merge: grace's faces are told they are eileen's
    merge = [{"asset": n, "key": f"face-person::{key(n)}", "value": pe, "about": ""}
             for n in ("grace-orig", "grace-mirror")]
    merged = people(registry, inputs_of(photos, names), tmp_path, previous=first,
                    labels=merge)
    assert list(merged) == [pe] and sorted(merged[pe]["members"]) == sorted(names)
    # split, newer than the merge: one grace face is not eileen's; it goes to the nearest
    # other person, or a new one, never back to eileen
    split = merge + [{"asset": "grace-orig", "key": f"face-not:{pe}::{key('grace-orig')}",
                      "value": pe, "about": ""}]
    again = people(registry, inputs_of(photos, names), tmp_path, previous=merged,
                   labels=split)
    assert sorted(again[pe]["members"]) == ["eileen-mirror", "eileen-orig", "grace-mirror"]
    (other,) = (pid for pid in again if pid != pe)
    assert again[other]["members"] == ["grace-orig"] and other != pg


def test_incremental_and_labels_are_for_aggregate_tools(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    manifest = tmp_path / "t" / "manifest.toml"
    head = 'id = "t"\nversion = "1"\ninputs = ["image"]\noutputs = ["x"]\nentry = "exec:t"\n'
    manifest.write_text(head + 'shape = "aggregate"\nincremental = true\nlabels = ["a:"]\n')
    m = load_manifest(manifest)
    assert (m.incremental, m.labels) == (True, ("a:",))
    for extra in ("incremental = true", 'labels = ["a:"]'):
        manifest.write_text(head + extra + "\n")
        with pytest.raises(UsageError, match="for aggregate tools"):
            load_manifest(manifest)


def test_a_missing_faces_extra_is_one_clear_message(tmp_path: Path) -> None:
    """Without the libraries (the 'faces' extra not installed) every unit fails with the
    message naming the extra, not retried, and no traceback."""
    Image.new("RGB", (64, 64)).save(tmp_path / "x.jpg")
    code = f"""
import sys
sys.modules["mediapipe"] = None  # as if not installed
from mstore.tools.api import BadInput, ToolInput, ToolRequest
from mstore.tools.registry import Registry
from mstore.tools.runner import run_tool
m = Registry.for_store(None).get("faces")
req = ToolRequest(tool="faces", version=m.version, params=m.resolve_params({{}}),
    inputs=[ToolInput(asset="x", kind="image", mime="image/jpeg", path="{tmp_path}/x.jpg")],
    out_dir="{tmp_path}")
try:
    run_tool(m, req)
except BadInput as e:
    print("BadInput:", e)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       timeout=120)
    assert "BadInput: the faces tool needs the 'faces' extra" in p.stdout, p.stdout + p.stderr
