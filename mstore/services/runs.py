"""Starting and steering runs: what the ``run``, ``pause``, ``resume``, ``cancel`` and
``rerun`` commands do, shared with the web UI."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mstore.errors import UsageError
from mstore.model.records import RunStarted, RunState
from mstore.runs.plan import RunRequest, plan_run
from mstore.store.store import Store

if TYPE_CHECKING:
    from mstore.orchestration.settings import TemporalSettings
    from mstore.runs.estimate import StepEstimate


@dataclass
class Started:
    run: RunStarted
    temporal_url: str
    selected: int = 0  # units the selection held before the sample / the caps

    def unserved(self, served: tuple[str, ...]) -> list[tuple[str, str]]:
        """(step, resource class) of the steps a worker serving ``served`` does not run."""
        return [(s.name, s.resource) for s in self.run.steps if s.resource not in served]


def start_run(store: Store, req: RunRequest, *, chunk_size: int = 0,
              chunks_per_history: int = 400, heartbeat_timeout_s: float = 60.0) -> Started:
    from mstore.orchestration import handoff, server
    from mstore.orchestration.inputs import run_input
    from mstore.orchestration.settings import worker_settings

    planned = plan_run(store, req)  # every check of the request, before anything is written
    rec, units = planned.record, planned.units
    ts = server.ensure_running(store)  # no server: nothing recorded
    rec.units_object = store.objects.put(units)
    store.write_records([rec])  # flushes the unit list (an object) before the record
    first = next((s.resource for s in rec.steps if s.shape != "aggregate"), "")
    inp = run_input(ts, store.machine_id, rec, chunk_size=chunk_size,
                    chunks_per_history=chunks_per_history,
                    heartbeat_timeout_s=heartbeat_timeout_s,
                    processes=worker_settings(store).slots(first) if first else 0)
    try:
        # a worker of this store that is connected starts it; else a client of our own
        if not handoff.start(server.state_dir(store), ts, inp):
            from mstore.orchestration import client

            client.start(ts, inp)
    except Exception as e:
        store.write_records([RunState(hlc=0, run=rec.run, state="failed",
                                       detail=f"could not start on Temporal: {e}")])
        raise UsageError(f"run {rec.run} could not start on Temporal: {e}") from e
    return Started(rec, ts.run_url(rec.run), planned.selected)


def dry_run(store: Store, req: RunRequest) -> tuple[Started, dict]:
    """``run --dry-run``: the plan (every check of the real run) and what it would be and
    cost, as ``--json`` gives it (docs/cli.md): per step its pin and params and, for a
    per-asset step, the units it would reuse and compute and the tool time measured in
    earlier runs (runs/estimate.py). Nothing is recorded, stored or started."""
    from mstore.orchestration.settings import worker_settings
    from mstore.runs.estimate import estimate

    planned = plan_run(store, req)
    r = planned.record
    first = next((s.resource for s in r.steps if s.shape != "aggregate"), "cpu")
    processes = worker_settings(store).slots(first)
    with store.reader() as reader:
        costs, wall, looked = estimate(reader, r, planned.unit_ids, processes)
    cost = {e.name: _cost(e) for e in costs}
    steps = [{"name": st.name, "tool": st.tool, "version": st.version, "params": st.params,
              "shape": st.shape, "resource": st.resource, **cost.get(st.name, _NO_COST)}
             for st in r.steps]
    return Started(r, "", planned.selected), {
        "dry_run": True, "pipeline": r.pipeline, "policy": r.policy, "units": r.total,
        "selected": planned.selected, "sample": r.sample or None, "steps": steps,
        "processes": processes, "estimate_s": round(wall, 1) if wall is not None else None,
        "units_followed": looked}


# an aggregate step's cost: not estimated
_NO_COST = dict.fromkeys(("applies", "reuse", "compute", "ms_per_unit", "measured_in",
                          "same_params", "seconds"))


def _cost(e: StepEstimate) -> dict:
    """A per-asset step's estimate as the dry run's JSON has it (null where unmeasured)."""
    return {"applies": e.applies, "reuse": e.reuse, "compute": e.compute,
            # measured at 0 ms (units faster than the records' millisecond) is a measure
            "ms_per_unit": round(e.ms_per_unit, 1) if e.ms_per_unit is not None else None,
            "measured_in": e.basis or None, "same_params": e.same_params if e.basis else None,
            "seconds": round(e.seconds, 1) if e.seconds is not None else None}


def steer(store: Store, run_id: str, action: str) -> str:
    """pause / resume / cancel: tell the workflow and record the new state.

    Pause signals first, then records "paused": the running chunks stop at their next unit
    when they read that record, and by then the workflow knows it is paused, so it keeps
    their remaining units for the resume instead of handing them out again. Resume
    records "running" first (chunks started after it must not read "paused"), then
    signals. Cancel records first: the record alone ends the run (its chunks stop at their
    next unit; the finish keeps "cancelled"), so a workflow that is already gone from
    Temporal does not keep a run from being cancelled."""
    from mstore.orchestration import handoff, server
    from mstore.orchestration.settings import settings

    with store.reader() as r:
        info = r.run(run_id)
    if info is None:
        raise UsageError(f"no run '{run_id}'")
    if info.state in ("completed", "failed", "cancelled"):
        raise UsageError(f"run {run_id} is already {info.state}")
    state = {"pause": "paused", "resume": "running", "cancel": "cancelled"}[action]
    record = [RunState(hlc=0, run=run_id, state=state, detail=f"by {action}")]
    ts = settings(store)
    if ts.embedded:
        server.start_server(store, ts)
    if action != "pause":
        store.write_records(record)
    # a worker of this store that is connected tells Temporal; else a client of our own,
    # which also says what went wrong
    if not handoff.steer(server.state_dir(store), ts, run_id, action):
        _steer_with_client(ts, run_id, action)
    if action == "pause":
        store.write_records(record)
    return state


def _steer_with_client(ts: TemporalSettings, run_id: str, action: str) -> None:
    from mstore.orchestration import client

    try:
        if action == "cancel":
            client.cancel(ts, run_id)
        else:
            client.signal(ts, run_id, action)
    except client.WorkflowGone:
        if action == "cancel":
            return  # recorded: nothing on Temporal is left to stop
        raise UsageError(f"run {run_id} has no workflow on Temporal any more (its server "
                         f"lost it?): 'mstore cancel {run_id}' ends it, 'mstore rerun' or "
                         "a new run with the same pipeline and selection reuses its results"
                         ) from None
    except client.Unreachable as e:
        if action == "cancel":
            raise client.Unreachable(f"run {run_id} is recorded cancelled, but {e.message}: "
                                     "its chunks stop when they read the record") from None
        raise client.Unreachable(f"could not {action} run {run_id}: {e.message}") from None


def rerun_failed(store: Store, run_id: str) -> Started:
    """A new run over the units that failed in ``run_id``, linked to it."""
    from mstore.runs.pipelines import get_pipeline

    with store.reader() as r:
        info = r.run(run_id)
        if info is None or info.started is None:
            raise UsageError(f"no run '{run_id}'")
        failed = sorted({u for _s, u, st in r.units(run_id)
                         if st.status == "failed" and u != "*"})
    old = info.started
    if not failed and not any(s.shape == "aggregate" for s in old.steps):
        raise UsageError(f"run {run_id} has no failed units")
    pipeline = get_pipeline(store.root, old.pipeline)
    params = {s.name: s.params for s in old.steps}
    req = RunRequest(pipeline=pipeline, selection=old.selection, policy=old.policy,
                     params=params, parent=run_id, units=failed, force=old.force)
    return start_run(store, req)
