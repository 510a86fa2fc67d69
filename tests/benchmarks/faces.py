"""Faces and people benchmarks.

    python -m tests.benchmarks            (these rows come after the run rows)
    python -m tests.benchmarks.faces [--photos N] [--faces N] [--keep DIR]

1. Faces per second of the ``faces`` step as a real run (``mstore run``, a worker with its
   two tool processes, records and artifacts in the store) against a bare loop calling the
   same tool function on the same photos in two processes (models loaded outside the
   clock on both sides). Photos: 1600 x 1200 JPEGs, each with one or two real faces (from
   the packages' sample photos, tests/fixtures/faces.py) pasted at 120-260 px. Target:
   >= 0.9x.
2. Incremental people: 1,000 new faces assigned into 100,000 earlier faces of 10,000
   people (synthetic 128-d embeddings: people's centres apart, faces near their centre),
   one call of the people tool function (reading the earlier result, assigning, writing
   the new one), against the bare assignment: one numpy distance matrix and its argmin.
3. A first people run: 20,000 faces of 2,000 people clustered from nothing.
"""

from __future__ import annotations

import argparse
import base64
import multiprocessing
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.benchmarks.runs import _OUT, REPEAT, Row, _prepare, _units, median_run, warm_up
from tests.integration.temporal_env import DevServer, free_port, make_store

FACES_PIPELINE = """\
name = "facesonly"
description = "the faces step alone"

[[steps]]
name = "faces"
tool = "faces"
kinds = ["image"]
"""


def build_photos(root: Path, n: int) -> int:
    """``n`` photo-sized JPEGs with 1-2 real faces each; returns the number of faces."""
    from PIL import Image, ImageOps

    from tests.fixtures.faces import astronaut, grace_hopper

    root.mkdir(parents=True, exist_ok=True)
    rng = random.Random(5)
    sources = [astronaut().crop((120, 20, 380, 300)), grace_hopper().crop((100, 80, 460, 440))]
    faces = 0
    for i in range(n):
        canvas = Image.new("RGB", (1600, 1200), tuple(rng.randrange(60, 200) for _ in range(3)))
        for k in range(1 + i % 2):
            face = sources[(i + k) % 2]
            if rng.random() < 0.5:
                face = ImageOps.mirror(face)
            side = rng.randrange(160, 340)
            face = face.resize((side, side))
            canvas.paste(face, (100 + k * 800 + rng.randrange(0, 300), rng.randrange(50, 700)))
            faces += 1
        canvas.save(root / f"photo-{i:04d}.jpg", "JPEG", quality=90)
    return faces


_FN: dict = {}  # per process of the bare pool: the faces tool (its artifacts: under _OUT)


def _bare_faces(path: str) -> int:
    from mstore.tools.api import ToolInput, ToolRequest
    from mstore.tools.registry import Registry
    from mstore.tools.runner import _python_entry

    if not _FN:
        m = Registry.for_store(None).get("faces")
        _FN.update(m=m, fn=_python_entry(m), out=tempfile.mkdtemp(dir=_OUT[0]))  # one per process
    m = _FN["m"]
    req = ToolRequest(tool="faces", version=m.version, params=m.resolve_params({}),
                      inputs=[ToolInput(asset="a" * 64, kind="image", mime="image/jpeg",
                                        path=path)], out_dir=_FN["out"])
    return len(_FN["fn"](req, lambda _f, _m: None).artifacts[0].data["faces"])


def bare_faces(files: list[str], out: Path, procs: int = 2) -> tuple[float, int]:
    ctx = multiprocessing.get_context("spawn")
    out.mkdir(parents=True, exist_ok=True)
    # each process loads the models off the clock (a map of a few calls may hand them
    # all to one process)
    with ctx.Pool(procs, initializer=_prepare, initargs=(str(out), _bare_faces, files[0])
                  ) as pool:
        t = time.perf_counter()
        found = sum(pool.map(_bare_faces, files, chunksize=2))
        return time.perf_counter() - t, found


def faces_rows(work: Path, server: DevServer, n_photos: int) -> list[Row]:
    photos = work / "face-photos"
    if not photos.exists():
        build_photos(photos, n_photos)
    base = work / "run-faces"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir()
    rs = make_store(base, photos, server.address)
    rs.write_pipeline("facesonly", FACES_PIPELINE)
    rs.start_worker()
    try:
        files = sorted(str(p) for p in photos.iterdir())
        warm_up(rs, "facesonly", "faces.min_score=0.99")
        t_run, run_id = median_run(rs, "facesonly")
        n = len(_units(rs.path, run_id))
        bares = [bare_faces(files, work / "bare-faces") for _ in range(REPEAT)]
        t_bare, found = statistics.median(t for t, _ in bares), bares[0][1]
    finally:
        rs.stop_workers()
    return [(f"faces step, {n} photos 1600x1200 ({found} faces)", f"{found / t_run:.1f} faces/s",
             f"{found / t_bare:.1f} faces/s (the tool function, 2 procs)",
             f"{t_bare / t_run:.2f}x", ">= 0.9x")]


def people_rows(out: Path, n_faces: int = 100_000, n_people: int = 10_000, n_new: int = 1_000
                ) -> list[Row]:
    import numpy as np

    from mstore.tools.api import InputArtifact, ToolInput, ToolRequest
    from mstore.tools.registry import Registry
    from mstore.tools.runner import _python_entry

    rng = np.random.default_rng(7)
    centres = rng.normal(size=(n_people, 128)).astype(np.float32)
    centres *= 0.6 / np.linalg.norm(centres, axis=1, keepdims=True) * 1.0  # ~0.85 apart
    per = n_faces // n_people

    def b64(v: np.ndarray) -> str:
        return base64.b64encode(v.astype("<f4").tobytes()).decode("ascii")

    previous = []
    for p in range(n_people):
        faces = [[f"{p:08x}{k:04x}" + "0" * 52, None, [0.1, 0.1, 0.2, 0.2]] for k in range(per)]
        previous.append(InputArtifact(id=f"prev{p}", kind="person", data={
            "person": f"p{p:010x}", "faces": faces, "centroid": b64(centres[p]),
            "count": per, "model": "m"}))
    inputs = []
    for i in range(n_new):
        v = centres[rng.integers(n_people)] + rng.normal(scale=0.02, size=128)
        inputs.append(ToolInput(asset=f"{i:064x}", kind="image", mime="image/jpeg", path="",
                                artifacts={"faces": InputArtifact(id=f"f{i}", kind="faces", data={
                                    "model": "m", "faces": [{"box": [0.3, 0.3, 0.2, 0.2],
                                                             "quality": 1.0,
                                                             "embedding": b64(v)}]})}))
    m = Registry.for_store(None).get("people")
    fn = _python_entry(m)
    out.mkdir(parents=True, exist_ok=True)
    req = ToolRequest(tool="people", version=m.version, params=m.resolve_params({}),
                      inputs=inputs, out_dir=str(out), previous=previous)
    centres.astype(np.float64)[:1000] @ centres.astype(np.float64).T  # BLAS warm, for both
    t = time.perf_counter()
    result = fn(req, lambda _f, _m: None)
    took = time.perf_counter() - t
    assert len(result.artifacts) == n_people, len(result.artifacts)  # all assigned
    vecs = np.array([np.frombuffer(base64.b64decode(i.artifacts["faces"].data["faces"][0][
        "embedding"]), dtype="<f4") for i in inputs])
    t = time.perf_counter()
    c = centres.astype(np.float64)
    d2 = (vecs * vecs).sum(1)[:, None] - 2 * vecs @ c.T + (c * c).sum(1)[None, :]
    np.argmin(d2, axis=1)
    bare = time.perf_counter() - t
    return [(f"people: {n_new:,} new faces into {n_faces // 1000}k faces of "
             f"{n_people // 1000}k people", f"{took:.2f} s", f"{bare:.2f} s (one numpy distance "
             f"matrix, argmin)", f"{took / bare:.1f}x", "-")]


def first_run_rows(out: Path, n_faces: int = 20_000, n_people: int = 2_000) -> list[Row]:
    """A first people run: every face new, clustered from nothing (step 4 alone)."""
    import numpy as np

    from mstore.tools.api import InputArtifact, ToolInput, ToolRequest
    from mstore.tools.registry import Registry
    from mstore.tools.runner import _python_entry

    rng = np.random.default_rng(1)
    centres = rng.normal(size=(n_people, 128))
    centres *= 0.6 / np.linalg.norm(centres, axis=1, keepdims=True)
    inputs = []
    for i in range(n_faces):
        v = centres[i % n_people] + rng.normal(scale=0.02, size=128)
        emb = base64.b64encode(v.astype("<f4").tobytes()).decode("ascii")
        inputs.append(ToolInput(asset=f"{i:064x}", kind="image", mime="", path="", artifacts={
            "faces": InputArtifact(id=str(i), kind="faces", data={"model": "m", "faces": [
                {"box": [0.3, 0.3, 0.2, 0.2], "quality": 1.0, "embedding": emb}]})}))
    m = Registry.for_store(None).get("people")
    out.mkdir(parents=True, exist_ok=True)
    req = ToolRequest(tool="people", version=m.version, params=m.resolve_params({}),
                      inputs=inputs, out_dir=str(out))
    t = time.perf_counter()
    made = _python_entry(m)(req, lambda _f, _m: None).artifacts
    took = time.perf_counter() - t
    assert len(made) == n_people, len(made)
    return [(f"people: first run, {n_faces // 1000}k faces of {n_people // 1000}k people",
             f"{took:.2f} s", "-", "-", "-")]


def quality_rows(work: Path) -> list[Row]:
    """The issue's quality figures on real faces from packages (tests/fixtures/faces.py):
    the group photo's six people in six copies and two portraits in six variants each,
    the faces and people tools run as runs run them."""
    from mstore.tools.api import ToolInput, ToolRequest
    from mstore.tools.registry import Registry
    from mstore.tools.runner import run_tool
    from tests.fixtures import faces as real

    reg = Registry.for_store(None)
    out = work / "quality"
    out.mkdir(parents=True, exist_ok=True)

    def faces_in(name: str, img: Any) -> list[dict]:
        path = out / f"{name}.jpg"
        img.save(path, "JPEG", quality=92)
        m = reg.get("faces")
        req = ToolRequest(tool=m.id, version=m.version, params=m.resolve_params({}),
                          inputs=[ToolInput(asset=name, kind="image", mime="image/jpeg",
                                            path=str(path))], out_dir=str(out))
        return run_tool(m, req).artifacts[0].data["faces"]

    faces: dict[str, tuple[int, dict]] = {}
    expected = found = false = 0
    for name, labelled in real.labelled_group_faces(faces_in).items():
        false += sum(k is None for k, _ in labelled)
        faces |= {f"group-{name}-{i}": (k, f) for i, (k, f) in enumerate(labelled)
                  if k is not None}
        expected += len(real.GROUP_IN[name])
        found += len({k for k, _ in labelled} & set(real.GROUP_IN[name]))
    for person, (who, img) in enumerate((("eileen", real.astronaut()),
                                         ("grace", real.grace_hopper())), start=6):
        for variant, v in real.augmented(img).items():
            got = faces_in(f"{who}-{variant}", v)
            expected += 1
            found += bool(got)
            false += max(0, len(got) - 1)
            if got:
                faces[f"{who}-{variant}"] = (person, got[0])
    m = reg.get("people")
    inputs = real.faces_inputs({n: [face] for n, (_, face) in faces.items()})
    made = run_tool(m, ToolRequest(tool=m.id, version=m.version, params=m.resolve_params({}),
                                   inputs=inputs, out_dir=str(out))).artifacts
    pred = {member: a.data["person"] for a in made for member in a.members}
    precision, recall = real.pairwise({n: k for n, (k, _) in faces.items()}, pred)
    return [(f"faces found (8 people, {expected} faces in 18 photos)",
             f"{found}/{expected}, {false} false", "-", f"{found / expected:.0%}", ">= 95%"),
            (f"people: pairwise precision / recall ({len(faces)} faces of 8 people -> "
             f"{len(made)} people)", f"{precision:.3f} / {recall:.3f}", "-", "-",
             ">= 0.97 / >= 0.9")]


def benchmarks(work: Path, *, photos: int = 60) -> list[Row]:
    server = DevServer(free_port()).start(work / "temporal-faces.log")
    try:
        rows = faces_rows(work, server, photos)
    finally:
        server.stop()
    return (rows + quality_rows(work) + people_rows(work / "people-more")
            + first_run_rows(work / "people-first"))


def main() -> None:
    from tests.benchmarks.__main__ import print_table

    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=60, help="photos for the faces step")
    ap.add_argument("--keep", type=Path, default=None, help="work directory to keep")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="mstore-facebench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print_table(benchmarks(work, photos=args.photos))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
