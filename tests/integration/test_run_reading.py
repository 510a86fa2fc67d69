"""Reading runs and artifacts (show, cat, export), gc, collections, the run hooks.

Run data is made without Temporal: plan a run, store its unit list and RunStarted through
the command lane, then execute the units directly with the real built-in tools, the way
an activity does (``RunContext`` + a ``w*`` lane writer).
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner
from PIL import Image

from mstore.cli.main import cli
from mstore.errors import EXIT_DAMAGED, EXIT_USAGE
from mstore.model.records import ArtifactMade, Label, RunState
from mstore.runs.execute import RunContext, SharedWriter, execute_aggregate, execute_units
from mstore.runs.finish import finish
from mstore.runs.pipelines import get_pipeline
from mstore.runs.plan import RunRequest, plan
from mstore.store import index_runs
from mstore.store.objects import object_id
from mstore.store.store import Store
from mstore.tools.registry import Registry
from tests.helpers import REPO, mstore, mstore_proc

THUMBNAIL_VERSION = Registry.for_store(None).get("thumbnail").version

CHECK_PIPELINE = """\
name = "check"
description = "noop over images (one failure injected) and over text"

[[steps]]
name = "img"
tool = "noop"
kinds = ["image"]
params = { fail_on = "scan_001.jpg" }

[[steps]]
name = "txt"
tool = "noop"
kinds = ["text"]
"""

TOUCH_PIPELINE = """\
name = "touch"
description = "one noop artifact per asset"

[[steps]]
name = "touch"
tool = "noop"
"""


class DirectRun:
    """A run executed in this process, unit by unit, as the worker's activities would."""

    def __init__(self, store_dir: Path, pipeline: str, *, policy: str = "production",
                 selection: str = "", sample: str = "", params: dict | None = None,
                 ttl_days: float | None = None) -> None:
        self.store = Store(store_dir)
        req = RunRequest(pipeline=get_pipeline(self.store.root, pipeline), selection=selection,
                         policy=policy, sample=sample, params=params)
        rec, units = plan(self.store, req)
        if ttl_days is not None:
            rec.ttl_days = ttl_days  # a negative ttl: artifacts expired when they are made
        rec.units_object = self.store.objects.put(units)
        self.store.write_records([rec])
        writer, self.lock = self.store.lane_writer("w*")
        self.ctx = RunContext(self.store, SharedWriter(writer), rec,
                              Registry.for_store(self.store.root))
        self.id = rec.run
        self.total = rec.total

    def units(self, start: int = 0, end: int | None = None) -> DirectRun:
        execute_units(self.ctx, start, self.total if end is None else end)
        return self

    def aggregates(self) -> DirectRun:
        for s in self.ctx.run.steps:
            if s.shape == "aggregate":
                execute_aggregate(self.ctx, s.name)
        return self

    def finish(self) -> str:
        try:
            return finish(self.ctx)
        finally:
            self.close()

    def close(self) -> None:
        self.ctx.writer.flush()
        self.lock.release()
        self.store.close()


def run_all(store_dir: Path, pipeline: str, **kw: object) -> str:
    r = DirectRun(store_dir, pipeline, **kw)  # type: ignore[arg-type]
    r.units().aggregates().finish()
    return r.id


def write(store_dir: Path, records: list) -> None:
    st = Store(store_dir)
    try:
        st.write_records(records)
    finally:
        st.close()


def invoke_bytes(store: Path, *args: str) -> tuple[int, bytes, str]:
    r = CliRunner().invoke(cli, ["--store", str(store), *args], catch_exceptions=False)
    return r.exit_code, r.stdout_bytes, r.stderr


def show(store: Path, target: str, *extra: str) -> dict:
    r = mstore("show", target, "--json", *extra, store=store)
    assert r.code == 0, r.err
    return r.json()


def run_artifacts(store_dir: Path, run: str) -> list[ArtifactMade]:
    st = Store(store_dir)
    try:
        idx = st.index
        with idx.read() as txn:
            return index_runs.run_artifacts(idx, txn, run, newest_first=False)
    finally:
        st.close()


def image_ids(store: Path, query: str = "kind:image") -> list[str]:
    return [r["id"] for r in mstore("find", query, "--json", store=store).json_lines()]


@pytest.fixture
def added(fresh_store: tuple[Path, Path]) -> tuple[Path, Path]:
    store, root = fresh_store
    r = mstore("add", "--json", store=store)
    assert r.code == 0, r.err
    return store, root


# -- show RUN / ARTIFACT / ASSET, cat, export -------------------------------------------
def test_show_run_while_executing_and_after(added: tuple[Path, Path]) -> None:
    store, _ = added
    r = DirectRun(store, "dedupe", policy="sandbox")
    idx = r.store.index
    with idx.read() as txn:
        images = {u for u in r.ctx.units() if idx.asset(txn, u).meta.kind == "image"}
    # dedupe runs over every kind (exact duplicates of any file); its hashes are images'
    assert r.total > len(images) > 0
    idle = r.total - len(images)  # units no per-asset step applies to: done from the start
    first = len([u for u in r.ctx.units()[:8] if u in images])
    try:
        r.units(0, 8)
        r.ctx.writer.flush()
        # another process reads while this one (the "worker") holds the store open
        p = mstore_proc("show", r.id[:16], "--json", store=store)  # a unique prefix
        assert p.code == 0, p.err
        d = p.json()
        assert d["type"] == "run" and d["id"] == r.id and d["state"] == "running"
        done = first + idle
        assert 0 < first < len(images)
        assert (d["total"], d["done"], d["failed"], d["pending"]) == (
            r.total, done, 0, r.total - done)
        steps = {s["name"]: s for s in d["steps"]}
        assert steps["thumbnail"]["units"] == len(images)
        assert (steps["thumbnail"]["done"], steps["thumbnail"]["pending"]) == (
            first, len(images) - first)
        assert steps["duplicates"]["shape"] == "aggregate" and steps["duplicates"]["pending"] == 1
        # thumbnails, hashes and quality scores
        assert d["artifacts"] == 3 * first == len(d["recent_artifacts"])
        assert d["recent_artifacts"][0]["kind"] == "quality"  # newest first
        # status says a run is going, with its progress, as git status says a rebase is
        p = mstore_proc("status", "--json", store=store)
        assert p.code == 0 and p.json()["active_runs"] == [{
            "id": r.id, "pipeline": "dedupe", "policy": "sandbox", "state": "running",
            "done": done, "failed": 0, "total": r.total}]
        line = f"run      {r.id}  dedupe sandbox running: {done} done, 0 failed of {r.total}"
        assert line in mstore_proc("status", store=store).out
        r.units(5).aggregates()
    finally:
        r.finish()
    ended = mstore("status", "--json", store=store)
    assert ended.json()["active_runs"] == [] and "run " not in mstore("status", store=store).out
    d = show(store, r.id, "--limit", "3")
    assert d["state"] == "completed" and d["done"] == r.total and d["pending"] == 0
    assert d["eta_s"] is None and d["throughput"] > 0
    assert all(s["pending"] == 0 and s["failed"] == 0 for s in d["steps"])
    assert d["steps"][0]["avg_ms"] is not None and d["steps"][0]["tool"] == "thumbnail"
    made_by = run_artifacts(store, r.id)
    groups = [a for a in made_by if a.kind == "duplicate-group"]
    best = [a for a in made_by if a.kind == "best-shot"]  # one per near group
    assert len(best) == sum(1 for g in groups if g.data["type"] == "near") > 0
    assert len(d["recent_artifacts"]) == 3
    assert d["artifacts"] == 3 * len(images) + len(groups) + len(best)
    assert d["recent_artifacts"][0]["kind"] == "best-shot"  # the last step's
    made = [a["made_ms"] for a in d["recent_artifacts"]]
    assert made == sorted(made, reverse=True)
    assert d["temporal_url"].endswith(f"/workflows/{r.id}")
    human = mstore("show", r.id, store=store)
    assert human.code == 0 and "pending" in human.out
    assert f"thumbnail@{THUMBNAIL_VERSION}" in human.out


def test_log_filters_by_state_and_pipeline(added: tuple[Path, Path]) -> None:
    store, _ = added
    done = run_all(store, "photos", policy="sandbox", sample="3")
    going = DirectRun(store, "dedupe", policy="sandbox", sample="3")
    try:
        going.units(0, 1)
        going.ctx.writer.flush()

        def ids(*args: str) -> list[str]:
            r = mstore("log", "--json", *args, store=store)
            assert r.code == 0, r.err
            return [row["id"] for row in r.json_lines()]

        every = ids()
        assert every[:2] == [going.id, done] or every[:2] == [done, going.id]
        assert ids("--state", "running") == [going.id]
        assert ids("--state", "completed", "--pipeline", "photos") == [done]
        assert set(ids("--state", "running", "--state", "completed")) >= {going.id, done}
        assert ids("--pipeline", "dedupe", "--state", "completed") == []
        assert ids("--pipeline", "no-such-pipeline") == []
        assert ids("--state", "running", "--limit", "0") == []
        bad = mstore_proc("log", "--state", "finished", store=store)
        assert bad.code == 2 and "'finished' is not one of 'running', 'paused'" in bad.err
        # a run whose state came before its RunStarted record (another copy's records,
        # arriving in part) is in neither log nor status until it comes
        write(store, [RunState(hlc=0, run="r20990101-000000-beef", state="running")])
        assert ids("--state", "running") == [going.id]
        status = mstore("status", "--json", store=store).json()
        assert [a["id"] for a in status["active_runs"]] == [going.id]
    finally:
        going.finish()


def test_diff_of_two_runs(added: tuple[Path, Path]) -> None:
    """A sandbox trial (smaller thumbnails, a sample) against the production run: the
    param that changed, the units both have, and per step which results are the same
    (metadata, reused), which differ (thumbnails of another size) and which one run lacks."""
    store, _ = added
    trial = run_all(store, "photos", policy="sandbox", sample="5")
    real = run_all(store, "photos", params={"thumbnail": {"quality": 70}})
    # a unique prefix of the production run's id (both may start in the same second)
    unique = real[:next(i for i in range(len(real)) if real[i] != trial[i]) + 1]
    r = mstore("diff", trial, unique, "--json", store=store)
    assert r.code == 0, r.err
    d = r.json()
    shown_a, shown_b = show(store, trial), show(store, real)
    assert (d["a"]["run"], d["a"]["policy"], d["a"]["sample"], d["a"]["units"]) == (
        trial, "sandbox", "5", shown_a["total"])
    assert (d["b"]["run"], d["b"]["policy"], d["b"]["sample"], d["b"]["units"]) == (
        real, "production", None, shown_b["total"])
    both = d["units"]["both"]
    assert both == 5 and d["units"] == {"both": 5, "only_a": 0,
                                        "only_b": shown_b["total"] - 5}
    steps = {st["name"]: st for st in d["steps"]}
    assert list(steps) == ["metadata", "thumbnail", "phash"]
    assert steps["thumbnail"]["a"] == steps["thumbnail"]["b"] == f"thumbnail@{THUMBNAIL_VERSION}"
    # the sandbox's cheaper size, and the quality asked for
    assert steps["thumbnail"]["params"] == {"quality": [80, 70], "size": [128, 256]}
    assert steps["metadata"]["params"] == {} and steps["phash"]["params"] == {}
    for st in steps.values():
        assert st["same"] + st["differs"] + st["one_only"] <= both
    # the same tool and params: metadata is the same (reused) wherever both have one
    assert steps["metadata"]["differs"] == 0 and steps["metadata"]["same"] > 0
    assert steps["thumbnail"]["differs"] > 0
    # a run against itself: every result the same
    itself = mstore("diff", real, real, "--json", store=store).json()
    assert all(st["differs"] == st["one_only"] == 0 and st["params"] == {}
               for st in itself["steps"])
    assert sum(st["same"] for st in itself["steps"]) > 0
    human = mstore("diff", trial, real, store=store).out
    assert "size 128 -> 256" in human and "quality 80 -> 70" in human
    assert mstore("diff", trial, "r1999", store=store).code == 2


def test_a_run_whose_unit_list_is_missing_or_damaged(added: tuple[Path, Path]) -> None:
    """A run's unit list is an object: one that has not reached this copy (a run another
    copy started, before a pull brings its objects) and one that is here but is no unit
    list are told apart. ``diff`` says to pull, or names the damage with its exit code;
    ``show`` still shows the run whose list is not here."""
    store, _ = added
    (store / "pipelines").mkdir()
    (store / "pipelines" / "check.toml").write_text(CHECK_PIPELINE)
    done = run_all(store, "check")
    st = Store(store)
    try:
        req = RunRequest(pipeline=get_pipeline(st.root, "check"))
        elsewhere, _ = plan(st, req)
        elsewhere.units_object = object_id(b"a unit list only another copy has")
        damaged, _ = plan(st, req)
        damaged.units_object = st.objects.put(msgspec.msgpack.encode({"not": "a list"}))
        st.write_records([elsewhere, damaged])
        assert st.run_units(elsewhere) is None
    finally:
        st.close()
    r = mstore("diff", done, elsewhere.run, store=store)
    assert r.code == EXIT_USAGE and "unit list is not in this copy yet" in r.err, r.err
    d = show(store, elsewhere.run)
    assert d["id"] == elsewhere.run and d["total"] == show(store, done)["total"]
    r = mstore("diff", damaged.run, done, store=store)
    assert r.code == EXIT_DAMAGED, r.err
    assert f"run {damaged.run}: its unit list {damaged.units_object[:12]}" in r.err
    assert "Traceback" not in r.err
    assert mstore("diff", done, done, store=store).code == 0


def complete(words: str, *, env: dict | None = None) -> list[str]:
    """What the shell's completion offers for ``words`` (the last one being typed), asked
    the way click's bash script asks: a real process, the words in the environment."""
    argv = words.split(" ")
    p = subprocess.run([sys.executable, "-m", "mstore"], capture_output=True, text=True,
                       cwd="/", env={**os.environ, **(env or {}), "COMP_WORDS": words,
                                     "COMP_CWORD": str(len(argv) - 1),
                                     "_MSTORE_COMPLETE": "bash_complete"})
    assert p.returncode == 0 and p.stderr == "", p.stderr
    return [line.split(",", 1)[1] for line in p.stdout.splitlines() if line]


def test_shell_completion_offers_the_stores_names(added: tuple[Path, Path]) -> None:
    """Tab completion, as git completes branches: run ids (newest first; a steering
    command only the runs it applies to), pipelines, collections, sort keys and the
    query's keys and values — also as bash splits a word at ":". Where there is no
    store, nothing is offered and nothing is printed."""
    store, _ = added
    (store / "pipelines").mkdir()
    (store / "pipelines" / "check.toml").write_text(CHECK_PIPELINE)
    failed = run_all(store, "check")
    done = run_all(store, "photos")
    assert mstore("collection", "create", "trip", "--query", "kind:image", store=store).code == 0
    s = f"mstore --store {store}"
    newest_first = sorted([failed, done], reverse=True)
    assert complete(f"{s} diff r") == newest_first
    assert complete(f"{s} diff {done[:-2]}") == [done]
    assert complete(f"mstore diff {done[:-2]}", env={"MSTORE_DIR": str(store)}) == [done]
    assert complete(f"{s} show r") == newest_first
    assert complete(f"{s} rerun r") == [failed]  # the runs with failures
    assert complete(f"{s} resume r") == []  # none is paused
    assert {"photos", "check", "dedupe"} <= set(complete(f"{s} run "))
    assert complete(f"{s} run pho") == ["photos"]
    assert complete(f"{s} collection show ") == ["trip"]
    assert complete(f"{s} find collection:t") == ["collection:trip"]
    assert complete(f"{s} find --sort ") == ["path", "taken", "-taken", "size", "-size"]
    assert complete(f"{s} find ki") == ["kind:"]
    assert complete(f"{s} find kind:im") == ["kind:image"]
    assert complete(f"{s} find has:g") == ["has:gps"]
    assert complete(f"{s} find kind : v") == ["video"]  # bash: kind : v
    assert ":image" in complete(f"{s} find kind :")  # bash: the cursor after kind:
    assert complete(f"{s} run photos kind:doc") == ["kind:document"]
    assert complete(f"{s} pull ") == []
    assert mstore("remote", "add", "backup", str(store.parent / "elsewhere"), store=store).code == 0
    assert complete(f"{s} pull ") == complete(f"{s} remote remove b") == ["backup"]
    assert complete(f"mstore --store {store}/nowhere diff r") == []
    # in bash itself, with the script mstore prints for it: a completed key keeps the
    # cursor after its ":" (no space), so the next TAB completes the value
    script = subprocess.run([sys.executable, "-m", "mstore"], capture_output=True, text=True,
                            env={**os.environ, "_MSTORE_COMPLETE": "bash_source"},
                            check=True).stdout
    wrapper = Path(store).parent / "mstore-cmd"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m mstore \"$@\"\n")
    wrapper.chmod(0o755)
    for words, reply, nospace in ((f"find {'ki'}", "kind:", True),
                                  (f"diff {done[:-2]}", done, False)):
        shell = (script + "\ncompopt() { echo compopt \"$@\"; }\n"
                 f"COMP_WORDS=(mstore --store {store} {words}); COMP_CWORD=4\n"
                 f"_mstore_completion {wrapper}\n" 'echo "reply ${COMPREPLY[*]}"\n')
        out = subprocess.run(["bash", "-c", shell], capture_output=True, text=True,
                             cwd="/").stdout.splitlines()
        assert f"reply {reply}" in out, out
        assert ("compopt -o nospace" in out) is nospace, out


def test_a_dry_run_says_what_it_would_reuse_and_what_it_would_cost(
        added: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    """run --dry-run follows the executor's reuse rule unit by unit: what it says it would
    reuse and compute is what the run then reuses and computes, a step whose upstream is
    recomputed is recomputed too, production never reuses a sandbox's results; the time
    per unit comes from the newest run that computed the tool (with the same params
    first), and the total is spread over the worker's tool processes."""
    store, _ = added

    def dry(*args: str) -> dict:
        r = mstore("run", "photos", "-n", "--json", *args, store=store)
        assert r.code == 0, r.err
        return r.json()

    def by_step(d: dict) -> dict[str, dict]:
        return {st["name"]: st for st in d["steps"]}

    images = len(image_ids(store))
    before = by_step(dry("--production"))
    for st in before.values():
        assert (st["applies"], st["reuse"], st["compute"]) == (images, 0, images)
        assert st["ms_per_unit"] is None and st["measured_in"] is None
    assert dry("--production")["estimate_s"] is None
    first = run_all(store, "photos")
    after = by_step(dry("--production"))
    assert all((st["reuse"], st["compute"]) == (images, 0) for st in after.values())
    # a sandbox trial reuses nothing production made
    trial = by_step(dry())
    assert all(st["reuse"] == 0 and st["compute"] == st["applies"] for st in trial.values())
    # bigger thumbnails: metadata reused, thumbnail and the phash made from it computed
    d = dry("--production", "--param", "thumbnail.size=200")
    plan = by_step(d)
    assert (plan["metadata"]["reuse"], plan["metadata"]["compute"]) == (images, 0)
    assert plan["thumbnail"]["compute"] == plan["phash"]["compute"] == images
    for name, same in (("thumbnail", False), ("phash", True)):
        assert plan[name]["measured_in"] == first and plan[name]["same_params"] is same
        assert plan[name]["ms_per_unit"] > 0
        assert plan[name]["seconds"] == pytest.approx(
            images * plan[name]["ms_per_unit"] / 1000, abs=0.1)
    total = sum(plan[n]["seconds"] for n in ("thumbnail", "phash"))
    assert d["estimate_s"] == pytest.approx(total / d["processes"], abs=0.15)
    assert d["units_followed"] == images
    human = mstore("run", "photos", "-n", "--production", "--param", "thumbnail.size=200",
                   store=store).out
    assert f"reuse {images}, compute 0" in human and "with other params" in human
    assert f"on {d['processes']} tool process" in human
    # ... and the run does what the dry run said
    real = run_all(store, "photos", params={"thumbnail": {"size": 200}})
    counts = {st["name"]: st for st in show(store, real)["steps"]}
    for name, st in plan.items():
        assert (counts[name]["reused"], counts[name]["done"]) == (st["reuse"], st["compute"])
    # over many units, an evenly spaced sample of them is followed and the counts scaled
    monkeypatch.setattr("mstore.runs.estimate.LOOKED_MAX", 3)
    d = dry("--production", "--param", "thumbnail.size=210")
    assert d["units_followed"] <= 3 < images
    assert all(st["applies"] == images == st["reuse"] + st["compute"] for st in d["steps"])
    assert "counted over" in mstore("run", "photos", "-n", "--production",
                                    store=store).out


def test_show_run_failures_and_step_kinds(added: tuple[Path, Path]) -> None:
    store, _ = added
    (store / "pipelines").mkdir()
    (store / "pipelines" / "check.toml").write_text(CHECK_PIPELINE)
    rid = run_all(store, "check")
    d = show(store, rid)
    images, texts = len(image_ids(store)), len(image_ids(store, "kind:text"))
    assert d["state"] == "failed" and d["total"] == images + texts
    steps = {s["name"]: s for s in d["steps"]}
    assert steps["img"]["units"] == images and steps["txt"]["units"] == texts
    assert (steps["img"]["done"], steps["img"]["failed"]) == (images - 1, 1)
    [f] = d["failures"]
    assert f["step"] == "img" and f["attempts"] == 1 and "scan_001.jpg" in f["error"]
    assert f["path"].endswith("scan_001.jpg") and f["asset"] in image_ids(store, "scan_001")
    assert "scan_001.jpg" in mstore("show", rid, store=store).out


def test_show_artifact_asset_labels_cat(added: tuple[Path, Path]) -> None:
    store, _ = added
    prod = run_all(store, "photos")
    dedupe = run_all(store, "dedupe")
    arts = run_artifacts(store, prod)
    phash = next(a for a in arts if a.kind == "phash")
    thumb = next(a for a in arts if a.kind == "thumbnail" and a.asset == phash.asset)

    d = show(store, phash.id[:10])
    assert d["type"] == "artifact" and d["id"] == phash.id
    assert (d["run"], d["step"], d["tool"], d["version"]) == (prod, "phash", "phash", "1")
    assert d["pipeline"] == "photos" and d["params"] == {} and d["policy"] == "production"
    assert d["expires_ms"] is None and d["host"] == socket.gethostname()
    assert abs(d["made_ms"] - time.time() * 1000) < 120_000
    assert d["asset"]["id"] == phash.asset and d["asset"]["kind"] == "image"
    assert set(d["data"]) == {"phash", "dhash"} and d["payload"] is None
    [a_in, t_in] = d["inputs"]
    assert a_in == {"type": "asset", "id": phash.asset, "kind": "image", "path": a_in["path"]}
    assert t_in["type"] == "artifact" and t_in["id"] == thumb.id and t_in["kind"] == "thumbnail"
    assert t_in["tool"] == "thumbnail" and t_in["run"] == prod and "inputs" not in t_in
    deep = show(store, phash.id, "--depth", "2")["inputs"][1]["inputs"]
    assert deep == [{"type": "asset", "id": phash.asset, "kind": "image", "path": a_in["path"]}]

    t = show(store, thumb.id)
    assert t["params"] == {"size": 256, "format": "webp", "quality": 80, "effort": 2}
    st = Store(store)
    try:
        payload = st.objects.get(thumb.payload)
    finally:
        st.close()
    assert t["payload"] == {"object": thumb.payload, "size": len(payload),
                            "filename": "thumb.webp", "present": True}
    human = mstore("show", thumb.id, store=store).out
    assert f"thumbnail@{THUMBNAIL_VERSION}" in human
    assert thumb.payload in human and "size=256" in human
    # down the chain: what was made from the thumbnail (the phash, and dedupe's quality
    # score, made from the thumbnail it reused), from the index
    assert [x["id"] for x in t["derived"] if x["kind"] == "phash"] == [phash.id]
    assert sorted(x["kind"] for x in t["derived"]) == ["phash", "quality"]
    assert "derived    2" in human
    assert phash.id in [x["id"] for x in show(store, thumb.id)["derived"]]
    assert {x["kind"] for x in d["derived"]} == {"duplicate-group"} or d["derived"] == []

    # a group's inputs are its members and what was read of them: images with their
    # perceptual hashes; other kinds (exact copies only) by themselves
    groups = [a for a in run_artifacts(store, dedupe) if a.kind == "duplicate-group"]
    inputs = {}
    for group in groups:
        g = show(store, group.id)
        assert g["asset"] is None and g["members"] == group.members
        assert g["shape"] == "aggregate"
        inputs[group.id] = {i["kind"] for i in g["inputs"]}
    assert {"image", "phash"} in inputs.values() and {"audio"} in inputs.values()

    # cat: the payload's exact bytes, which are an image; data as JSON
    code, out, _ = invoke_bytes(store, "cat", thumb.id[:12])
    assert code == 0 and out == payload
    with Image.open(io.BytesIO(out)) as im:
        assert im.format == "WEBP" and max(im.size) <= 256
    code, out, _ = invoke_bytes(store, "cat", phash.id)
    assert code == 0 and json.loads(out) == phash.data

    # the asset: its artifacts by kind (aggregate ones too), and its labels
    write(store, [Label(hlc=0, asset=phash.asset, key="keep", value="yes",
                                       about=group.id if phash.asset in group.members else "")])
    a = show(store, phash.asset)
    for key in ("id", "kind", "mime", "size", "missing", "meta", "paths", "errors", "related"):
        assert key in a
    assert {x["id"] for x in a["artifacts"]["phash"]} == {phash.id}
    assert a["artifacts"]["thumbnail"][0] == {
        "id": thumb.id, "tool": "thumbnail", "version": THUMBNAIL_VERSION, "run": prod,
        "step": "thumbnail",
        "policy": "production", "expires_ms": None, "made_ms": thumb.hlc >> 16,
        "aggregate": False}
    assert set(a["artifacts"]) >= {"metadata", "thumbnail", "phash"}
    [lab] = a["labels"]
    assert (lab["key"], lab["value"]) == ("keep", "yes")
    human = mstore("show", phash.asset, store=store).out
    assert "artifacts" in human and "keep = yes" in human and thumb.id[:12] in human


def test_show_and_cat_errors(added: tuple[Path, Path]) -> None:
    store, _ = added
    rid = run_all(store, "photos")
    assert mstore("show", "r19990101", store=store).code == 2
    assert mstore("show", "nonesuch", store=store).code == 2
    assert mstore("cat", "abcdef12", store=store).code == 2
    assert mstore("cat", "not-hex", store=store).code == 2
    # an artifact whose id shares a prefix with an asset: ambiguous, naming both
    asset = image_ids(store)[0]
    fake = ArtifactMade(hlc=0, id=asset[:8] + "0" * 56, kind="note", run=rid, step="x",
                        tool="noop", version="1", asset=asset, data={"n": 1})
    write(store, [fake])
    r = mstore("show", asset[:8], store=store)
    assert r.code == 2 and "asset" in r.err and "artifact" in r.err
    assert show(store, asset[:9] if asset[8] != "0" else asset)["id"] == asset
    assert show(store, fake.id[:20])["type"] == "artifact"
    assert show(store, rid[:3])["id"] == rid  # the only run, so "r20" names it


def test_export(added: tuple[Path, Path], tmp_path: Path) -> None:
    store, _ = added
    prod = run_all(store, "photos")
    sand = run_all(store, "photos", policy="sandbox")
    out = tmp_path / "out"
    r = mstore("export", "path:2019", "kind:image", "--kind", "thumbnail", "--to", out, "--json",
               store=store)
    assert r.code == 0, r.err
    rep = r.json()
    wanted = image_ids(store, "path:2019 kind:image")
    manifest = json.loads((out / "manifest.json").read_text())
    files = manifest["files"]
    assert rep["files"] == len(files) == len(wanted) and manifest["kind"] == "thumbnail"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f["file"] for f in files] + ["manifest.json"])
    st = Store(store)
    try:
        for f in files:
            assert f["file"] == f"{f['asset'][:12]}-thumbnail-1.webp"
            assert f["run"] == prod and f["policy"] == "production"  # production preferred
            assert (f["tool"], f["version"], f["params"]["size"]) == (
                "thumbnail", THUMBNAIL_VERSION, 256)
            assert f["paths"] and all(p.startswith("archive/") for p in f["paths"])
            assert (out / f["file"]).read_bytes() == st.objects.get(f["payload"])
        assert sorted(f["asset"] for f in files) == sorted(wanted)
    finally:
        st.close()
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    r = mstore("export", "path:2019", "kind:image", "--kind", "thumbnail", "--to", out, store=store)
    assert r.code == 2 and "--force" in r.err
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before
    r = mstore("export", "path:2019", "kind:image", "--kind", "thumbnail", "--to", out, "--run",
               sand, "--force", store=store)
    assert r.code == 0, r.err
    files = json.loads((out / "manifest.json").read_text())["files"]
    assert {f["run"] for f in files} == {sand} and files[0]["params"]["size"] == 128
    # data-only artifacts export as JSON; nothing of an unknown kind is exit 1
    r = mstore("export", "--kind", "phash", "-o", tmp_path / "ph", "--json", store=store)
    assert r.code == 0 and r.json()["files"] == len(image_ids(store))
    one = next((tmp_path / "ph").glob("*-phash-1.json"))
    assert set(json.loads(one.read_text())) == {"phash", "dhash"}
    assert mstore("export", "--kind", "nonesuch", "--to", tmp_path / "x", store=store).code == 1
    assert not (tmp_path / "x").exists()


def test_export_destination_is_never_a_query_word(added: tuple[Path, Path], tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    store, _ = added
    run_all(store, "photos")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    r = mstore("export", "kind:image", "--kind", "thumbnail", store=store)
    assert r.code == 2 and "--to" in r.err
    assert list(cwd.iterdir()) == []  # no folder named 'kind:image'
    r = mstore("export", "kind:image", "--kind", "thumbnail", "--to", "out", store=store)
    assert r.code == 0, r.err
    assert [p.name for p in cwd.iterdir()] == ["out"]
    # a destination that cannot be a folder is one line, nothing written
    (cwd / "file").write_text("x")
    r = mstore("export", "--kind", "thumbnail", "--to", cwd / "file" / "sub", store=store)
    assert r.code == 2 and "cannot export" in r.err


# -- gc -------------------------------------------------------------------------------------
def _files(store: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(store)), p.stat().st_size)
                  for d in ("objects", "records") for p in (store / d).rglob("*") if p.is_file())


def _answers(store: Path, runs: list[str], arts: list[str]) -> dict:
    return {"runs": [show(store, r) for r in runs],
            "arts": [mstore("show", a, "--json", store=store).out for a in arts],
            "assets": [show(store, a) for a in image_ids(store)],
            "gc": mstore("gc", "--dry-run", "--json", store=store).json()}


def test_gc(added: tuple[Path, Path]) -> None:
    store, _ = added
    prod = run_all(store, "photos")
    old = run_all(store, "photos", policy="sandbox", sample="100%", ttl_days=-3)
    # a later sandbox run over part of the images, whose thumbnails and hashes are the ones
    # `old` made: its duplicate groups name them as inputs, so they must survive
    later = run_all(store, "dedupe", policy="sandbox", selection="path:2019",
                    params={"thumbnail": {"size": 128}})
    old_arts = run_artifacts(store, old)
    labeled = next(a for a in old_arts if a.kind == "metadata")
    write(store, [Label(hlc=0, asset=labeled.asset, key="checked",
                                       value="yes", about=labeled.id)])
    by_id = {a.id: a for a in old_arts}
    kept = {labeled.id}
    for g in run_artifacts(store, later):
        for i in g.inputs:
            if i in by_id:
                kept.add(i)
                kept.update(x for x in by_id[i].inputs if x in by_id)  # its thumbnail
    assert any(by_id[k].kind == "thumbnail" for k in kept)
    drop = set(by_id) - kept
    assert any(by_id[d].kind == "thumbnail" for d in drop)
    survivors = [a for r in (prod, later) for a in run_artifacts(store, r)] + [
        by_id[k] for k in kept]
    live_payloads = {a.payload for a in survivors if a.payload}
    doomed = {by_id[d].payload for d in drop if by_id[d].payload} - live_payloads
    assert doomed

    files = _files(store)
    r = mstore("gc", "--dry-run", "--json", store=store)
    assert r.code == 0, r.err
    rep = r.json()
    assert (rep["expired"], rep["kept"], rep["dropped"]) == (len(by_id), len(kept), len(drop))
    assert rep["objects"] == len(doomed) and rep["bytes"] > 0 and rep["dry_run"]
    assert _files(store) == files  # a dry run changes nothing
    assert mstore("gc", "--grace", "100", "--json", store=store).json()["dropped"] == 0

    rep = mstore("gc", "--json", store=store).json()
    assert (rep["dropped"], rep["objects"]) == (len(drop), len(doomed))
    for d in drop:
        r = mstore("show", d, store=store)
        assert r.code == 2 and "dropped" in r.err
    for k in kept:
        assert show(store, k)["id"] == k
        assert not {x["id"] for x in show(store, k)["derived"]} & drop  # gone downstream too
    images = int(mstore("find", "kind:image", "--count", store=store).out)
    assert len(run_artifacts(store, prod)) == 3 * images  # metadata, thumbnail, phash each
    st = Store(store)
    try:
        assert not any(st.objects.has(o) for o in doomed)
        for o in live_payloads:
            st.objects.get(o)  # readable, and matches its hash
    finally:
        st.close()
    kept_thumb = next(by_id[k] for k in kept if by_id[k].kind == "thumbnail")
    code, out, _ = invoke_bytes(store, "cat", kept_thumb.id)
    assert code == 0 and out[:4] == b"RIFF"
    again = mstore("gc", "--json", store=store).json()
    assert (again["dropped"], again["objects"]) == (0, 0)
    r = mstore("fsck", "--full", "--json", store=store)
    assert r.code == 0 and r.json()["clean"], r.out

    # a reindex (records read in another order: the gc record's lane sorts before the
    # worker's) gives the same answers
    sample_arts = sorted(kept)[:3] + [a.id for a in run_artifacts(store, prod)[:3]]
    before = _answers(store, [prod, old, later], sample_arts)
    assert mstore("reindex", store=store).code == 0
    assert _answers(store, [prod, old, later], sample_arts) == before

    # an interrupted gc (record written, files not yet unlinked) is finished by the next
    # one, from its journal; what something names again is never deleted
    st = Store(store)
    try:
        orphan = st.objects.put(b"payload of an artifact dropped by an interrupted gc")
        st.objects.flush()
    finally:
        st.close()
    journal = store / "local" / "gc" / "journal.json"
    journal.write_text(json.dumps({"objects": [orphan, kept_thumb.payload]}))
    rep = mstore("gc", "--json", store=store).json()
    assert (rep["dropped"], rep["objects"], rep["leftover_objects"]) == (0, 1, 1)
    assert not journal.exists()
    st = Store(store)
    try:
        assert not st.objects.has(orphan) and st.objects.has(kept_thumb.payload)
    finally:
        st.close()

    # a run still executing stops gc; --force goes ahead
    (store / "pipelines").mkdir()
    (store / "pipelines" / "touch.toml").write_text(TOUCH_PIPELINE)
    live = DirectRun(store, "touch", policy="sandbox", sample="3", ttl_days=-3)
    try:
        live.units()
        live.ctx.writer.flush()
        r = mstore_proc("gc", store=store)
        assert r.code == 4 and live.id in r.err
        r = mstore_proc("gc", "--force", "--json", store=store)
        assert r.code == 0, r.err
        rep = r.json()
        assert rep["dropped"] == 3 and rep["active_runs"] == [live.id]
        assert rep["workers"] == [os.getpid()]  # this process holds the worker lane
    finally:
        live.close()


# -- collections ----------------------------------------------------------------------------
def planned_photos(store: Path, selection: str) -> list[str]:
    """The units a production photos run over ``selection`` would have."""
    st = Store(store)
    try:
        _, units = plan(st, RunRequest(pipeline=get_pipeline(st.root, "photos"),
                                       selection=selection, policy="production"))
    finally:
        st.close()
    return msgspec.msgpack.decode(units)


def test_collections(added: tuple[Path, Path], tmp_path: Path) -> None:
    store, root = added
    vac = image_ids(store, "path:2019")
    assert mstore("collection", "create", "vac", "--query", "path:2019", store=store).code == 0
    r = mstore("collection", "create", "vacf", "--query", "path:2019", "--freeze", "--json",
               store=store)
    assert r.code == 0 and r.json()["type"] == "frozen" and r.json()["count"] == len(vac)
    ids_file = tmp_path / "ids.txt"
    ids_file.write_text(f"# picked by hand\n{vac[0]}\n{vac[1][:10]}  some comment\n\n")
    r = mstore("collection", "create", "picked", "--assets", ids_file, store=store)
    assert r.code == 0, r.err
    for bad in (["vac", "--query", "x"], ["new"], ["new", "--query", "x", "--assets", ids_file],
                ["bad name", "--query", "x"], ["q", "--query", "kind:"]):
        assert mstore("collection", "create", *bad, store=store).code == 2, bad

    # a new file under 2019/: the dynamic collection follows, the frozen ones do not
    new = root / "2019" / "new-note.txt"
    new.write_text("arrived after the collections were defined\n")
    assert mstore("add", store=store).code == 0
    [new_id] = image_ids(store, "new-note")
    dyn = mstore("collection", "show", "vac", "--json", store=store).json()
    assert dyn["type"] == "dynamic" and dyn["count"] == len(vac) + 1
    assert new_id in [m["id"] for m in dyn["members"]]
    frozen = mstore("collection", "show", "vacf", "--json", store=store).json()
    assert [m["id"] for m in frozen["members"]] == vac
    picked = mstore("collection", "show", "@picked", "--json", store=store).json()
    assert [m["id"] for m in picked["members"]] == vac[:2] and picked["members"][0]["paths"]
    listed = {c["name"]: c for c in
              mstore("collection", "list", "--json", store=store).json_lines()}
    assert {n: c["count"] for n, c in listed.items()} == {
        "vac": len(vac) + 1, "vacf": len(vac), "picked": 2}

    # runs plan over a collection's members (a frozen one exactly)
    images = set(image_ids(store, "kind:image"))
    assert planned_photos(store, "@vacf") == [a for a in vac if a in images]

    assert mstore("collection", "delete", "vac", store=store).code == 0
    assert mstore("collection", "show", "vac", store=store).code == 2
    assert mstore("collection", "delete", "vac", store=store).code == 2
    assert "vac" not in mstore("collection", "list", store=store).out.split()
    assert mstore("collection", "create", "vac", "--query", "kind:video", store=store).code == 0
    assert mstore("collection", "show", "vac", "--json", store=store).json()["query"] == \
        "kind:video"


def test_collection_terms_in_queries(added: tuple[Path, Path]) -> None:
    """``collection:NAME`` selects a collection's members in any query: dynamic ones
    evaluated now, frozen ones exactly, other collections named inside; a name that
    is gone is a query error, and a collection whose query names it is still listed."""
    from starlette.testclient import TestClient

    from mstore.model.records import CollectionDefined
    from mstore.ui.app import create_app

    store, root = added
    vac = image_ids(store, "path:2019")
    images = set(image_ids(store, "kind:image"))
    for args in (["vac", "--query", "path:2019"], ["VacF", "--query", "path:2019", "--freeze"],
                 ["either", "--query", "collection:vac OR kind:video"]):
        assert mstore("collection", "create", *args, store=store).code == 0, args
    assert image_ids(store, "collection:vac") == vac
    assert image_ids(store, "collection:VAC kind:image") == [a for a in vac if a in images]
    assert image_ids(store, "collection:vacf") == vac  # names compare case-insensitively
    assert not set(image_ids(store, "-collection:vac")) & set(vac)
    assert set(image_ids(store, "collection:either")) == set(vac) | set(
        image_ids(store, "kind:video"))
    assert "collection:" in mstore("help-query").out

    # a new file under 2019/: a dynamic collection's term follows, a frozen one's does not
    (root / "2019" / "later.txt").write_text("came after\n")
    assert mstore("add", store=store).code == 0
    [later] = image_ids(store, "path:later.txt")
    assert later in image_ids(store, "collection:vac")
    assert later in image_ids(store, "collection:either")
    assert image_ids(store, "collection:vacf") == vac

    # runs select by it like by any term
    assert planned_photos(store, "collection:vacf") == [a for a in vac if a in images]

    r = mstore("find", "collection:nope", store=store)
    assert r.code == 2 and "no collection 'nope'" in r.err and "Traceback" not in r.err
    # "@vacf", as `run --on` takes it, is a word of the paths here: finding nothing says so
    r = mstore("find", "@vacf", store=store)
    assert r.code == 1 and "collection:VacF" in r.err
    assert "hint" not in mstore("find", "@nope", store=store).err

    # the collection "either" names is deleted: it is still listed, saying why it has no
    # count; using it says the same
    assert mstore("collection", "delete", "vac", store=store).code == 0
    listed = {c["name"]: c for c in
              mstore("collection", "list", "--json", store=store).json_lines()}
    assert listed["either"]["count"] is None and "no collection 'vac'" in listed["either"]["error"]
    assert listed["VacF"]["count"] == len(vac) and listed["VacF"]["error"] is None
    text = mstore("collection", "list", store=store)
    assert text.code == 0 and "no collection 'vac'" in text.out
    for argv in (["collection", "show", "either"], ["find", "collection:either"],
                 ["run", "photos", "--on", "either"]):
        r = mstore(*argv, store=store)
        assert r.code == 2 and "no collection 'vac'" in r.err and "Traceback" not in r.err, argv
    with TestClient(create_app(store), base_url="http://localhost:8765") as ui:
        page = ui.get("/collection/VacF")  # the page searches within it
        assert page.status_code == 200 and 'href="/?q=collection%3AVacF"' in page.text
        def tiles(q: str) -> list[str]:
            return re.findall(r'href="/asset/([0-9a-f]{64})"', ui.get("/", params={"q": q}).text)

        assert tiles("collection:VacF") == tiles("path:2019 -path:later.txt") != []
        page = ui.get("/collections")
        assert page.status_code == 200 and "no collection &#39;vac&#39;" in page.text
        page = ui.get("/collection/either")
        assert page.status_code == 200 and "no collection &#39;vac&#39;" in page.text

    # two collections naming each other (each copy of a store defined one): an error,
    # not an endless evaluation
    st = Store(store)
    try:
        st.write_records([
            CollectionDefined(hlc=0, name="ping", query="collection:pong"),
            CollectionDefined(hlc=0, name="pong", query="kind:image collection:ping"),
            # and a frozen one whose member list this copy lacks
            CollectionDefined(hlc=0, name="ghost", count=3, members_object="0" * 64)])
    finally:
        st.close()
    r = mstore("find", "collection:ping", store=store)
    assert r.code == 2 and "names itself" in r.err, r.err
    for argv in (["find", "collection:ghost"], ["collection", "show", "ghost"],
                 ["run", "photos", "--on", "ghost"]):
        r = mstore(*argv, store=store)
        assert r.code == 5 and "member list 000000000000 cannot be read" in r.err, (argv, r.err)
    with TestClient(create_app(store), base_url="http://localhost:8765") as ui:
        page = ui.get("/collection/ghost")  # the collection is there; its members are not
        assert page.status_code == 200 and "member list 000000000000 cannot be read" in page.text
        for path in ("/", "/search"):  # damage: the message, not a stack trace
            page = ui.get(path, params={"q": "collection:ghost"})
            assert page.status_code == 500 and "cannot be read" in page.text, path
            assert "Traceback" not in page.text
    assert mstore("collection", "list", store=store).code == 0


# -- hooks and imports --------------------------------------------------------------------------
def test_sample_hooks(tmp_path: Path) -> None:
    from mstore.hooks import install_samples, run_hook

    hooks = tmp_path / "hooks"
    assert {"post-run", "post-add-run-pipeline"} <= set(install_samples(hooks))
    for name in ("post-run", "post-add-run-pipeline"):
        shutil.copy(REPO / "hooks" / name, hooks / name)
        (hooks / name).chmod(0o755)
    res = run_hook(hooks, "post-run", tmp_path, ["r20250101-120000-abcd", "completed"])
    assert res.returncode == 0 and "r20250101-120000-abcd" in res.output
    assert "completed" in res.output

    log = tmp_path / "calls"
    fake = tmp_path / "fake-mstore"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\necho r-fake\n')
    fake.chmod(0o755)
    ids = [f"{i:02x}" * 32 for i in range(5)]
    old = {k: os.environ.get(k) for k in ("MSTORE", "MSTORE_HOOK_BATCH")}
    os.environ.update(MSTORE=str(fake), MSTORE_HOOK_BATCH="2")
    try:
        res = run_hook(hooks, "post-add-run-pipeline", tmp_path,
                       stdin="\n".join(ids + ["not-an-id"]) + "\n")
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    assert res.returncode == 0, res.output
    calls = log.read_text().splitlines()
    assert calls == [
        f"run photos --sandbox id:{ids[0][:16]} OR id:{ids[1][:16]}",
        f"run photos --sandbox id:{ids[2][:16]} OR id:{ids[3][:16]}",
        f"run photos --sandbox id:{ids[4][:16]}",
    ]


def test_show_run_does_not_import_temporalio(added: tuple[Path, Path]) -> None:
    store, _ = added
    rid = run_all(store, "photos", policy="sandbox", sample="2")
    code = ("import sys\nfrom click.testing import CliRunner\nfrom mstore.cli.main import cli\n"
            f"r = CliRunner().invoke(cli, ['--store', {str(store)!r}, 'show', {rid!r}])\n"
            "assert r.exit_code == 0, r.output\n"
            "assert 'temporalio' not in sys.modules\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, timeout=60)
    assert p.returncode == 0, p.stderr.decode()


def test_rederived_artifact_after_gc_is_visible(added: tuple[Path, Path]) -> None:
    store, _ = added
    (store / "pipelines").mkdir()
    (store / "pipelines" / "touch.toml").write_text(TOUCH_PIPELINE)
    first = run_all(store, "touch", policy="sandbox", sample="2", ttl_days=-3)
    dropped = [a.id for a in run_artifacts(store, first)]
    assert mstore("gc", "--json", store=store).json()["dropped"] == 2
    again = run_all(store, "touch", policy="sandbox", sample="2")  # same derivation, same ids
    assert sorted(a.id for a in run_artifacts(store, again)) == sorted(dropped)


def test_an_index_from_before_the_derived_table_is_filled_on_open(
        added: tuple[Path, Path]) -> None:
    store, _ = added
    prod = run_all(store, "photos")
    thumb = next(a for a in run_artifacts(store, prod) if a.kind == "thumbnail")
    want = show(store, thumb.id)["derived"]
    assert want
    st = Store(store)
    try:  # make it look like an index written before "derived" existed
        idx = st.index
        with idx.write() as txn:
            txn.drop(idx.db["derived"], delete=False)
            txn.delete(b"derived_built", db=idx.db["meta"])
        with idx.read() as txn:
            assert index_runs.derived_from(idx, txn, thumb.id) == []
    finally:
        st.close()
    assert show(store, thumb.id)["derived"] == want


def test_a_duplicate_group_lists_only_its_members_as_inputs(added: tuple[Path, Path]) -> None:
    store, _ = added
    dedupe = run_all(store, "dedupe")
    near = [a for a in run_artifacts(store, dedupe)
            if a.kind == "duplicate-group" and len(a.members) > 1]
    images = len(mstore("find", "kind:image", "--json", store=store).json_lines())
    assert near and images > 2 * max(len(g.members) for g in near)
    for g in near:
        ins = show(store, g.id)["inputs"]
        assets = {i["id"] for i in ins if i["type"] == "asset"}
        phashes = [i for i in ins if i["type"] == "artifact"]
        assert assets == set(g.members) and len(ins) == 2 * len(g.members)
        assert {p["kind"] for p in phashes} == {"phash"}
        assert {p["asset"] for p in phashes} == set(g.members)
        for p in phashes:  # and going down: each member's phash leads to the group
            assert g.id in [x["id"] for x in show(store, p["id"])["derived"]]


def test_an_ended_runs_view_is_reused_until_records_about_it_arrive(
        added: tuple[Path, Path]) -> None:
    """The dashboard asks for every run every second: an ended run that an older index
    applied (without unit counts, so a view reads every unit) is viewed once, and again
    only when a record about it still arrives (e.g. from a sync)."""
    from mstore.model.records import UnitDone
    from mstore.runs.progress import view

    store, _ = added
    (store / "pipelines").mkdir(exist_ok=True)
    (store / "pipelines" / "check.toml").write_text(CHECK_PIPELINE)
    rid = run_all(store, "check")
    st = Store(store)
    try:
        counted = view(st, rid)
        with st.index.write() as txn:  # as an index from before the unit counts left it
            info = index_runs.run_info(st.index, txn, rid)
            info.unit_counts = False
            txn.put(rid.encode(), msgspec.msgpack.encode(info), db=st.index.db["runs"])
        first = view(st, rid)
        assert first is not None and first.state in ("completed", "failed")
        assert (first.done, first.failed) == (counted.done, counted.failed)
        assert view(st, rid) is first
        with st.index.read() as txn:
            late = next(u for _s, u, s in index_runs.run_units(st.index, txn, rid)
                        if s.status == "failed")
        st.write_records([UnitDone(hlc=0, run=rid, step="img", unit=late, status="done",
                                    attempts=2, artifacts=[], duration_ms=1)])
        st.catch_up()
        again = view(st, rid)
        assert again is not first and again.failed == first.failed - 1
        assert again.done == first.done + 1
    finally:
        st.close()


def test_unit_counts_kept_by_the_index_match_a_full_count_in_any_order(
        added: tuple[Path, Path], tmp_path: Path) -> None:
    """Runs' done / failed unit counts and failure lists are kept as records arrive; they
    equal a count over every unit, also when the records arrive in reverse order (coverage
    before the run's RunStarted, as a sync may deliver them)."""
    from mstore.runs.progress import _count_units
    from mstore.store.index import Index
    from mstore.store.segments import list_segments, read_segment

    store, _ = added
    (store / "pipelines").mkdir(exist_ok=True)
    (store / "pipelines" / "check.toml").write_text(CHECK_PIPELINE)
    runs = [run_all(store, "check"), run_all(store, "photos", policy="sandbox", sample="5")]
    live = DirectRun(store, "photos")  # three steps per unit; left part-way
    live.units(0, 3)
    part_way = msgspec.msgpack.decode(live.store.objects.get(live.ctx.run.units_object))[5]
    live.close()
    from mstore.model.records import UnitDone

    write(store, [UnitDone(hlc=0, run=live.id, step="metadata", unit=part_way,
                           status="done", attempts=1, artifacts=[], duration_ms=1)])
    runs.append(live.id)

    def counts(idx: Index) -> dict[str, tuple]:
        out = {}
        with idx.reader() as r:
            for rid in runs:
                info = r.run(rid)
                assert info is not None and info.unit_counts
                slow = _count_units(r, info, 1000)
                fast = [{"unit": u, "step": s, "error": st.error, "attempts": st.attempts}
                        for s, u, st in r.failures(rid, 1000)]
                assert (info.units_done, info.units_failed, fast) == slow, rid
                out[rid] = slow
        return out

    st = Store(store)
    try:
        st.catch_up()
        want = counts(st.index)
        assert want[runs[0]][1] == 1  # the injected failure
        assert want[runs[2]][0] + want[runs[2]][1] == 3  # units 0-2, not the part-way one
        segs = list(list_segments(st.layout.records))
    finally:
        st.close()
    backwards = Index(tmp_path / "idx")
    try:
        for seg in reversed(segs):
            backwards.apply_segment(seg.key, seg.machine, list(reversed(read_segment(seg.path))))
        assert counts(backwards) == want
    finally:
        backwards.close()


def test_label_command_marks_lists_and_clears(added: tuple[Path, Path]) -> None:
    store, _ = added
    imgs = [r["id"] for r in mstore("find", "kind:image", "--json", store=store).json_lines()]
    a, b = imgs[0], imgs[1]
    r = mstore("label", a[:10], b, "--set", "rating=5", "--set", "checked=yes", store=store)
    assert r.code == 0 and f"{a[:12]}  rating = 5" in r.out and f"{b[:12]}  checked = yes" in r.out
    assert {x["id"] for x in mstore("find", "label:rating=5", "--json",
                                    store=store).json_lines()} == {a, b}
    r = mstore("label", a, "--set", "rating=", "--json", store=store)  # cleared
    [row] = r.json_lines()
    assert row["id"] == a and [x["key"] for x in row["labels"]] == ["checked"]
    assert [x["id"] for x in mstore("find", "label:rating", "--json",
                                    store=store).json_lines()] == [b]
    # the judgement's subject, by artifact prefix; bad input changes nothing
    rid = run_all(store, "photos")
    art = next(x for x in run_artifacts(store, rid) if x.asset == b)
    r = mstore("label", b, "--set", "looks=odd", "--about", art.id[:12], "--json", store=store)
    assert {x["key"]: x["about"] for x in r.json_lines()[0]["labels"]}["looks"] == art.id
    before = mstore("label", b, "--json", store=store).out
    for args in (["--set", "novalue"], ["--set", "=x"], ["--about", "ffff0000"]):
        assert mstore("label", b, *args, store=store).code == 2, args
    assert mstore("label", rid, "--set", "a=b", store=store).code == 2  # a run, not an asset
    assert mstore("label", b, "--json", store=store).out == before
