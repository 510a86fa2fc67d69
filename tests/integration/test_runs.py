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

    def aggregate_inputs(step) -> list[str]:  # noqa: ANN001 - what execute reads, in order
        out = []
        for u in units:
            ups = [states.get((n, u)) for n in step.needs]
            if any(x is None or x.status == "failed" for x in ups):
                continue
            out += [u] + [i for x in ups for i in x.artifacts]
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


# --------------------------------------------------------------------------- shapes


def test_photos_per_asset_multi_step(run_store, archive) -> None:  # noqa: ANN001
    rs = run_store()
    root, manifest = archive
    ids = rs.asset_ids_by_path()
    v = rs.run_and_wait("photos")
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
    v = rs.run_and_wait("video")
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
    v = rs.run_and_wait("dedupe")
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


# --------------------------------------------------------------------------- reuse


def test_reuse_params_and_force(run_store) -> None:  # noqa: ANN001
    rs = run_store()
    first = rs.run_and_wait("photos", *NOT_HOSTILE)
    assert first.state == "completed", first.failures
    n_units = first.total
    made_first = {a.id for a in rs.run_artifacts(first.id)}
    assert len(made_first) == 3 * n_units

    # the same run again: every unit of every step reused, nothing new made
    again = rs.run_and_wait("photos", *NOT_HOSTILE)
    assert again.state == "completed"
    assert statuses(rs, again.id) == Counter(reused=3 * n_units)
    assert rs.run_artifacts(again.id) == []
    for st in rs.unit_states(again.id).values():
        assert set(st.artifacts) <= made_first

    # another thumbnail size: thumbnail and phash (which needs it) recomputed, metadata reused
    small = rs.run_and_wait("photos", "--param", "thumbnail.size=128", *NOT_HOSTILE)
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
    forced = rs.run_and_wait("photos", "--force", *NOT_HOSTILE)
    assert statuses(rs, forced.id) == Counter(done=3 * n_units)
    # a forced run's results are its own artifacts (listed, with their lineage), never
    # hidden behind the old ids; and the next run reuses the newest set
    made_forced = {a.id for a in rs.run_artifacts(forced.id)}
    assert len(made_forced) == 3 * n_units and not made_forced & made_first
    for st in rs.unit_states(forced.id).values():
        assert set(st.artifacts) <= made_forced
    check_lineage(rs, forced.id)
    after = rs.run_and_wait("photos", *NOT_HOSTILE)
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
    p = rs.run_and_wait("photos", *NOT_HOSTILE)
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


def test_steering_commands_exit_cleanly(run_store) -> None:  # noqa: ANN001
    """Short-lived commands that talk to Temporal exit 0 every time: a Temporal client
    still alive at interpreter exit used to crash ~1 process in 6 (SIGSEGV/SIGABRT)
    after the command had done its work."""
    rs = run_store()
    rs.noop_pipeline("slow", sleep=0.3)
    r = mstore_proc("run", "slow", "--chunk-size", "2", store=rs.path)
    assert r.code == 0, r.err
    run_id = r.out.strip()
    codes = [mstore_proc(action, run_id, store=rs.path).code
             for _ in range(6) for action in ("pause", "resume")]
    assert codes == [0] * 12
    assert mstore_proc("cancel", run_id, store=rs.path).code == 0
    assert rs.wait_end(run_id).state == "cancelled"


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
    from mstore.runs.service import start_run

    rs = run_store()
    rs.noop_pipeline("slow", sleep=0.15)
    with rs.open() as st:
        started = start_run(st, RunRequest(pipeline=get_pipeline(rs.path, "slow")),
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
    from mstore.runs.service import write_records

    rs = run_store(workers=0)
    rs.noop_pipeline("fast")
    with rs.open() as st:
        rec, units = plan(st, RunRequest(pipeline=get_pipeline(rs.path, "fast"), max_units=6))
        rec.units_object = st.objects.put(units)
        write_records(st, [rec])
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
    assert (out.done, out.skipped) == (3, 3)
    counts = rs.unit_record_counts(rec.run)
    assert set(counts) == {("noop", u) for u in rs.units(rec.run)}
    assert set(counts.values()) == {1}


def test_worker_keeps_few_run_contexts(run_store) -> None:  # noqa: ANN001
    """A long-lived worker keeps the contexts (unit lists) of its last few runs only."""
    from mstore.orchestration import activities
    from mstore.runs.pipelines import get_pipeline
    from mstore.runs.plan import RunRequest, plan
    from mstore.runs.service import write_records

    rs = run_store(workers=0)
    rs.noop_pipeline("fast")
    runs = []
    with rs.open() as st:
        for _ in range(activities.MAX_CONTEXTS + 3):
            rec, units = plan(st, RunRequest(pipeline=get_pipeline(rs.path, "fast")))
            rec.run += f"-{len(runs)}"  # ids are per second: keep them distinct
            rec.units_object = st.objects.put(units)
            write_records(st, [rec])
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
    v = rs.run_and_wait("flaky", "--chunk-size", "1000")
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
    from mstore.runs.service import start_run

    rs = run_store()
    rs.noop_pipeline("fast")
    with rs.open() as st:
        started = start_run(st, RunRequest(pipeline=get_pipeline(rs.path, "fast")),
                            chunk_size=2, chunks_per_history=2)
    run_id = started.run.run
    v = rs.wait_end(run_id, 90)
    assert v.state == "completed" and v.done == started.run.total
    check_exactly_once(rs, run_id)
    execs = rs.workflow_executions(run_id)
    expected = -(-started.run.total // 4)  # 2 chunks of 2 units per history
    assert len(execs) == expected
    assert [e.status for e in execs[:-1]] == [WorkflowExecutionStatus.CONTINUED_AS_NEW] * (
        expected - 1)
    assert execs[-1].status == WorkflowExecutionStatus.COMPLETED

    async def first_history(c):  # noqa: ANN001, ANN202
        return await c.get_workflow_handle(run_id, run_id=execs[0].run_id).fetch_history()

    events = rs.temporal(first_history).events
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
    import json

    from temporalio.api.enums.v1 import EventType

    from mstore.orchestration.workflows import RunInput, RunWorkflow
    from tests.fixtures.archive import build_bulk

    bulk = tmp_path / "bulk"
    build_bulk(bulk, 600, seed=2)
    rs = run_store(over=bulk)
    rs.noop_pipeline("fast")
    v = rs.run_and_wait("fast")
    assert v.state == "completed" and v.done == v.total

    async def history(c):  # noqa: ANN001, ANN202
        return await c.get_workflow_handle(v.id).fetch_history()

    sizes = []
    for e in rs.temporal(history).events:
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            a = e.activity_task_scheduled_event_attributes
            if a.activity_type.name == "mstore-run-chunk":
                arg = json.loads(a.input.payloads[0].data)
                sizes.append(arg["end"] - arg["start"])
    first = min(32, -(-v.total // 8))  # DEFAULT_CHUNK; DEFAULT_CONCURRENCY 4 x 2
    assert v.total == 600 and sizes[:4] == [first] * 4 and sum(sizes) == v.total
    assert max(sizes) > first  # noop units take ~0.1 ms: later chunks are bigger
    # the sizing rule itself
    wf = RunWorkflow()
    inp = RunInput(run_id="r", store="s", total=100_000, chunk_size=32, max_concurrency=4,
                   activity_queue="q", adaptive=True)
    wf._measured_units, wf._measured_s = 10, 0.0
    assert wf._chunk_size(inp, 0) == 32  # nothing measured yet
    wf._measured_units, wf._measured_s = 64, 6.4  # 0.1 s per unit -> 20 units in 2 s
    assert wf._chunk_size(inp, 64) == 20
    wf._measured_units, wf._measured_s = 64, 0.0064  # 0.1 ms per unit
    assert wf._chunk_size(inp, 64) == 4096  # max_chunk
    assert wf._chunk_size(inp, 100_000 - 100) == 25  # the tail spreads over 4 slots
    assert wf._chunk_size(RunInput(**{**inp.__dict__, "adaptive": False}), 64) == 32


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
    v = rs.run_and_wait("wc")
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
