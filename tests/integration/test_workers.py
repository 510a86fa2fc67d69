"""Workers as declared: each step on the task queue of its tool's resource class, cpu and
gpu tools in tool processes that load a tool once and serve many units.

A real Temporal dev server and real ``mstore worker`` subprocesses, as in test_runs.py;
the tools here are the test's own (in <store>/tools/), and report the process that ran
them.
"""

from __future__ import annotations

import os
import signal
import time
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING

from tests.helpers import proc_stat
from tests.integration.test_fsck import _descendants, _processes
from tests.integration.test_runs import check_exactly_once, install_tool, show, step_of

if TYPE_CHECKING:
    from tests.integration.temporal_env import RunStore

pytest_plugins = ["tests.integration.temporal_env"]

# reports which process ran it, which load of the module (a token made at import) and how
# many calls that load has served
PROBE = """\
import os
import uuid

from mstore.tools.api import OutputArtifact, ToolResult

LOADED = uuid.uuid4().hex
CALLS = [0]


def run(req, progress):
    CALLS[0] += 1
    return ToolResult(artifacts=[OutputArtifact(kind=req.tool, data={
        "pid": os.getpid(), "loaded": LOADED, "calls": CALLS[0]})])
"""

MIXED = """\
name = "mixed"
description = "a cpu step, then a gpu step that needs it"

[[steps]]
name = "first"
tool = "probe-cpu"

[[steps]]
name = "second"
tool = "probe-gpu"
needs = ["first"]
"""


def parent_pid(pid: int) -> int:
    return int(proc_stat(pid)[1])


def ancestors(pid: int) -> list[int]:
    out = []
    while pid > 1:
        pid = parent_pid(pid)
        out.append(pid)
    return out


def scheduled_chunks(rs: RunStore, run_id: str) -> list[tuple[str, list[str], int]]:
    """(task queue, steps, start) of every chunk activity the workflow scheduled."""
    return [(q, arg.get("steps", []), arg["start"]) for q, arg in rs.chunk_activities(run_id)]


def test_gpu_step_waits_for_a_gpu_worker(run_store) -> None:  # noqa: ANN001
    """A step whose tool declares resource = "gpu" runs on the gpu queue: with only the
    default worker (cpu, io) its units stay pending while the cpu step's results are
    recorded and shown; ``mstore worker --queues gpu`` then completes the run, in tool
    processes of that worker."""
    from tests.helpers import mstore
    from tests.integration.temporal_env import store_key

    rs = run_store()
    install_tool(rs, "probe-cpu", "reports its process", {}, PROBE)
    install_tool(rs, "probe-gpu", "reports its process", {}, PROBE, 'resource = "gpu"\n')
    rs.write_pipeline("mixed", MIXED)
    r = mstore("run", "mixed", "--production", "--max-units", "12", "--chunk-size", "4",
               store=rs.path)
    assert r.code == 0, r.err
    run_id = r.out.strip()
    assert r.err.splitlines()[1] == (
        "note: this machine's worker serves cpu, io ([worker] queues in config.toml): step "
        "second (gpu) waits for a worker started with `mstore worker --queues gpu`")
    key = store_key(rs.path)
    # every chunk went through the cpu stage and waits on the gpu queue, which nobody serves
    v = rs.wait(run_id, lambda v: v.step_counts.get("first", {}).get("done") == 12
                and sum(q.endswith("-gpu") for q, _s, _i in scheduled_chunks(rs, run_id)) == 3)
    assert v.state == "running" and v.done == 0
    d = show(rs, run_id)
    assert (step_of(d, "first")["done"], step_of(d, "first")["pending"]) == (12, 0)
    assert (step_of(d, "second")["done"], step_of(d, "second")["pending"]) == (0, 12)
    assert (step_of(d, "first")["resource"], step_of(d, "second")["resource"]) == ("cpu", "gpu")
    assert not any(step == "second" for step, _u in rs.unit_states(run_id))
    firsts = [a for a in rs.run_artifacts(run_id) if a.kind == "probe-cpu"]
    assert len(firsts) == 12  # the cpu results are there to read

    gpu = rs.start_worker(queues="gpu")
    v = rs.wait_end(run_id)
    assert v.state == "completed" and v.done == 12, v.failures
    check_exactly_once(rs, run_id)
    chunks = scheduled_chunks(rs, run_id)
    assert sorted((q, s, i) for q, s, i in chunks) == sorted(
        [(f"mstore-{key}-cpu", ["first"], i) for i in (0, 4, 8)]
        + [(f"mstore-{key}-gpu", ["second"], i) for i in (0, 4, 8)])
    # the gpu step ran in the gpu worker's tool processes, the cpu step in the first worker's
    by_kind = defaultdict(list)
    for a in rs.run_artifacts(run_id):
        by_kind[a.kind].append(a.data)
    for kind, worker in (("probe-gpu", gpu), ("probe-cpu", rs.workers[0])):
        pids = {d["pid"] for d in by_kind[kind]}
        assert len(by_kind[kind]) == 12 and worker.pid not in pids
        assert all(worker.pid in ancestors(p) for p in pids), (kind, pids, worker.pid)


def test_tool_processes_load_a_tool_once(run_store) -> None:  # noqa: ANN001
    """cpu tools run in the worker's tool processes, not its threads: each process loads
    the tool once and serves many units with it."""
    rs = run_store(concurrency=2)
    install_tool(rs, "probe-cpu", "reports its process", {}, PROBE)
    rs.write_pipeline("probe", 'name = "probe"\n[[steps]]\nname = "p"\ntool = "probe-cpu"\n')
    v = rs.run_and_wait("probe", "--production", "--max-units", "40", "--chunk-size", "5")
    assert v.state == "completed" and v.done == 40
    data = [a.data for a in rs.run_artifacts(v.id)]
    worker = rs.workers[0].pid
    by_pid: dict[int, list[dict]] = defaultdict(list)
    for d in data:
        by_pid[d["pid"]].append(d)
    assert worker not in by_pid and 1 <= len(by_pid) <= 2
    for pid, calls in by_pid.items():
        assert worker in ancestors(pid)
        assert len({c["loaded"] for c in calls}) == 1  # one load per process
        assert sorted(c["calls"] for c in calls) == list(range(1, len(calls) + 1))
    assert max(len(c) for c in by_pid.values()) > 1


def test_worker_queues_from_config(run_store, tmp_path: Path) -> None:  # noqa: ANN001
    """``[worker] queues`` in config.toml is what a worker started without --queues
    serves (the background worker of ``mstore run`` is started so)."""
    from tests.integration.temporal_env import store_key

    rs = run_store(workers=0)
    with open(rs.path / "config.toml", "a") as f:
        f.write('\n[worker]\nqueues = ["gpu"]\ngpu_concurrency = 2\n')
    proc = rs.start_worker(wait=False)
    rs.wait_worker(proc, queue="gpu")
    key = store_key(rs.path)
    assert rs.pollers(f"mstore-{key}-cpu") == 0
    log = (rs.path / "local" / "worker-0.log").read_text()
    assert "queues gpu x2" in log


def test_max_bytes_caps_the_units_of_a_run(run_store) -> None:  # noqa: ANN001
    """``--max-bytes SIZE``: the run covers the first units (in run order) whose files hold
    at most SIZE bytes together, says so on its first line, and completes."""
    from tests.helpers import mstore

    rs = run_store()
    rs.noop_pipeline("fast")
    full = rs.run_and_wait("fast", "--production", "kind:image")
    order = rs.units(full.id)
    sizes = {r["id"]: r["size"] for r in mstore("find", "--json", store=rs.path).json_lines()}
    cap = sum(sizes[u] for u in order[:5]) + sizes[order[5]] - 1  # the 6th does not fit
    r = mstore("run", "fast", "--production", "kind:image", "--max-bytes", str(cap),
               store=rs.path)
    assert r.code == 0, r.err
    run_id = r.out.strip()
    assert r.err.splitlines()[0] == (f"run {run_id}: fast, production: 5 of {len(order)} units "
                                     f"(--max-bytes {cap})")
    v = rs.wait_end(run_id)
    assert v.state == "completed" and v.done == v.total == 5
    assert rs.units(run_id) == order[:5]
    assert rs.started(run_id).caps == {"max_bytes": cap}
    # a size with a unit, as in the find language
    kib = mstore("run", "fast", "--production", "kind:image", "--max-bytes", "1GiB",
                 store=rs.path)
    assert kib.code == 0 and rs.started(kib.out.strip()).caps == {"max_bytes": 1 << 30}
    assert rs.wait_end(kib.out.strip()).total == len(order)


# fails every text input, handles the others (one artifact per call)
CHOOSY = """\
from mstore.tools.api import OutputArtifact, ToolResult


def run(req, progress):
    ok = [i.asset for i in req.inputs if i.kind != "text"]
    failed = {i.asset: f"cannot read {i.path.rsplit('/', 1)[1]}" for i in req.inputs
              if i.kind == "text"}
    if not ok:
        return ToolResult(failed=failed)
    return ToolResult(failed=failed, artifacts=[OutputArtifact(
        kind=req.tool, asset=ok[0] if len(req.inputs) == 1 else None,
        members=ok if len(req.inputs) > 1 else [], data={"n": len(ok)})])
"""


def test_inputs_a_tool_reports_failed_are_failed_units(run_store, kinds_archive) -> None:  # noqa: ANN001
    """``ToolResult.failed``: each input an aggregate tool (or a per-asset one) says it
    could not handle is a failed unit with the tool's message — in ``show RUN``'s failures,
    in the production run's final state, and in ``rerun --failed`` — while the others'
    results are kept. A run that reuses the aggregate's result records the same failures."""
    from tests.helpers import mstore

    rs = run_store(over=kinds_archive)
    ids = rs.asset_ids_by_path()
    text = ids["archive/notes/todo.txt"]
    install_tool(rs, "choosy", "fails text", {}, CHOOSY)
    install_tool(rs, "picky", "fails text", {}, CHOOSY, 'shape = "aggregate"\n')
    rs.write_pipeline("group", 'name = "group"\n[[steps]]\nname = "all"\ntool = "picky"\n')
    v = rs.run_and_wait("group", "--production")
    assert v.state == "failed" and v.failed == 1
    assert v.failures == [{"unit": text, "step": "all", "error": "cannot read todo.txt",
                           "attempts": 1}]
    d = show(rs, v.id)
    assert [(f["asset"], f["step"], f["error"]) for f in d["failures"]] == [
        (text, "all", "cannot read todo.txt")]
    states = rs.unit_states(v.id)
    assert states[("all", "*")].status == "done"
    (group,) = rs.run_artifacts(v.id)
    assert text not in group.members and len(group.members) == len(set(ids.values())) - 1
    r = mstore("rerun", v.id, "--failed", store=rs.path)
    assert r.code == 0, r.err
    assert rs.units(r.out.strip()) == [text]
    rs.wait_end(r.out.strip())
    # the same call again: its result is reused, and so are its failures
    again = rs.run_and_wait("group", "--production")
    assert rs.unit_states(again.id)[("all", "*")].status == "reused"
    assert [(f["unit"], f["error"]) for f in again.failures] == [(text, "cannot read todo.txt")]

    rs.write_pipeline("each", 'name = "each"\n[[steps]]\nname = "one"\ntool = "choosy"\n')
    w = rs.run_and_wait("each", "--production")
    assert w.state == "failed" and w.failed == 1 and w.done == w.total - 1
    st = rs.unit_states(w.id)[("one", text)]
    assert (st.status, st.error, st.attempts, st.artifacts) == (
        "failed", "cannot read todo.txt", 1, [])
    assert text not in {a.asset for a in rs.run_artifacts(w.id)}


# makes two still frames of a video (solid images of its own, at 0.5 s and 1.5 s)
STILLS = """\
from pathlib import Path

from PIL import Image

from mstore.tools.api import OutputArtifact, ToolResult


def run(req, progress):
    out = []
    for i, (t, colour) in enumerate(((0.5, "red"), (1.5, "blue")), start=1):
        Image.new("RGB", (40, 30), colour).save(Path(req.out_dir) / f"s{i}.jpg")
        out.append(OutputArtifact(kind="stills", file=f"s{i}.jpg", meta={"t": t}))
    return ToolResult(artifacts=out)
"""

# reports the views it was offered and the frames the views helper gives it
FRAMER = """\
from mstore.tools.api import OutputArtifact, ToolResult
from mstore.tools.views import frame_source


def run(req, progress):
    frames = ([[t, list(img.size), img.getpixel((0, 0))[2] > 128]
               for t, img in frame_source(req, req.inputs[0])] if req.views else [])
    return ToolResult(artifacts=[OutputArtifact(kind=req.tool, data={
        "views": req.views, "frames": frames})])
"""

FRAMES_PIPELINE = """\
name = "frames"
[[steps]]
name = "stills"
tool = "stills"
kinds = ["video"]

[[steps]]
name = "framer"
tool = "framer"
kinds = ["video"]
needs = ["stills"]

[[steps]]
name = "blind"
tool = "blind"
kinds = ["video"]
needs = ["stills"]
"""


def test_frames_reach_a_tool_through_the_declared_view(run_store, kinds_archive) -> None:  # noqa: ANN001
    """A tool that declares ``views = ["frames"]`` gets, as its frames, the outputs of an
    upstream tool that declares it ``provides`` them — whatever their kind is called — and
    a tool that declares no view is offered none."""
    rs = run_store(over=kinds_archive)
    install_tool(rs, "stills", "two frames", {}, STILLS, 'provides = { frames = "stills" }\n')
    install_tool(rs, "framer", "reads frames", {}, FRAMER, 'views = ["frames"]\n')
    install_tool(rs, "blind", "reads no view", {}, FRAMER)
    rs.write_pipeline("frames", FRAMES_PIPELINE)
    v = rs.run_and_wait("frames", "--production")
    assert v.state == "completed" and v.done == v.total == 2, v.failures  # two videos
    arts = rs.run_artifacts(v.id)
    stills = {a.id: a for a in arts if a.kind == "stills"}
    framer = [a for a in arts if a.kind == "framer"]
    assert len(framer) == 2
    for a in framer:
        view = a.data["views"]["frames"]
        assert view["mode"] == "materialized"
        assert [t for t, _path in view["files"]] == [0.5, 1.5]
        assert a.data["frames"] == [[0.5, [40, 30], False], [1.5, [40, 30], True]]
        own = {s.id for s in stills.values() if s.asset == a.asset}
        assert own <= set(a.inputs)
    assert all(a.data == {"views": {}, "frames": []} for a in arts if a.kind == "blind")


# the first call in a fresh counter file kills the tool process running it (as a decoder's
# segfault would), the others succeed
CRASHER = """\
import os
import signal

from mstore.tools.api import OutputArtifact, ToolResult


def run(req, progress):
    marker = req.params["marker"]
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return ToolResult(artifacts=[OutputArtifact(kind="crasher", data={"pid": os.getpid()})])
"""


def family(pid: int) -> set[tuple[int, str]]:
    """(pid, start) of a live process and of all its descendants."""
    return _descendants({(pid, _processes()[pid][1])})


def wait_gone(procs: set[tuple[int, str]], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while _descendants(procs):
        assert time.monotonic() < deadline, f"still running: {_descendants(procs)}"
        time.sleep(0.1)


def test_a_crashed_tool_process_is_replaced_and_its_chunk_retried(run_store,  # noqa: ANN001
                                                                  tmp_path: Path) -> None:
    """A tool process killed in the middle of a chunk fails only that activity: Temporal
    retries the chunk in a new tool process of the same worker, and every unit is recorded
    once. Stopping the worker ends its tool processes too; so does killing the worker
    alone (kill -9 of its pid, not of its group)."""
    rs = run_store()
    marker = tmp_path / "crashed"
    install_tool(rs, "crasher", "kills its process once", {"marker": "str"}, CRASHER)
    rs.write_pipeline("crash", f'name = "crash"\n[[steps]]\nname = "c"\ntool = "crasher"\n'
                               f'params = {{ marker = "{marker}" }}\n')
    v = rs.run_and_wait("crash", "--production", "--max-units", "6", "--chunk-size", "3")
    assert v.state == "completed" and v.done == 6, v.failures
    check_exactly_once(rs, v.id)
    killed = int(marker.read_text())
    worker = rs.workers[0]
    assert worker.poll() is None  # the worker itself lived on
    pids = {a.data["pid"] for a in rs.run_artifacts(v.id)}
    assert killed not in pids and all(worker.pid in ancestors(p) for p in pids)
    processes = family(worker.pid)
    assert len(processes) >= 3  # the worker, its forkserver, its tool processes
    rs.stop_workers()
    wait_gone(processes)  # the tool processes ended with their worker

    orphaned = rs.start_worker()
    processes = family(orphaned.pid)
    os.kill(orphaned.pid, signal.SIGKILL)  # the worker alone, not its process group
    orphaned.wait(timeout=30)
    wait_gone(processes)


# holds its unit until the test creates the release file
HOLDER = """\
import os
import time

from mstore.tools.api import OutputArtifact, ToolResult


def run(req, progress):
    while not os.path.exists(req.params["release"]):
        time.sleep(0.01)
    return ToolResult(artifacts=[OutputArtifact(kind="holder", data={"pid": os.getpid()})])
"""


def pending_activity_states(rs: RunStore, run_id: str) -> list[str]:
    """The states (SCHEDULED, STARTED) of the run workflow's pending activities."""
    from temporalio.api.enums.v1 import PendingActivityState

    async def go(c):  # noqa: ANN001, ANN202
        return (await c.get_workflow_handle(run_id).describe()).raw_description

    return sorted(PendingActivityState.Name(a.state).rsplit("_", 1)[1]
                  for a in rs.temporal(go).pending_activities)


def test_a_pool_takes_the_next_chunk_while_its_processes_work(run_store,  # noqa: ANN001
                                                              tmp_path: Path) -> None:
    """A worker's pool of tool processes takes one chunk more than it has processes, so
    the next chunk is at hand when a process comes free (no round trip to Temporal in
    between): with one process busy, a second chunk is started (held by the worker) and
    the rest stay scheduled. Every unit still runs once."""
    rs = run_store(concurrency=1)
    release = tmp_path / "release"
    install_tool(rs, "holder", "holds its unit", {"release": "str"}, HOLDER)
    rs.write_pipeline("hold", f'name = "hold"\n[[steps]]\nname = "h"\ntool = "holder"\n'
                              f'params = {{ release = "{release}" }}\n')
    run_id = rs.run("hold", "--production", "--max-units", "4", "--chunk-size", "1")
    deadline = time.monotonic() + 60
    while (states := pending_activity_states(rs, run_id)).count("STARTED") < 2:
        assert time.monotonic() < deadline, f"pending activities: {states}"
        time.sleep(0.1)
    assert states == ["SCHEDULED", "SCHEDULED", "STARTED", "STARTED"], states
    release.touch()
    v = rs.wait_end(run_id)
    assert v.state == "completed" and v.done == 4, v.failures
    check_exactly_once(rs, run_id)
    assert len({a.data["pid"] for a in rs.run_artifacts(run_id)}) == 1  # the one process
