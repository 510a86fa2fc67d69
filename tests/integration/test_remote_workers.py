"""Workers on other hosts: two copies of one store on this machine (``mstore clone``),
each with its own machine id, its own path to the archive and its own ``mstore worker``,
on one real Temporal dev server. The copy that starts a run coordinates it; the other
("host B") pulls before each chunk and pushes its results back after it (``[worker]
push``)."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mstore.model.records import UnitDone
from tests.helpers import mstore
from tests.integration.test_runs import check_exactly_once, show, step_of

if TYPE_CHECKING:
    from tests.integration.temporal_env import RunStore

pytest_plugins = ["tests.integration.temporal_env"]


def copy_store(src: RunStore, base: Path, archive_path: Path) -> RunStore:
    """Host B's copy of ``src``: ``mstore clone`` (its own machine id, no local/ of the
    source's), its archive root at ``archive_path``, pushing to its origin (``src``)."""
    from tests.integration.temporal_env import RunStore

    dst = base / "store"
    r = mstore("clone", src.path, dst, "--root", f"{src.archive.name}={archive_path}")
    assert r.code == 0, r.err
    with open(dst / "config.toml", "a") as f:
        f.write('\n[worker]\npush = "origin"\n')
    rs = RunStore(dst, src.archive, src.address)
    COPIES.append(rs)
    return rs


COPIES: list[RunStore] = []


def not_mounted(base: Path) -> Path:
    """Where host B's copy (``unmounted_copy``) expects the archive: an empty directory."""
    return base / "hostB" / "not-mounted"


def unmounted_copy(src: RunStore, base: Path) -> RunStore:
    """Host B's copy of ``src`` whose archive is not mounted: its root's path is an empty
    directory (``not_mounted(base)``)."""
    empty = not_mounted(base)
    empty.mkdir(parents=True)
    return copy_store(src, base / "hostB", empty)


@pytest.fixture(autouse=True)
def _stop_copies() -> Iterator[None]:
    yield
    while COPIES:
        COPIES.pop().stop_workers()


def machine_id(rs: RunStore) -> str:
    with rs.open() as st:
        return st.machine_id


def lanes_of(rs: RunStore, run_id: str) -> dict[str, int]:
    """Machine id -> UnitDone records of the run in the lanes of that machine."""
    from mstore.store.segments import list_segments, read_segment

    out: dict[str, int] = {}
    for seg in list_segments(rs.path / "records"):
        n = sum(isinstance(r, UnitDone) and r.run == run_id for r in read_segment(seg.path))
        if n:
            mid = seg.machine.split(".")[0]
            out[mid] = out.get(mid, 0) + n
    return out


def start(rs: RunStore, pipeline: str, chunk_size: int) -> str:
    from mstore.runs.pipelines import get_pipeline
    from mstore.runs.plan import RunRequest
    from mstore.services.runs import start_run

    with rs.open() as st:
        started = start_run(st, RunRequest(pipeline=get_pipeline(rs.path, pipeline),
                                           policy="production"),
                            chunk_size=chunk_size, heartbeat_timeout_s=3.0)
    return started.run.run


def test_copies_share_queues_other_stores_do_not(run_store, tmp_path: Path) -> None:  # noqa: ANN001
    """A copy of a store at another path serves the same task queues (named after the
    store's id, which config.toml carries); another store over the same archive does
    not; and no activity input names a path of either machine."""
    from tests.integration.temporal_env import store_key

    a = run_store(workers=0)
    b = copy_store(a, tmp_path / "hostB", a.archive)
    other = run_store(workers=0)
    assert store_key(a.path) == store_key(b.path) != store_key(other.path)
    with a.open() as sa, b.open() as sb:
        assert sa.machine_id != sb.machine_id

    a.start_worker()
    a.noop_pipeline("quick")
    run_id = start(a, "quick", chunk_size=4)
    assert a.wait_end(run_id).state == "completed"
    for _queue, arg in a.chunk_activities(run_id):
        assert str(a.path) not in str(arg) and str(a.archive) not in str(arg)
        assert arg["store"] == store_key(a.path)


def test_a_run_on_two_hosts_one_killed(run_store, tmp_path: Path) -> None:  # noqa: ANN001
    """Host A starts a run; its worker and host B's (B's own copy, B's archive path) both
    execute chunks; B's results reach A by push while the run goes on. B's worker is
    killed mid-run: A's worker finishes it, every unit done exactly once, and
    ``show RUN --json`` on A is complete."""
    a = run_store(workers=0)
    mount = tmp_path / "hostB" / "mnt"
    mount.parent.mkdir(parents=True)
    os.symlink(a.archive, mount)  # the archive, reached under another path on "host B"
    b = copy_store(a, tmp_path / "hostB", mount)
    a.noop_pipeline("slow", sleep=0.1)
    b_worker = b.start_worker(concurrency=2)
    a.start_worker(concurrency=1)
    run_id = start(a, "slow", chunk_size=2)
    mb = machine_id(b)
    # B's results show in A's store while the run goes on (pushed after each chunk)
    a.wait(run_id, lambda v: lanes_of(a, run_id).get(mb, 0) >= 4 and v.state == "running", 60)
    b.kill_worker(b_worker, signal.SIGKILL)
    v = a.wait_end(run_id, 90)
    assert v.state == "completed", v.failures
    assert v.done == v.total
    check_exactly_once(a, run_id)
    lanes = lanes_of(a, run_id)
    assert set(lanes) == {machine_id(a), mb}, lanes
    d = show(a, run_id)
    assert d["state"] == "completed"
    noop = step_of(d, "noop")
    assert (noop["done"], noop["pending"], noop["failed"]) == (v.total, 0, 0)
    # B's copy, once it has pulled, tells the same story
    assert mstore("pull", store=b.path).code == 0
    db = show(b, run_id)
    assert (db["state"], step_of(db, "noop")) == (d["state"], noop)


def test_a_host_without_the_archive_leaves_units_to_another(run_store, tmp_path: Path  # noqa: ANN001
                                                            ) -> None:
    """Host B's archive is not mounted (its root's path is an empty directory): B
    declines the units it takes, they go to A's worker on A's own queue, and none is
    failed for it."""
    a = run_store(workers=0)
    b = unmounted_copy(a, tmp_path)
    a.noop_pipeline("slow", sleep=0.05)
    b.start_worker(concurrency=3)
    a.start_worker(concurrency=1)
    run_id = start(a, "slow", chunk_size=1)
    v = a.wait_end(run_id, 90)
    assert v.state == "completed", v.failures
    assert v.done == v.total and not v.failures
    check_exactly_once(a, run_id)
    # every unit's result is A's: B could read none
    assert set(lanes_of(a, run_id)) == {machine_id(a)}
    queues = {q for q, _arg in a.chunk_activities(run_id)}
    assert any(q.endswith(f"@{machine_id(a)}") for q in queues), queues  # handed over


def test_units_no_host_can_read_fail_naming_why(run_store, tmp_path: Path) -> None:  # noqa: ANN001
    """When every worker serving the queue declined a unit (here B, the only cpu worker,
    whose archive is not mounted), the unit fails once, with B's reason; the run ends
    (after asking again: A, which started the run, serves no cpu queue)."""
    a = run_store(workers=0)
    b = unmounted_copy(a, tmp_path)
    a.noop_pipeline("quick")
    b.start_worker(queues="cpu")
    a.start_worker(queues="io")  # A coordinates (workflows, finish) but runs no cpu step
    run_id = start(a, "quick", chunk_size=4)
    v = a.wait_end(run_id, 90)
    assert v.state == "failed"
    assert v.failed == v.total and v.done == 0
    check_exactly_once(a, run_id)
    d = show(a, run_id)
    errors = {f["error"] for f in d["failures"]}
    assert len(errors) == 1, errors
    (error,) = errors
    assert error.startswith("no worker could read it: ") and machine_id(b) in error
    empty = not_mounted(tmp_path)
    assert error.endswith(f"archive root '{a.archive.name}' is not mounted at {empty} on this "
                          "machine")
    assert mstore("show", run_id, store=a.path).code == 0


def test_a_unit_declined_before_the_runs_own_worker_polls_waits_for_it(
        run_store, tmp_path: Path) -> None:  # noqa: ANN001
    """B, whose archive is not mounted, declines units while A — the copy that started
    the run — has no worker on the cpu queue yet (``mstore run`` spawns one, which takes
    a moment to poll): the run asks again a little later instead of failing them, and
    A's cpu worker, started meanwhile, does them all."""
    from temporalio.api.enums.v1 import EventType

    a = run_store(workers=0)
    b = unmounted_copy(a, tmp_path)
    a.noop_pipeline("quick")
    b.start_worker(queues="cpu")
    a.start_worker(queues="io")  # A coordinates; its cpu worker comes later
    run_id = start(a, "quick", chunk_size=4)

    def timers() -> int:
        return sum(e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
                   for e in a.history_events(run_id))

    deadline = time.monotonic() + 60
    while timers() == 0:  # every server declined: the run waits to ask again
        assert time.monotonic() < deadline, a.worker_logs()
        time.sleep(0.1)
    assert a.activities(run_id, "mstore-run-servers")
    a.start_worker(queues="cpu")
    v = a.wait_end(run_id, 90)
    assert v.state == "completed", v.failures
    assert v.done == v.total and not v.failures
    check_exactly_once(a, run_id)
    assert set(lanes_of(a, run_id)) == {machine_id(a)}


def test_push_every_seconds_shows_results_of_a_running_chunk(run_store, tmp_path: Path  # noqa: ANN001
                                                             ) -> None:
    """``push_every = 1``: host B's results reach A while B's one long chunk still runs,
    not only when it ends."""
    a = run_store(workers=0)
    b = copy_store(a, tmp_path / "hostB", a.archive)
    with open(b.path / "config.toml", "a") as f:
        f.write("push_every = 1\n")
    a.noop_pipeline("slow", sleep=0.1)
    b.start_worker(queues="cpu", concurrency=1)
    a.start_worker(queues="io")  # A coordinates; B runs the only chunk
    run_id = start(a, "slow", chunk_size=10_000)
    mb = machine_id(b)
    seen: list[int] = []

    def partial(v) -> bool:  # noqa: ANN001
        n = lanes_of(a, run_id).get(mb, 0)
        seen.append(n)
        return 0 < n < v.total or v.state != "running"

    v = a.wait(run_id, partial, 60)
    assert v.state == "running" and 0 < seen[-1] < v.total, seen
    v = a.wait_end(run_id, 90)
    assert v.state == "completed" and v.done == v.total
    check_exactly_once(a, run_id)
