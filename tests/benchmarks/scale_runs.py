"""A run over every asset of a big store: the runs half of ``make bench-scale``.

    python -m tests.benchmarks.scale_runs STORE

With a real Temporal dev server (in memory) and one ``mstore worker`` started before the
clock starts, a one-step ``noop`` pipeline over every asset of STORE (``--production``,
so every asset is a unit) and:

- planning: ``mstore run`` from launch until it has printed the run id (it selects and
  plans the units, writes the units list, starts the workflow) — wall time, and its peak
  resident and anonymous memory;
- the units list object's size in the store;
- while the run goes: ``mstore show RUN`` and the web UI's runs page, each the median of
  five, against ``python -c pass`` and ``GET /healthz``;
- the whole run's time per unit against the same noop tool function called in a bare
  in-process loop over the same units (the difference: orchestration overhead per unit);
- how many times the workflow continued as new (its executions minus one).

Targets (the scale issue): planning < 30 s and < 500 MB, overhead < 1 ms/unit,
``show RUN`` < 150 ms.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks.__main__ import MSTORE, print_table, run, timed
from tests.benchmarks.runs import _paths, _units, _wait_state, bare_noop
from tests.benchmarks.scale import memory_of
from tests.benchmarks.ui import served
from tests.integration.temporal_env import NOOP_PIPELINE, DevServer, RunStore, free_port

Row = tuple[str, str, str, str, str]
PIPELINE = "scale-noop"


def _configure(store: Path, address: str) -> None:
    """Point the store at ``address`` (replacing a [temporal] section an earlier run left)
    and give it the noop pipeline."""
    config = store / "config.toml"
    text = config.read_text()
    cut = text.find("\n[temporal]\n")
    if cut >= 0:
        text = text[:cut] + "\n"
    config.write_text(text + f'\n[temporal]\naddress = "{address}"\n')
    pipelines = store / "pipelines"
    pipelines.mkdir(exist_ok=True)
    (pipelines / f"{PIPELINE}.toml").write_text(
        NOOP_PIPELINE.format(name=PIPELINE, sleep=0.0, fail_on=""))


def _object_size(store: Path, run_id: str) -> int:
    from mstore.store import index_runs
    from mstore.store.store import Store

    st = Store(store)
    try:
        with st.index.read() as txn:
            started = index_runs.run_info(st.index, txn, run_id).started
        return len(st.objects.get(started.units_object))
    finally:
        st.close()


def benchmarks(store: Path, work: Path) -> list[Row]:
    server = DevServer(free_port()).start(work / "temporal.log")
    rs = RunStore(store, store, server.address)
    try:
        _configure(store, server.address)
        rs.start_worker()
        argv = [*MSTORE, "--store", str(store), "run", PIPELINE, "--production"]
        t0 = time.perf_counter()
        t_plan, rss, anon, out = memory_of(argv, output=True)
        run_id = out.strip().splitlines()[0]
        t_py = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 5)
        shows: list[float] = []
        with served(store) as get:
            t_base = timed(lambda: get("/healthz"), repeat=10)
            pages: list[float] = []
            for _ in range(5):
                shows.append(timed(lambda: run("show", run_id, store=store)))
                pages.append(timed(lambda: get("/runs")))
        state = _wait_state(store, run_id, timeout=6 * 3600)
        t_run = time.perf_counter() - t0
        if state != "completed":
            raise SystemExit(f"the noop run ended {state}: {rs.worker_logs()}")
        executions = len(rs.workflow_executions(run_id))
        units = _units(store, run_id)
        bare = bare_noop(units, _paths(store, units))
        size = _object_size(store, run_id)
    finally:
        rs.stop_workers()
        server.stop()
    k, n = f"{len(units) // 1000}k", len(units)
    t_show, t_page = statistics.median(shows), statistics.median(pages)
    return [
        (f"run: plan and start, {k} units", f"{t_plan:.1f} s, {anon:,.0f} MB anon "
         f"({rss:,.0f} MB RSS)", "-", "-", "< 30 s, < 500 MB"),
        ("run: units list object", f"{size / 1e6:,.1f} MB ({size / n:.1f} bytes/unit)",
         "-", "-", "-"),
        (f"run: overhead, noop over {k} units", f"{t_run / n * 1000:.3f} ms/unit",
         f"{bare / n * 1000:.3f} ms/unit (in-process loop)",
         f"+{(t_run - bare) / n * 1000:.3f} ms/unit", "< 1 ms/unit"),
        (f"run: show RUN while it runs @ {k}", f"{t_show * 1000:.0f} ms",
         f"{t_py * 1000:.0f} ms (python -c pass)", f"{t_show / t_py:.1f}x", "< 150 ms"),
        (f"run: runs page while it runs @ {k}", f"{t_page * 1000:.0f} ms",
         f"{t_base * 1000:.1f} ms (GET /healthz)", f"{t_page / t_base:.0f}x", "-"),
        ("run: continued as new", f"{executions - 1} times", "-", "-", "-"),
    ]


def main() -> None:
    store = Path(sys.argv[1]).resolve()
    with tempfile.TemporaryDirectory(prefix="mstore-scale-runs-") as work:
        print_table(benchmarks(store, Path(work)))


if __name__ == "__main__":
    main()
