"""Runs on a real Temporal dev server: pipeline shapes, reuse, sandbox sampling,
pause/resume, cancel, a killed worker, failures and reruns, continue-as-new, the
exec protocol, lineage, and results visible while a run goes on.

One ``temporal server start-dev`` serves the session (tests/integration/temporal_env.py);
each test has its own store over the session's read-only fixture archive and its own
``mstore worker`` subprocesses. Timing is controlled with the ``noop`` tool's sleep.

Temporal's time-skipping test environment is not used: it downloads a test-server
binary at start, which this offline machine cannot do, and nothing here waits on
workflow timers long enough to need it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from mstore.model.records import ArtifactMade
from mstore.runs.lineage import reuse_key
from tests.helpers import REPO, mstore, mstore_proc

if TYPE_CHECKING:
    from tests.integration.temporal_env import RunStore

# the fixtures temporal_server and run_store (imported by pytest, so that its assertion
# rewriting covers the helpers too)
pytest_plugins = ["tests.integration.temporal_env"]

# every asset outside hostile/ (after "--": click would read "-path..." as options -p -a -t -h)
NOT_HOSTILE = ("--", "-path:hostile/")


# --------------------------------------------------------------------------- checks


def check_lineage(rs: RunStore, run_id: str) -> list[ArtifactMade]:
    """Every artifact a run made names the run, its step's tool, version and params, and
    inputs that exist (assets or artifacts); its reuse key is derived from exactly those —
    for an aggregate step, from everything the step read (the run's units with their
    upstream artifacts), of which a result naming members lists only theirs.
    Artifacts the run reused name the run that made them and exist too."""
    from mstore.store import index_runs

    started = rs.started(run_id)
    steps = {s.name: s for s in started.steps}
    made = rs.run_artifacts(run_id)
    states = rs.unit_states(run_id)
    units = rs.units(run_id)

    kinds = rs.asset_kinds()

    def aggregate_inputs(step) -> list[str]:  # noqa: ANN001 - what execute reads, in order
        # an aggregate need (best needs duplicates): its results naming the unit, smallest
        # first, after the per-asset needs' artifacts; a unit it failed on is left out
        agg = [n for n in step.needs if steps[n].shape == "aggregate"]
        naming: dict[str, list] = defaultdict(list)
        for n in agg:
            for i in states[(n, "*")].artifacts:
                art = rs.artifact(i)
                for m in art.members:
                    naming[m].append(art)
        out = []
        for u in units:
            # a need that does not apply to the unit's kind leaves the unit in, without it
            ups = [states.get((n, u)) for n in step.needs if n not in agg
                   and (not steps[n].kinds or kinds[u] in steps[n].kinds)]
            if any(x is None or x.status == "failed" for x in ups) or any(
                    (x := states.get((n, u))) is not None and x.status == "failed" for n in agg):
                continue
            out += [u] + [i for x in ups for i in x.artifacts]
            out += [a.id for a in sorted(naming[u], key=lambda a: (len(a.members), a.id))]
        return out

    with rs.open() as st, st.index.read() as txn:
        idx = st.index
        for a in made:
            assert a.run == run_id
            s = steps[a.step]
            assert (a.tool, a.version, a.params) == (s.tool, s.version, s.params)
            assert a.inputs, a
            for i in a.inputs:
                assert idx.asset(txn, i) is not None or index_runs.artifact(idx, txn, i), i
            if a.asset:
                assert a.reuse_key == reuse_key(s.tool, s.version, s.params, a.inputs)
            else:
                read = aggregate_inputs(s)
                assert a.reuse_key == reuse_key(s.tool, s.version, s.params, read)
                assert set(a.members) <= set(a.inputs) <= set(read)
            assert a.policy == started.policy
        for state in states.values():
            for art_id in state.artifacts:
                a = index_runs.artifact(idx, txn, art_id)
                assert a is not None, art_id
                assert index_runs.run_info(idx, txn, a.run) is not None
    return made


def check_exactly_once(rs: RunStore, run_id: str) -> None:
    """The record segments (the truth, not the index) hold exactly one UnitDone per
    (step, unit) of the run, and artifact ids are unique per (reuse key, kind, index)."""
    counts = rs.unit_record_counts(run_id)
    dupes = {k: n for k, n in counts.items() if n != 1}
    assert not dupes, f"units recorded more than once: {dupes}"
    per_key: dict[str, set[str]] = defaultdict(set)
    for r in rs.records():
        if isinstance(r, ArtifactMade) and r.run == run_id:
            per_key[r.reuse_key].add(r.id)
    states = rs.unit_states(run_id)
    for (step, unit), st in states.items():
        if st.status == "done" and unit != "*":
            for a in st.artifacts:
                art = rs.artifact(a)
                # one derivation -> the artifacts of exactly one execution
                assert per_key[art.reuse_key] == set(st.artifacts), (step, unit)


def statuses(rs: RunStore, run_id: str) -> Counter:
    return Counter(st.status for st in rs.unit_states(run_id).values())


def by_step(rs: RunStore, run_id: str) -> dict[str, Counter]:
    out: dict[str, Counter] = defaultdict(Counter)
    for (step, _u), st in rs.unit_states(run_id).items():
        out[step][st.status] += 1
    return out


def show(rs: RunStore, run_id: str) -> dict:
    """``mstore show RUN --json``: what a user reads."""
    r = mstore("show", run_id, "--json", store=rs.path)
    assert r.code == 0, r.err
    return r.json()  # type: ignore[return-value]


def step_of(d: dict, name: str) -> dict:
    return next(s for s in d["steps"] if s["name"] == name)


def pending_activities(rs: RunStore, run_id: str) -> int:
    async def go(c) -> int:  # noqa: ANN001
        desc = await c.get_workflow_handle(run_id).describe()
        return len(desc.raw_description.pending_activities)

    return rs.temporal(go)


def install_tool(rs: RunStore, name: str, description: str, params: dict[str, str],
                 code: str, manifest: str = "") -> None:
    """A Python tool of the test's own in <store>/tools/ (found by runs like any
    third-party one), for every kind, making artifacts of kind ``name``; ``params``: name
    -> TOML type (default: that type's empty value); ``manifest``: more top-level keys."""
    d = rs.path / "tools" / name
    d.mkdir(parents=True)
    empty = {"str": '""', "int": "0"}
    (d / "manifest.toml").write_text(
        f'id = "{name}"\nversion = "1"\ndescription = "{description}"\n'
        'inputs = ["image", "video", "audio", "text", "other"]\n'
        f'outputs = ["{name}"]\nentry = "python:tool:run"\n' + manifest
        + "".join(f'[params.{n}]\ntype = "{t}"\ndefault = {empty[t]}\n'
                  for n, t in params.items()))
    (d / "tool.py").write_text(code)


# --------------------------------------------------------------------------- shapes


def test_photos_per_asset_multi_step(run_store, archive) -> None:  # noqa: ANN001
    rs = run_store()
    root, manifest = archive
    ids = rs.asset_ids_by_path()
    v = rs.run_and_wait("photos", "--production")
    units = rs.units(v.id)
    images = {a for a, k in rs.asset_kinds().items() if k == "image"}
    assert set(units) == images
    bad = {ids[f"archive/{p}"] for p in manifest.probe_errors if f"archive/{p}" in ids
           and manifest.files.get(p) == "image"}
    states = rs.unit_states(v.id)
    failed_units = {u for (_s, u), st in states.items() if st.status == "failed"}
    assert failed_units and failed_units <= bad  # only the broken images fail
    assert v.state == "failed"  # production: complete only when every unit is done
    assert v.done == len(units) - len(failed_units)
    arts = check_lineage(rs, v.id)
    kinds = defaultdict(set)
    for a in arts:
        kinds[a.asset].add(a.kind)
    for u in set(units) - failed_units:
        assert kinds[u] == {"metadata", "thumbnail", "phash"}, u
    # phash is computed from the thumbnail artifact, and says so in its lineage
    thumbs = {a.asset: a.id for a in arts if a.kind == "thumbnail"}
    for a in arts:
        if a.kind == "phash":
            assert thumbs[a.asset] in a.inputs
            assert a.meta["source"] == "thumbnail"
    # the run's failures name the step and the reason; dependents are blocked, not run
    for (step, u), st in states.items():
        if u in failed_units and step == "phash":
            assert st.status == "failed" and "needs thumbnail" in st.error


def test_video_linear_multi_step(run_store, archive) -> None:  # noqa: ANN001
    rs = run_store()
    v = rs.run_and_wait("video", "--production")
    assert v.state == "completed", v.failures
    kinds = rs.asset_kinds()
    videos = {a for a, k in kinds.items() if k == "video"}
    audios = {a for a, k in kinds.items() if k == "audio"}
    assert set(rs.units(v.id)) == videos | audios
    arts = check_lineage(rs, v.id)
    by_asset: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for a in arts:
        by_asset[a.asset][a.kind].append(a)
    for vid in videos:
        k = by_asset[vid]
        assert k["keyframe"] and len(k["thumbnail"]) == 1 and len(k["audio16k"]) == 1
        thumb = k["thumbnail"][0]
        assert thumb.meta["source"] == "keyframe"  # made from the upstream artifact
        assert {a.id for a in k["keyframe"]} & set(thumb.inputs)
        assert thumb.payload and thumb.filename.startswith("thumb.")
    for aud in audios:
        assert set(by_asset[aud]) == {"audio16k"}
        wav = by_asset[aud]["audio16k"][0]
        with rs.open() as st:
            assert st.objects.get(wav.payload)[:4] == b"RIFF"
    counts = by_step(rs, v.id)
    assert counts["keyframes"]["done"] == counts["thumbnail"]["done"] == len(videos)
    assert counts["audio"]["done"] == len(videos) + len(audios)


def test_dedupe_aggregate_groups_known_duplicates(run_store, archive) -> None:  # noqa: ANN001
    rs = run_store()
    _root, manifest = archive
    ids = rs.asset_ids_by_path()
    v = rs.run_and_wait("dedupe", "--production")
    states = rs.unit_states(v.id)
    assert states[("duplicates", "*")].status == "done"
    groups = [a for a in check_lineage(rs, v.id) if a.kind == "duplicate-group"]
    assert set(states[("duplicates", "*")].artifacts) == {g.id for g in groups}
    exact = [g for g in groups if g.data["type"] == "exact"]
    near = [g for g in groups if g.data["type"] == "near"]
    # byte-identical files: one asset, several paths (the pipeline's units are its images)
    for dup in (d for d in manifest.duplicates if manifest.files[d[0]] == "image"):
        aid = ids[f"archive/{dup[0]}"]
        g = next(g for g in exact if g.members == [aid])
        assert {f"archive/{p}" for p in dup} <= set(g.data["paths"])
    for group in manifest.near_duplicates:  # re-encoded / resized copies
        want = {ids[f"archive/{p}"] for p in group}
        assert any(want <= set(g.members) for g in near), (group, [g.members for g in near])
    # an aggregate artifact's lineage lists every asset and phash it was computed from
    g = near[0]
    phashes = {a.id for a in rs.run_artifacts(v.id) if a.kind == "phash"}
    assert set(g.members) <= set(g.inputs) and phashes & set(g.inputs)
    # best (an aggregate step that needs the duplicates one): one suggestion per near
    # group, a member of it, its lineage the group and its members' quality scores
    best = [a for a in rs.run_artifacts(v.id) if a.kind == "best-shot"]
    assert states[("best", "*")].status == "done"
    assert sorted(b.data["group"] for b in best) == sorted(g.id for g in near)
    quality = {a.id for a in rs.run_artifacts(v.id) if a.kind == "quality"}
    for b in best:
        group = next(g for g in near if g.id == b.data["group"])
        assert b.members == group.members and b.data["best"] in group.members
        assert group.id in b.inputs and len(quality & set(b.inputs)) == len(group.members)


LISTEN_PIPELINE = """\
name = "listen"
description = "the audio track, then a step that needs it"

[[steps]]
name = "audio"
tool = "audio"
kinds = ["video", "audio"]

[[steps]]
name = "listen"
tool = "noop"
kinds = ["video", "audio"]
needs = ["audio"]
"""


def test_video_without_audio_track_is_not_applicable(run_store, kinds_archive) -> None:  # noqa: ANN001
    """A valid video without sound: its audio step is "not applicable" (recorded skipped),
    never a failure; the production run completes; show RUN, --json and the run page say
    so; a step that needs the audio is not applicable for that video either."""
    from starlette.testclient import TestClient

    from mstore.ui.app import create_app

    rs = run_store(over=kinds_archive)
    ids = rs.asset_ids_by_path()
    silent, talk = ids["archive/clips/silent.mp4"], ids["archive/clips/talk.mp4"]
    v = rs.run_and_wait("video", "--production")
    assert v.state == "completed", v.failures
    d = show(rs, v.id)
    assert d["failures"] == [] and d["failed"] == 0 and d["done"] == d["total"] == 3
    audio = step_of(d, "audio")
    assert (audio["units"], audio["done"], audio["skipped"], audio["failed"],
            audio["pending"]) == (3, 2, 1, 0, 0)
    states = rs.unit_states(v.id)
    assert states[("audio", silent)].status == "skipped"
    assert states[("audio", silent)].error == "no audio track"
    assert states[("audio", talk)].status == "done"
    assert states[("keyframes", silent)].status == "done"  # the video itself is fine
    human = mstore("show", v.id, store=rs.path).out
    lines = [line.split() for line in human.splitlines()]
    header = next(w for w in lines if w[:2] == ["step", "tool"])
    row = next(w for w in lines if w[:1] == ["audio"])
    assert dict(zip(header[2:], row[2:], strict=False))["n/a"] == "1"
    with TestClient(create_app(rs.path), base_url="http://localhost:8765") as client:
        page = client.get(f"/run/{v.id}").text
    assert ">n/a</th>" in page
    cells = re.findall(r"<td>(\d+)</td>", re.search(r"<td>audio</td>.*?</tr>", page, re.S)[0])
    assert cells[:6] == ["3", "2", "0", "0", "1", "0"]  # units done reused failed n/a pending

    rs.write_pipeline("listen", LISTEN_PIPELINE)
    w = rs.run_and_wait("listen", "--production")
    assert w.state == "completed", w.failures
    listen = rs.unit_states(w.id)[("listen", silent)]
    assert listen.status == "skipped" and listen.error == "needs audio, which does not apply"
    assert rs.unit_states(w.id)[("listen", talk)].status == "done"


def test_dedupe_reports_exact_duplicates_of_every_kind(run_store, kinds_archive) -> None:  # noqa: ANN001
    """Exact duplicates (one content at several paths) of videos, audio, text and other
    files are groups too, not only images'; near duplicates stay images; the review reads
    the new groups."""
    from starlette.testclient import TestClient

    from mstore.ui.app import create_app

    rs = run_store(over=kinds_archive)
    ids = rs.asset_ids_by_path()
    kinds = rs.asset_kinds()
    v = rs.run_and_wait("dedupe", "--production")
    assert v.state == "completed", v.failures
    groups = [a for a in check_lineage(rs, v.id) if a.kind == "duplicate-group"]
    exact = {frozenset(g.data["paths"]): g for g in groups if g.data["type"] == "exact"}
    for rel in ("photos/sun.jpg", "clips/talk.mp4", "clips/silent.mp4", "sounds/tone.wav",
                "notes/todo.txt", "blobs/data.bin"):
        copy = "archive/copies/" + rel.rsplit("/", 1)[1]
        g = exact[frozenset({f"archive/{rel}", copy})]
        assert g.members == [ids[copy]]
    assert {kinds[g.members[0]] for g in exact.values()} == {"image", "video", "audio", "text",
                                                             "other"}
    (near,) = [g for g in groups if g.data["type"] == "near"]
    assert set(near.members) == {ids["archive/photos/sun.jpg"], ids["archive/photos/sun-small.jpg"]}
    # hashes are images' only; every other kind's steps are not theirs (not pending)
    d = show(rs, v.id)
    assert step_of(d, "phash")["units"] == step_of(d, "phash")["done"] == 2
    assert d["pending"] == 0 and d["done"] == d["total"] == len(kinds)
    # the duplicate review takes the new groups: an exact video group's items are its paths
    video = next(g for g in exact.values() if g.members == [ids["archive/clips/talk.mp4"]])
    with TestClient(create_app(rs.path), base_url="http://localhost:8765") as client:
        page = client.get("/tool/duplicates/review", params={"run": v.id})
    assert page.status_code == 200
    assert "archive/copies/talk.mp4" in page.text and "archive/blobs/data.bin" in page.text
    section = page.text.split(f'data-group="{video.id}"', 1)[1].split("</section>", 1)[0]
    assert re.findall(r'title="([^"]+)"', section) == ["archive/clips/talk.mp4",
                                                      "archive/copies/talk.mp4"]


# --------------------------------------------------------------------------- reuse


def test_reuse_params_and_force(run_store) -> None:  # noqa: ANN001
    rs = run_store()
    first = rs.run_and_wait("photos", "--production", *NOT_HOSTILE)
    assert first.state == "completed", first.failures
    n_units = first.total
    made_first = {a.id for a in rs.run_artifacts(first.id)}
    assert len(made_first) == 3 * n_units

    # the same run again: every unit of every step reused, nothing new made
    again = rs.run_and_wait("photos", "--production", *NOT_HOSTILE)
    assert again.state == "completed"
    assert statuses(rs, again.id) == Counter(reused=3 * n_units)
    assert rs.run_artifacts(again.id) == []
    for st in rs.unit_states(again.id).values():
        assert set(st.artifacts) <= made_first

    # another thumbnail size: thumbnail and phash (which needs it) recomputed, metadata reused
    small = rs.run_and_wait("photos", "--production", "--param", "thumbnail.size=128",
                             *NOT_HOSTILE)
    counts = by_step(rs, small.id)
    assert counts["metadata"] == Counter(reused=n_units)
    assert counts["thumbnail"] == Counter(done=n_units)
    assert counts["phash"] == Counter(done=n_units)
    new = rs.run_artifacts(small.id)
    assert {a.kind for a in new} == {"thumbnail", "phash"} and len(new) == 2 * n_units
    assert all(max(a.meta["width"], a.meta["height"]) <= 128 for a in new
               if a.kind == "thumbnail")
    check_lineage(rs, small.id)

    # --force: every step executes again (done, not reused)
    forced = rs.run_and_wait("photos", "--production", "--force", *NOT_HOSTILE)
    assert statuses(rs, forced.id) == Counter(done=3 * n_units)
    # a forced run's results are its own artifacts (listed, with their lineage), never
    # hidden behind the old ids; and the next run reuses the newest set
    made_forced = {a.id for a in rs.run_artifacts(forced.id)}
    assert len(made_forced) == 3 * n_units and not made_forced & made_first
    for st in rs.unit_states(forced.id).values():
        assert set(st.artifacts) <= made_forced
    check_lineage(rs, forced.id)
    after = rs.run_and_wait("photos", "--production", *NOT_HOSTILE)
    assert statuses(rs, after.id) == Counter(reused=3 * n_units)
    for st in rs.unit_states(after.id).values():
        assert set(st.artifacts) <= made_forced


# --------------------------------------------------------------------------- sandbox


def test_sandbox_sampling_is_repeatable_and_marked(run_store) -> None:  # noqa: ANN001
    rs = run_store()
    a = rs.run_and_wait("photos", "--sandbox", "--sample", "5", *NOT_HOSTILE)
    b = rs.run_and_wait("photos", "--sandbox", "--sample", "5", *NOT_HOSTILE)
    c = rs.run_and_wait("photos", "--sandbox", "--sample", "10", *NOT_HOSTILE)
    ua, ub, uc = rs.units(a.id), rs.units(b.id), rs.units(c.id)
    assert len(ua) == 5 and ua == ub
    assert len(uc) == 10 and set(ua) < set(uc)
    assert rs.started(a.id).sample == "5" and a.policy == "sandbox"
    assert statuses(rs, b.id) == Counter(reused=15)  # the same sample again: all reused
    now_ms = time.time() * 1000
    made = check_lineage(rs, a.id)
    assert made
    for art in made:
        assert art.policy == "sandbox"
        assert now_ms < art.expires_ms <= now_ms + 7.01 * 86_400_000
        if art.kind == "thumbnail":  # the pipeline's cheaper sandbox params
            assert art.params["size"] == 128
    # a production run never reuses sandbox results (they expire)
    p = rs.run_and_wait("photos", "--production", *NOT_HOSTILE)
    assert "reused" not in statuses(rs, p.id)
    assert all(x.policy == "production" and x.expires_ms == 0 for x in rs.run_artifacts(p.id))


# --------------------------------------------------------------------------- steering


def _stable(rs: RunStore, run_id: str, quiet: float, timeout: float) -> int:
    """Wait until the number of recorded units has not moved for ``quiet`` seconds."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = len(rs.unit_states(run_id))
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return n
        time.sleep(0.2)
    raise AssertionError(f"coverage still moving after {timeout}s ({last} units)")


def test_pause_and_resume(run_store) -> None:  # noqa: ANN001
    rs = run_store()
    rs.noop_pipeline("slow", sleep=0.4)
    run_id = rs.run("slow", "--chunk-size", "2")
    total = rs.started(run_id).total
    assert total >= 30  # ~10 s of work on two worker threads
    rs.wait(run_id, lambda v: v.done >= 4, 30)
    assert mstore("pause", run_id, store=rs.path).out.strip().endswith("paused")
    # chunks already handed out finish (at most 4 in flight x 2 units); nothing new starts
    n = _stable(rs, run_id, quiet=2.0, timeout=15)
    assert n < total
    v = rs.view(run_id)
    assert v.state == "paused"
    time.sleep(1.5)
    assert len(rs.unit_states(run_id)) == n
    progress = rs.temporal(lambda c: c.get_workflow_handle(run_id).query("progress"))
    assert progress["paused"] is True
    assert mstore("resume", run_id, store=rs.path).code == 0
    v = rs.wait_end(run_id, 60)
    assert v.state == "completed" and v.done == total
    check_exactly_once(rs, run_id)


GATE_TOOL = """\
import os
import time

from mstore.tools.api import OutputArtifact, ToolResult


def run(req, progress):
    while not os.path.exists(req.params["release"]):
        time.sleep(0.05)
    return ToolResult(artifacts=[OutputArtifact(kind="gate", data={"ok": True})])
"""
GATE_PIPELINE = """\
name = "gated"
description = "every unit waits for the gate"

[[steps]]
name = "gate"
tool = "gate"
params = {{ release = "{release}" }}
"""


def test_steering_commands_exit_cleanly(run_store, tmp_path: Path) -> None:  # noqa: ANN001
    """Short-lived commands that talk to Temporal exit 0 every time, with nothing on
    stderr: a Temporal runtime still alive at interpreter exit used to crash some of them
    (SIGSEGV/SIGABRT, "Fatal Python error: PyGILState_Release") after the command had done
    its work. The run cannot end while the commands go: its units wait for a gate."""
    rs = run_store()
    release = tmp_path / "release"
    install_tool(rs, "gate", "waits until a file exists", {"release": "str"}, GATE_TOOL)
    rs.write_pipeline("gated", GATE_PIPELINE.format(release=release))
    r = mstore_proc("run", "gated", "--chunk-size", "2", store=rs.path)
    assert r.code == 0, r.err
    run_id = r.out.strip()
    results = [mstore_proc(action, run_id, store=rs.path)
               for _ in range(6) for action in ("pause", "resume")]
    assert [(x.code, x.err) for x in results] == [(0, "")] * 12
    assert [x.out.split()[-1] for x in results] == ["paused", "running"] * 6
    assert rs.view(run_id).done == 0  # the gate held every unit: no race with the run's end
    # each went through the store's worker (handoff.py): none loaded the Temporal SDK
    for action, state in (("pause", "paused"), ("resume", "running"), ("cancel", "cancelled")):
        out, loaded = _listing_modules(rs, action, run_id)
        assert out.split()[-1] == state and _sdk(loaded) == [], (action, _sdk(loaded)[:3])
    release.touch()
    assert rs.wait_end(run_id).state == "cancelled"


def test_temporal_calls_leave_no_native_threads(temporal_server) -> None:  # noqa: ANN001
    """The root of that crash: the SDK's Rust threads outlived a command's last call and
    were still in Python when the interpreter finalized. After ``client.call`` returns,
    the process has exactly the threads it had before."""
    code = f"""
import os
from mstore.orchestration import client
from mstore.orchestration.settings import TemporalSettings
ts = TemporalSettings(address="{temporal_server.address}", namespace="default",
                      embedded=False, port=0, ui_port=0, store_key="threads")
before = len(os.listdir("/proc/self/task"))
for _ in range(3):
    client.call(ts, lambda c: c.count_workflows())
print(before, len(os.listdir("/proc/self/task")))
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO,
                       timeout=120)
    assert p.returncode == 0 and p.stderr == "", p.stderr
    before, after = map(int, p.stdout.split())
    assert after == before


def test_pause_lands_between_units(run_store) -> None:  # noqa: ANN001
    """A pause stops a running chunk at its next unit (a 1000-unit chunk does not keep
    going): after ``mstore pause`` returns, at most the unit each chunk was in finishes,
    the counts in ``show RUN --json`` stop, and resume picks up the rest of the chunk."""
    from mstore.model.records import RunState, UnitDone

    rs = run_store()
    rs.noop_pipeline("slow", sleep=0.5)
    # one chunk of every unit (12: what is left after the pause takes ~5 s)
    run_id = rs.run("slow", "--production", "--chunk-size", "1000", "--max-units", "12")
    total = rs.started(run_id).total
    assert total == 12
    rs.wait(run_id, lambda v: v.done >= 2, 30)
    r = mstore("pause", run_id, store=rs.path)
    assert r.code == 0 and r.out.split()[-1] == "paused", r.err
    deadline = time.monotonic() + 30
    while pending_activities(rs, run_id):  # the chunk returns once it has stopped
        assert time.monotonic() < deadline, "the chunk did not stop after the pause"
        time.sleep(0.2)
    d = show(rs, run_id)
    assert d["state"] == "paused" and 2 <= d["done"] < total and d["pending"] == total - d["done"]
    # no unit started after the pause was recorded; the one in progress may have ended
    records = rs.records()
    paused = max(x.hlc for x in records if isinstance(x, RunState) and x.run == run_id
                 and x.state == "paused")
    after = [x for x in records if isinstance(x, UnitDone) and x.run == run_id
             and x.hlc > paused]
    assert len(after) <= 1, after
    assert all(((x.hlc >> 16) - x.duration_ms) <= (paused >> 16) + 50 for x in after)
    assert show(rs, run_id)["done"] == d["done"]  # nothing runs: the counts do not move
    assert mstore("resume", run_id, store=rs.path).code == 0
    v = rs.wait_end(run_id, 90)
    assert v.state == "completed" and v.done == total
    check_exactly_once(rs, run_id)


def test_cancel_stops_activities(run_store) -> None:  # noqa: ANN001
    from temporalio.client import WorkflowExecutionStatus

    rs = run_store()
    rs.noop_pipeline("slow", sleep=0.3)
    # big chunks: each activity runs ~3 s, so cancelling must stop running activities,
    # not just keep new ones from starting
    run_id = rs.run("slow", "--chunk-size", "10")
    rs.wait(run_id, lambda v: v.done >= 3, 30)
    r = mstore("cancel", run_id, store=rs.path)
    assert r.code == 0 and r.out.strip().endswith("cancelled"), r.err
    time.sleep(1.0)  # grace: the unit each activity is in may still finish
    n = len(rs.unit_states(run_id))
    recs = sum(rs.unit_record_counts(run_id).values())
    time.sleep(3.0)
    assert len(rs.unit_states(run_id)) == n, "units were still recorded after the cancel"
    assert sum(rs.unit_record_counts(run_id).values()) == recs
    v = rs.view(run_id)
    assert v.state == "cancelled" and n < v.total
    desc = rs.temporal(lambda c: c.get_workflow_handle(run_id).describe())
    assert desc.status == WorkflowExecutionStatus.CANCELED
    assert mstore("resume", run_id, store=rs.path).code != 0  # already cancelled


def test_cancel_from_temporal_is_recorded(run_store) -> None:  # noqa: ANN001
    """A workflow cancelled in Temporal itself (its UI, tctl) leaves the store saying
    cancelled too, its activities stop, and the post-run hook runs."""
    rs = run_store()
    rs.noop_pipeline("slow", sleep=0.3)
    hook = rs.path / "hooks" / "post-run"
    marker = rs.path / "post-run.txt"
    hook.write_text(f"#!/bin/sh\necho \"$@\" >> {marker}\n")
    hook.chmod(0o755)
    run_id = rs.run("slow", "--chunk-size", "10")
    rs.wait(run_id, lambda v: v.done >= 2, 30)

    async def cancel(c):  # noqa: ANN001, ANN202
        await c.get_workflow_handle(run_id).cancel()

    rs.temporal(cancel)
    v = rs.wait(run_id, lambda v: v.state == "cancelled", 30)
    time.sleep(1.0)
    n = len(rs.unit_states(run_id))
    time.sleep(2.0)
    assert len(rs.unit_states(run_id)) == n < v.total
    assert marker.read_text().split() == [run_id, "cancelled"]


def test_worker_killed_mid_run(run_store) -> None:  # noqa: ANN001
    """kill -9 of the only worker mid-run; a new worker finishes the run; every unit is
    covered exactly once and no artifact is duplicated."""
    from mstore.runs.pipelines import get_pipeline
    from mstore.runs.plan import RunRequest
    from mstore.services.runs import start_run

    rs = run_store()
    rs.noop_pipeline("slow", sleep=0.15)
    with rs.open() as st:
        started = start_run(st, RunRequest(pipeline=get_pipeline(rs.path, "slow"),
                                           policy="production"),
                            chunk_size=3, heartbeat_timeout_s=3.0)
    run_id = started.run.run
    rs.wait(run_id, lambda v: v.done >= 8, 30)
    rs.kill_worker(rs.workers[0], signal.SIGKILL)
    at_kill = len(rs.unit_states(run_id))
    assert at_kill < started.run.total
    time.sleep(1.0)
    rs.start_worker()
    v = rs.wait_end(run_id, 90)
    assert v.state == "completed", v.failures
    assert v.done == v.total == started.run.total
    counts = rs.unit_record_counts(run_id)
    assert set(counts) == {("noop", u) for u in rs.units(run_id)}
    check_exactly_once(rs, run_id)
    check_lineage(rs, run_id)


def _listing_modules(rs: RunStore, *argv: str) -> tuple[str, set[str]]:
    """``mstore ARGV`` as a process: the first line it printed and every module it loaded."""
    code = ("import sys; from mstore.cli.main import main\n"
            "try:\n    main(['--store', *sys.argv[1:]])\n"
            "except SystemExit as e:\n    assert not e.code, e.code\n"
            "print('MODULES', ' '.join(sorted(sys.modules)), file=sys.stderr)")
    p = subprocess.run([sys.executable, "-c", code, str(rs.path), *argv], capture_output=True,
                       text=True, cwd=REPO, timeout=120)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip().splitlines()[0], set(p.stderr.splitlines()[-1].split()[1:])


def _run_listing_modules(rs: RunStore, *args: str) -> tuple[str, set[str]]:
    return _listing_modules(rs, "run", *args)


def _sdk(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if m.split(".")[0] == "temporalio")


def test_run_is_started_through_the_stores_worker(run_store) -> None:  # noqa: ANN001
    """`mstore run` hands its workflow's start to the store's connected worker over the
    worker's socket (local/temporal/starts/PID.sock), never loading the Temporal SDK (a
    quarter of a second of every run) or asyncio. With that worker killed, the command starts the
    workflow itself and removes the dead worker's socket file; the background worker it
    starts then runs it."""
    rs = run_store()
    rs.noop_pipeline("fast")
    proc = rs.workers[0]
    sock = rs.path / "local" / "temporal" / "starts" / f"{proc.pid}.sock"
    assert sock.exists()
    run_id, loaded = _run_listing_modules(rs, "fast", "--production")
    assert _sdk(loaded) == [] and "asyncio" not in loaded  # nor asyncio: ~20 ms more
    assert rs.wait_end(run_id).state == "completed"
    rs.kill_worker(proc, signal.SIGKILL)
    assert sock.exists()  # nobody removed it: kill -9
    again, loaded = _run_listing_modules(rs, "fast", "--production", "--force")
    assert "temporalio.client" in loaded and not sock.exists()
    v = rs.wait_end(again)
    assert v.state == "completed" and v.done == v.total > 0


def test_a_worker_that_cannot_make_its_socket_still_serves_runs(run_store) -> None:  # noqa: ANN001
    """Some file systems (network shares) cannot hold a Unix socket: the worker says so
    once and serves as before; `mstore run` connects to Temporal itself."""
    rs = run_store(workers=0)
    rs.noop_pipeline("fast")
    starts = rs.path / "local" / "temporal" / "starts"
    starts.parent.mkdir(parents=True, exist_ok=True)
    starts.write_text("a file where the socket directory goes\n")
    rs.start_worker()
    run_id, loaded = _run_listing_modules(rs, "fast", "--production")
    assert "temporalio.client" in loaded
    v = rs.wait_end(run_id)
    assert v.state == "completed" and v.done == v.total > 0
    assert "no socket for starting runs" in rs.worker_logs()


def test_retried_chunk_trusts_the_store(run_store, monkeypatch) -> None:  # noqa: ANN001
    """A chunk retried after its worker died must redo the units whose records were still
    buffered when it died, although its last heartbeat already counted them.

    Runs the real chunk activity in Temporal's ActivityEnvironment (no server) with the
    heartbeat details a dead attempt would have left."""
    import dataclasses

    from temporalio.testing import ActivityEnvironment

    from mstore.orchestration import activities
    from mstore.runs.execute import ChunkSummary, process_unit
    from mstore.runs.pipelines import get_pipeline
    from mstore.runs.plan import RunRequest, plan

    rs = run_store(workers=0)
    rs.noop_pipeline("fast")
    with rs.open() as st:
        rec, units = plan(st, RunRequest(pipeline=get_pipeline(rs.path, "fast"), max_units=6,
                                         policy="production"))
        rec.units_object = st.objects.put(units)
        st.write_records([rec])
    state = activities.WorkerState()
    monkeypatch.setattr(activities, "STATE", state)
    try:
        ctx = state.context(str(rs.path), rec.run)
        # the first attempt: units 0-2 flushed, units 3-5 done but still in the buffer
        # (and already counted by a heartbeat) when the worker is killed
        for u in ctx.units()[:3]:
            process_unit(ctx, u, ChunkSummary())
        ctx.writer.flush()
        for u in ctx.units()[3:]:
            process_unit(ctx, u, ChunkSummary())
        ctx.writer.writer._buf.clear()  # kill -9: the buffer is gone
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, heartbeat_details=[6], attempt=2)
        out = env.run(activities.run_chunk, activities.ChunkInput(str(rs.path), rec.run, 0, 6))
    finally:
        for _store, writer, _reg in state.stores.values():
            writer.flush()
        for lock in state.locks:
            lock.release()
        for store, _w, _r in state.stores.values():
            store.close()
    assert (out.done, out.covered) == (3, 3)
    counts = rs.unit_record_counts(rec.run)
    assert set(counts) == {("noop", u) for u in rs.units(rec.run)}
    assert set(counts.values()) == {1}


def test_worker_keeps_few_run_contexts(run_store) -> None:  # noqa: ANN001
    """A long-lived worker keeps the contexts (unit lists) of its last few runs only."""
    from mstore.orchestration import activities
    from mstore.runs.pipelines import get_pipeline
    from mstore.runs.plan import RunRequest, plan

    rs = run_store(workers=0)
    rs.noop_pipeline("fast")
    runs = []
    with rs.open() as st:
        for _ in range(activities.MAX_CONTEXTS + 3):
            rec, units = plan(st, RunRequest(pipeline=get_pipeline(rs.path, "fast"),
                                             policy="production"))
            rec.run += f"-{len(runs)}"  # ids are per second: keep them distinct
            rec.units_object = st.objects.put(units)
            st.write_records([rec])
            runs.append(rec.run)
    state = activities.WorkerState()
    try:
        for r in runs:
            assert state.context(str(rs.path), r).run.run == r
        assert list(state.contexts) == runs[-activities.MAX_CONTEXTS:]
        state.context(str(rs.path), runs[-activities.MAX_CONTEXTS])  # used again: kept
        assert list(state.contexts)[-1] == runs[-activities.MAX_CONTEXTS]
    finally:
        for lock in state.locks:
            lock.release()
        for store, _w, _r in state.stores.values():
            store.close()


def test_failing_unit_and_rerun_failed(run_store, archive) -> None:  # noqa: ANN001
    rs = run_store()
    ids = rs.asset_ids_by_path()
    target = "2020/family/DSC_0101.JPG"
    bad = ids[f"archive/{target}"]
    rs.noop_pipeline("flaky", fail_on="DSC_0101.JPG")
    # one chunk holds every unit: the failure must not take its neighbours down
    v = rs.run_and_wait("flaky", "--production", "--chunk-size", "1000")
    states = rs.unit_states(v.id)
    assert {u for (_s, u), st in states.items() if st.status == "failed"} == {bad}
    assert states[("noop", bad)].error.startswith("noop: path ends with")
    assert v.done == v.total - 1 and v.failed == 1 and v.state == "failed"
    assert v.failures == [{"unit": bad, "step": "noop", "error": states[("noop", bad)].error,
                           "attempts": 1}]
    r = mstore("rerun", v.id, "--failed", store=rs.path)
    assert r.code == 0, r.err
    child = r.out.strip()
    cv = rs.wait_end(child)
    rs_child = rs.started(child)
    assert rs_child.parent == v.id and rs_child.units_object
    assert rs.units(child) == [bad] and cv.total == 1
    assert rs.unit_states(child)[("noop", bad)].status == "failed"  # still failing
    assert [s.params for s in rs_child.steps] == [s.params for s in rs.started(v.id).steps]
    assert mstore("rerun", v.id[:-1], "--failed", store=rs.path).code == 0  # id prefix


def test_continue_as_new_completes(run_store) -> None:  # noqa: ANN001
    from temporalio.api.enums.v1 import EventType
    from temporalio.client import WorkflowExecutionStatus

    from mstore.runs.pipelines import get_pipeline
    from mstore.runs.plan import RunRequest
    from mstore.services.runs import start_run

    rs = run_store()
    rs.noop_pipeline("fast")
    with rs.open() as st:
        # 14 units: three full histories of 2 chunks of 2 units and a last with one chunk
        started = start_run(st, RunRequest(pipeline=get_pipeline(rs.path, "fast"),
                                           policy="production", max_units=14),
                            chunk_size=2, chunks_per_history=2)
    run_id = started.run.run
    assert started.run.total == 14
    v = rs.wait_end(run_id, 90)
    assert v.state == "completed" and v.done == started.run.total
    check_exactly_once(rs, run_id)
    execs = rs.workflow_executions(run_id)
    expected = -(-started.run.total // 4)  # 2 chunks of 2 units per history
    assert len(execs) == expected
    assert [e.status for e in execs[:-1]] == [WorkflowExecutionStatus.CONTINUED_AS_NEW] * (
        expected - 1)
    assert execs[-1].status == WorkflowExecutionStatus.COMPLETED

    events = rs.history_events(run_id, execs[0].run_id)
    assert events[-1].event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW
    scheduled = [e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED]
    assert len(scheduled) == 2
    desc = rs.temporal(lambda c: c.get_workflow_handle(run_id).describe())
    assert desc.status == WorkflowExecutionStatus.COMPLETED and desc.run_id == execs[-1].run_id
    result = rs.temporal(lambda c: c.get_workflow_handle(run_id).result())
    assert result == "completed"


def test_chunks_adapt_to_measured_speed(run_store, tmp_path: Path) -> None:  # noqa: ANN001
    """Without --chunk-size the first chunks are small (first results come fast); later
    ones grow to ~2 s of work at the measured speed, bounded so every slot stays busy."""
    from mstore.orchestration.workflows import RunInput, chunk_size
    from tests.fixtures.archive import build_bulk

    bulk = tmp_path / "bulk"
    build_bulk(bulk, 600, seed=2)
    rs = run_store(over=bulk)
    rs.noop_pipeline("fast")
    v = rs.run_and_wait("fast", "--production")
    assert v.state == "completed" and v.done == v.total

    sizes = [arg["end"] - arg["start"] for _q, arg in rs.chunk_activities(v.id)]
    first = min(32, -(-v.total // 8))  # DEFAULT_CHUNK; DEFAULT_CONCURRENCY 4 x 2
    assert v.total == 600 and sizes[:4] == [first] * 4 and sum(sizes) == v.total
    assert max(sizes) > first  # noop units take ~0.1 ms: later chunks are bigger
    # the run was told how many tool processes this machine's worker runs (2 cores)
    assert rs.workflow_input(v.id)["processes"] == 2
    # the sizing rule itself
    inp = RunInput(run_id="r", store="s", total=100_000, chunk_size=32, max_concurrency=4,
                   control_queue="q", adaptive=True)
    for procs in (0, 2):
        assert chunk_size(inp, 0, 10, 0.0, procs) == 32  # nothing measured yet
        # 0.1 s per unit -> 20 units in 2 s
        assert chunk_size(inp, 64, 64, 6.4, procs) == 20
        assert chunk_size(inp, 64, 64, 0.0064, procs) == 4096  # 0.1 ms per unit: max_chunk
        # ... of at least 0.25 s of work each
        assert chunk_size(inp, 100_000 - 100, 64, 0.0064, procs) == (100 if procs else 2500)
    assert chunk_size(RunInput(**{**inp.__dict__, "adaptive": False}), 64, 64, 6.4) == 32
    # the tail spreads over the 4 chunks in flight (runs started before the processes were
    # known) ...
    assert chunk_size(inp, 100_000 - 40, 64, 6.4) == 10
    # ... or over the processes that run them, never over more than max_concurrency
    assert chunk_size(inp, 100_000 - 30, 64, 6.4, 2) == 15
    assert chunk_size(inp, 100_000 - 40, 64, 6.4, 16) == 10
    # and what would be left after a chunk, if less than a chunk's least, goes with it
    assert chunk_size(inp, 100_000 - 5, 64, 6.4, 2) == 5  # least 3 units: not 3 and 2
    assert chunk_size(inp, 100_000 - 6, 64, 6.4, 2) == 3
    assert chunk_size(inp, 100_000 - 5, 64, 6.4) == 3  # (not in the rule before)


# --------------------------------------------------------------------------- tools


WORDCOUNT_PIPELINE = """\
name = "wc"
description = "wc over text files through the exec protocol"

[[steps]]
name = "wordcount"
tool = "wordcount"
"""


def test_exec_protocol_tool_counts(run_store, archive) -> None:  # noqa: ANN001
    rs = run_store()
    root, manifest = archive
    rs.write_pipeline("wc", WORDCOUNT_PIPELINE)
    v = rs.run_and_wait("wc", "--production")
    assert v.state == "completed", v.failures
    ids = rs.asset_ids_by_path()
    texts = {p for p, k in manifest.files.items() if k == "text"}
    assert v.total == len({ids[f"archive/{p}"] for p in texts})
    arts = {a.asset: a for a in check_lineage(rs, v.id)}
    for p in texts:
        path = root / p
        data = path.read_bytes()
        got = arts[ids[f"archive/{p}"]].data
        assert (got["lines"], got["bytes"]) == (data.count(b"\n"), len(data)), p
        # words as wc(1) counts them (GNU wc does not count a lone latin-1 or cp1252 byte
        # such as "\xe0" as a word); for UTF-8 text that is whitespace-separated runs
        with open(path, "rb") as f:
            wc = subprocess.run(["wc", "-w"], stdin=f, capture_output=True, check=True).stdout
        assert got["words"] == int(wc), p
        if manifest.expected.get(p, {}).get("encoding", "utf-8").startswith("utf-8"):
            assert got["words"] == len(data.split()), p


# --------------------------------------------------------------------------- reading


def test_results_visible_while_running(run_store) -> None:  # noqa: ANN001
    rs = run_store()
    rs.noop_pipeline("slow", sleep=0.3)
    run_id = rs.run("slow", "--chunk-size", "4")
    v = rs.wait(run_id, lambda v: v.artifacts >= 1, 30)
    assert v.state == "running" and v.done < v.total
    # what a user sees with the command line, while the run goes on
    log = [r for r in mstore("log", "--json", store=rs.path).json_lines() if r["id"] == run_id]
    assert log and log[0]["state"] == "running" and log[0]["artifacts"] >= 1
    art = rs.run_artifacts(run_id)[0]
    shown = mstore("show", run_id, "--json", store=rs.path)
    assert shown.code == 0, shown.err
    d = shown.json()
    assert d["state"] == "running" and d["artifacts"] >= 1
    assert art.id in {a["id"] for a in d["recent_artifacts"]}
    assert mstore("show", art.id, store=rs.path).code == 0
    # progress with an ETA while running
    assert v.eta_s is None or v.eta_s > 0
    assert mstore("cancel", run_id, store=rs.path).code == 0


# --------------------------------------------------------------------------- embedded


def test_embedded_server_and_worker(archive, tmp_path: Path) -> None:  # noqa: ANN001
    """No address configured: ``mstore run --follow`` starts the dev server and a
    background worker by itself; ``server status`` says up; ``server stop`` stops both."""
    from tests.integration.temporal_env import free_port, make_store, pid_alive, port_open

    port, ui = free_port(), free_port()
    rs = make_store(tmp_path, archive[0], None,
                    temporal_toml=f"port = {port}\nui_port = {ui}\n")
    rs.write_pipeline("fast", "name = 'fast'\n[[steps]]\nname = 'noop'\ntool = 'noop'\n")
    d = rs.path / "local" / "temporal"
    try:
        r = mstore_proc("run", "fast", "--follow", store=rs.path, timeout=150)
        assert r.code == 0, r.err + (d / "server.log").read_text(errors="replace")[-2000:]
        run_id = r.out.strip()
        assert rs.view(run_id).state == "completed"
        st = mstore_proc("server", "status", "--json", store=rs.path)
        status = st.json()
        assert st.code == 0 and status["server_up"] and status["embedded"]
        assert status["address"] == f"127.0.0.1:{port}"
        server_pid, worker_pid = status["server_pid"], status["worker_pid"]
        assert pid_alive(server_pid) and pid_alive(worker_pid)
        assert (d / "dev.sqlite").exists()
        r = mstore_proc("server", "stop", store=rs.path)
        assert r.code == 0 and "worker" in r.out and "server" in r.out
        assert not pid_alive(server_pid) and not pid_alive(worker_pid)
        assert not port_open(port) and not port_open(ui)
        leftovers = subprocess.run(["pgrep", "-f", str(rs.path)], capture_output=True,
                                   text=True).stdout.split()
        assert [p for p in leftovers if int(p) != os.getpid()] == []
        down = mstore_proc("server", "status", store=rs.path)
        assert down.code == 1 and "down" in down.out
    finally:
        subprocess.run([sys.executable, "-m", "mstore", "--store", str(rs.path), "server",
                        "stop"], cwd=REPO, capture_output=True, timeout=60)


def test_embedded_server_never_shares_a_port_silently(temporal_server, archive,  # noqa: ANN001
                                                      tmp_path: Path) -> None:
    """A store whose embedded server's port is held by another server (another store's,
    or anyone's) refuses to run on it, in one line saying how to fix it, and
    ``server status`` says the server there is not this store's."""
    from tests.integration.temporal_env import free_port, make_store

    rs = make_store(tmp_path, archive[0], None, temporal_toml=(
        f"port = {temporal_server.port}\nui_port = {free_port()}\n"))
    rs.noop_pipeline("fast")
    try:
        r = mstore_proc("run", "fast", store=rs.path)
        assert r.code == 2, (r.out, r.err)
        lines = r.err.strip().splitlines()
        assert len(lines) == 1 and f"127.0.0.1:{temporal_server.port}" in lines[0], r.err
        assert "not this store's" in lines[0] and "config.toml" in lines[0]
        assert mstore("log", "--json", store=rs.path).json_lines() == []  # nothing recorded
        assert not (rs.path / "local" / "temporal" / "worker.pid").exists()
        st = mstore_proc("server", "status", "--json", store=rs.path)
        assert st.code == 1, st.out
        status = st.json()
        assert status["embedded"] and status["server_up"] and status["own"] is False
        human = mstore_proc("server", "status", store=rs.path)
        assert human.code == 1 and "not this store's" in human.out
        # pause / resume / cancel do not talk to the foreign server either
        assert mstore_proc("server", "start", store=rs.path).code == 2
    finally:
        rs.stop_workers()


def test_steering_a_run_whose_workflow_is_gone(run_store) -> None:  # noqa: ANN001
    """A run recorded in the store whose workflow Temporal does not have (its server lost
    its state): cancel still ends it (the record is the truth); pause says what to do."""
    from mstore.runs.pipelines import get_pipeline
    from mstore.runs.plan import RunRequest, plan

    rs = run_store(workers=0)
    rs.noop_pipeline("fast")
    with rs.open() as st:
        rec, units = plan(st, RunRequest(pipeline=get_pipeline(rs.path, "fast"),
                                         policy="production"))
        rec.units_object = st.objects.put(units)
        st.write_records([rec])
    p = mstore("pause", rec.run, store=rs.path)
    assert p.code == 2 and "no workflow on Temporal" in p.err, (p.out, p.err)
    assert len(p.err.strip().splitlines()) == 1
    assert rs.view(rec.run).state == "running"  # a pause that reached nothing is not recorded
    c = mstore("cancel", rec.run, store=rs.path)
    assert c.code == 0 and c.out.split() == [f"{rec.run}:", "cancelled"], (c.out, c.err)
    assert rs.view(rec.run).state == "cancelled"


DISKFULL_TOOL = """\
import errno
import os

from mstore.tools.api import OutputArtifact, ToolResult


def run(req, progress):
    counter = req.params["counter"]
    n = int(open(counter).read()) if os.path.exists(counter) else 0
    with open(counter, "w") as f:
        f.write(str(n + 1))
    if n < req.params["fail"]:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), req.out_dir)
    return ToolResult(artifacts=[OutputArtifact(kind="diskfull", data={"calls": n + 1})])
"""


def test_disk_full_in_a_tool_is_retried_not_a_unit_failure(run_store, tmp_path: Path) -> None:  # noqa: ANN001
    """ENOSPC from a tool (a fault injected by a test tool) is this machine's trouble, not
    the unit's: more failures than a chunk retries by itself do not record the unit as
    failed; the chunk is retried later and the unit is done, recorded once."""
    from mstore.runs.execute import TRANSIENT_ATTEMPTS

    rs = run_store()
    counter = tmp_path / "calls"
    install_tool(rs, "diskfull", "ENOSPC for its first calls", {"counter": "str", "fail": "int"},
                 DISKFULL_TOOL)
    fail = TRANSIENT_ATTEMPTS + 1  # more than one chunk attempt retries by itself
    rs.write_pipeline("fill", f'name = "fill"\n[[steps]]\nname = "write"\ntool = "diskfull"\n'
                              f'params = {{ counter = "{counter}", fail = {fail} }}\n')
    v = rs.run_and_wait("fill", "--production", "--max-units", "1")
    assert v.state == "completed" and v.done == 1 and v.failures == [], v.failures
    (unit,) = rs.units(v.id)
    assert rs.unit_record_counts(v.id) == Counter({("write", unit): 1})
    assert rs.unit_states(v.id)[("write", unit)].status == "done"
    assert int(counter.read_text()) == fail + 1


def test_sandbox_is_the_default_and_the_first_line_says_so(run_store) -> None:  # noqa: ANN001
    """Without --production a run is a sandbox run; the first line of every run names its
    policy and its sample, with the way to the full run when the sample is smaller."""
    rs = run_store()
    images = len(mstore("find", "--json", "kind:image", *NOT_HOSTILE,
                        store=rs.path).json_lines())
    r = mstore("run", "photos", "--sample", "5", *NOT_HOSTILE, store=rs.path)
    assert r.code == 0, r.err
    a = r.out.strip()
    assert r.err.splitlines()[0] == (f"run {a}: photos, sandbox, sample 5: 5 of {images} units "
                                     "(use --production for all)")
    r = mstore("run", "photos", *NOT_HOSTILE, store=rs.path)
    b = r.out.strip()
    assert rs.started(b).policy == "sandbox" and rs.started(b).sample == "50"
    shown = min(50, images)
    assert r.err.splitlines()[0].startswith(f"run {b}: photos, sandbox, sample 50: {shown} of "
                                            f"{images} units")
    r = mstore("run", "photos", "--production", *NOT_HOSTILE, store=rs.path)
    c = r.out.strip()
    assert r.err.splitlines()[0] == f"run {c}: photos, production: all {images} units"
    assert rs.started(c).policy == "production"
    for run_id in (a, b, c):
        assert rs.wait_end(run_id).state == "completed"
