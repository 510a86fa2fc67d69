"""Faces and people end to end: the real models (MediaPipe BlazeFace, dlib) on real faces
that ship inside packages, through real runs on a Temporal dev server; then what a person
does with the result — name, merge, split — and the query terms, across reruns, new photos
and a new version of the faces tool."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.fixtures.faces import faces_archive, grace_hopper, jpeg
from tests.helpers import REPO, mstore

if TYPE_CHECKING:
    from tests.integration.temporal_env import RunStore

pytest_plugins = ["tests.integration.temporal_env"]


@pytest.fixture
def people_store(run_store, tmp_path: Path):  # noqa: ANN001, ANN201
    root = tmp_path / "faces-archive"
    files = faces_archive(root)
    rs = run_store(over=root)
    return rs, root, files


def ids_by_path(rs: RunStore) -> dict[str, str]:
    rows = mstore("find", "--json", store=rs.path).json_lines()
    return {p.split("/", 1)[1]: r["id"] for r in rows for p in r["paths"]}


def found(rs: RunStore, *query: str) -> set[str]:
    r = mstore("find", *query, "--json", store=rs.path)
    assert r.code in (0, 1) and not r.err.strip(), r.err  # 1: nothing found
    return {row["id"] for row in r.json_lines()}


def people(rs: RunStore) -> list[dict]:
    r = mstore("people", "--json", store=rs.path)
    assert r.code == 0, r.err
    return r.json()["people"]


def faces_of(rs: RunStore, aid: str) -> list[dict]:
    return mstore("show", aid, "--json", store=rs.path).json()["faces"]


def run_people(rs: RunStore) -> str:
    v = rs.run_and_wait("people", "--production", timeout=240)
    assert v.state == "completed", (v.failures, rs.worker_logs())
    return v.id


def person_of(rs: RunStore, aid: str) -> str:
    fs = faces_of(rs, aid)
    assert len(fs) == 1, fs
    return fs[0]["person"]


def test_people_from_real_faces_named_merged_split_and_kept(people_store) -> None:  # noqa: ANN001
    rs, root, _files = people_store
    first = run_people(rs)
    # a rerun over the same photos changes nothing: it reuses the earlier people
    before = people(rs)
    again = run_people(rs)
    assert rs.unit_states(again)[("people", "*")].status == "reused"
    assert (rs.unit_states(again)[("people", "*")].artifacts
            == rs.unit_states(first)[("people", "*")].artifacts)
    assert people(rs) == before
    ids = ids_by_path(rs)
    eileen = [ids[f"eileen/{n}"] for n in ("a1.jpg", "a2.jpg", "a3.jpg")]
    grace = [ids["grace/g1.jpg"], ids["grace/g2.jpg"], ids["grace/clip.mp4"]]

    # faces with boxes on real photos and in a video's frames; none on a wall
    face = faces_of(rs, eileen[0])[0]
    x, y, w, h = face["box"]
    assert 0.25 < x < 0.45 and 0.05 < y < 0.25 and 0.1 < w < 0.35, face
    assert face["score"] > 0.6 and face["person"]
    assert faces_of(rs, ids["empty/wall.jpg"]) == []
    assert all(f["t"] is not None for f in faces_of(rs, ids["grace/clip.mp4"]))

    # one person per real person: crops, mirrors, darker copies and the video together
    pe = {f["person"] for a in eileen for f in faces_of(rs, a)}
    pg = {f["person"] for a in grace for f in faces_of(rs, a)}
    assert len(pe) == 1 and len(pg) == 1 and pe != pg, (pe, pg)
    (pe,), (pg,) = pe, pg
    assert {p["id"] for p in people(rs)} == {pe, pg}

    # names, and the terms
    r = mstore("people", "name", pe, "Eileen Collins", store=rs.path)
    assert r.code == 0, r.err
    assert found(rs, 'person:"eileen collins"') == set(eileen)
    assert found(rs, f"person:{pg}") == set(grace)
    assert found(rs, "person:?") == set(grace)  # nobody named her yet
    assert found(rs, "faces:0") == {ids["empty/wall.jpg"]}
    assert found(rs, "faces:>0") == set(eileen) | set(grace)
    assert found(rs, "faces:1", "kind:image") == set(eileen) | set(grace[:2])
    r = mstore("find", "faces:many", store=rs.path)
    assert r.code == 2 and "faces:" in r.err and "Traceback" not in r.err

    # a new photo of someone known joins her; ids and names stay
    (root / "grace" / "g3.jpg").write_bytes(jpeg(grace_hopper().crop((40, 20, 480, 520))))
    assert mstore("add", store=rs.path).code == 0
    run_people(rs)
    g3 = ids_by_path(rs)["grace/g3.jpg"]
    assert person_of(rs, g3) == pg and person_of(rs, eileen[0]) == pe
    assert [p["name"] for p in people(rs) if p["id"] == pe] == ["Eileen Collins"]

    # merge: "same person", at once and after the next run
    r = mstore("people", "merge", "eileen collins", pg, store=rs.path)
    assert r.code == 0, r.err
    assert [p["id"] for p in people(rs)] == [pe]
    run_people(rs)
    assert [(p["id"], p["name"], p["assets"]) for p in people(rs)] == [
        (pe, "Eileen Collins", 7)]

    # split: "not this person", at once and never again after a run
    refs = [f"{a[:12]}#1" for a in [*grace[:2], g3]]
    r = mstore("people", "split", pe, *refs, ids["grace/clip.mp4"][:12] + "#1",
               store=rs.path)
    assert r.code == 0, r.err
    assert found(rs, 'person:"eileen collins"') == set(eileen)
    run_people(rs)
    assert found(rs, 'person:"eileen collins"') == set(eileen)
    after = {person_of(rs, a) for a in [*grace[:2], g3]}
    assert len(after) == 1 and pe not in after

    # a wrong face reference is one clear line
    r = mstore("people", "split", pe, eileen[0][:12] + "#9", store=rs.path)
    assert r.code == 2 and "no face #9" in r.err
    r = mstore("people", "split", pe, eileen[0][:12], store=rs.path)
    assert r.code == 2 and "a face is ASSET#N" in r.err

    # a new version of the faces tool: its faces are made again, the name stays on the id
    tool = rs.path / "tools" / "faces"
    shutil.copytree(REPO / "workers" / "faces", tool)
    manifest = tool / "manifest.toml"
    manifest.write_text(manifest.read_text().replace('version = "1"', 'version = "2"'))
    run_people(rs)
    fresh = faces_of(rs, eileen[0])[0]
    assert fresh["artifact"] != face["artifact"]
    assert fresh["person"] == pe and fresh["name"] == "Eileen Collins"

    # a sandbox try afterwards does not hide the production people
    v = rs.run_and_wait("people", "--sandbox", timeout=240)
    assert v.state == "completed", v.failures
    listed = mstore("people", "--json", store=rs.path).json()
    assert listed["policy"] == "production" and listed["run"] != v.id


def test_people_before_any_people_run(tmp_path: Path) -> None:
    """No people run yet: the list says so and is empty; naming, merging or splitting
    someone is one clear line, exit 2; the terms find nothing."""
    (tmp_path / "a").mkdir()
    store = tmp_path / "s"
    assert mstore("init", "--store", store, tmp_path / "a").code == 0
    r = mstore("people", store=store)
    assert r.code == 0 and r.out == "" and "no people yet" in r.err
    assert mstore("people", "--json", store=store).json() == {
        "people": [], "run": None, "policy": None}
    for argv, says in ((["name", "p0123456789", "Ada"], "no person 'p0123456789'"),
                       (["merge", "ada", "bob"], "no person 'ada'"),
                       (["split", "ada", "abcd#1"], "no person 'ada'")):
        r = mstore("people", *argv, store=store)
        assert r.code == 2 and says in r.err and "Traceback" not in r.err, (argv, r.err)
    r = mstore("find", "person:?", "--json", store=store)
    assert r.code == 1 and r.out == ""
