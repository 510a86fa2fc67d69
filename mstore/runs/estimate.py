"""What a planned run would cost, before it is paid for (``run --dry-run``).

Per per-asset step: how many units it applies to (its kinds), how many of those it would
reuse — the executor's own rule, followed unit by unit: the reuse key of (tool, version,
params, the asset and the upstream results), a live result of the run's policy under it
(runs/execute.py ``live_reusable``), so a step whose upstream must be computed is
computed too — and how many it would compute. The time is measured, not guessed: the
newest run that computed units of the same ``tool@version`` (with the same params when
one did) gives the tool time per unit; spread over the worker's tool processes it is the
wall time to expect. Aggregate steps are left unestimated (their one call's cost is not
per unit), and so is a step no run has computed yet. Over more than LOOKED_MAX units,
an evenly spaced LOOKED_MAX of them are followed and the counts scaled (a million units
would take half a minute to follow one by one).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from mstore.model.records import RunStarted, StepSpec
from mstore.runs.execute import live_reusable
from mstore.runs.lineage import reuse_key
from mstore.store.reader import Reader, RunInfo

SKIPPED = "-"  # the step does not apply to the unit (its kind, or an upstream's)
LOOKED_MAX = 20_000  # units followed unit by unit (~30 us each); past it, a sample


@dataclass
class StepEstimate:
    name: str
    applies: int = 0  # units of the step's kinds
    reuse: int = 0  # of them, with a live result of the run's policy already
    compute: int = 0  # the rest: the tool runs
    ms_per_unit: float | None = None  # tool time per computed unit, measured in ...
    basis: str = ""  # ... this run
    same_params: bool = False  # ... whose step had this step's params
    seconds: float | None = None  # compute x ms_per_unit (tool time, one process)


def estimate(r: Reader, rs: RunStarted, units: list[str], processes: int
             ) -> tuple[list[StepEstimate], float | None, int]:
    """Per-asset steps' estimates, the expected wall time of the whole run on
    ``processes`` tool processes (None when some step that computes has no measure),
    and how many of the units were followed (all of them, up to LOOKED_MAX)."""
    steps = [s for s in rs.steps if s.shape == "per-asset"]
    out = {s.name: StepEstimate(s.name) for s in steps}
    now_ms = int(time.time() * 1000)
    looked = units[::-(-len(units) // LOOKED_MAX)] if len(units) > LOOKED_MAX else units
    for aid in looked:
        asset = r.asset(aid)
        kind = asset.meta.kind if asset is not None else ""
        made: dict[str, list[str] | None | str] = {}  # reused ids, None: computed
        for s in steps:
            upstream = [made.get(n) for n in s.needs]
            if (s.kinds and kind not in s.kinds) or SKIPPED in upstream:
                made[s.name] = SKIPPED
                continue
            e = out[s.name]
            e.applies += 1
            if rs.force or None in upstream:
                made[s.name] = None
                e.compute += 1
                continue
            inputs = [aid, *(i for ids in upstream for i in ids or ())]
            key = reuse_key(s.tool, s.version, s.params, inputs)
            live = live_reusable(r.reusable(key), rs.policy, now_ms)
            if live:
                made[s.name] = [a.id for a in live]
                e.reuse += 1
            else:
                made[s.name] = None
                e.compute += 1
    if looked is not units:
        scale = len(units) / len(looked)
        for e in out.values():
            e.applies, e.reuse = round(e.applies * scale), round(e.reuse * scale)
            e.compute = e.applies - e.reuse
    runs = [info for _, info in r.runs() if info.started is not None]
    runs.sort(key=lambda info: info.started.hlc, reverse=True)  # type: ignore[union-attr]
    for s in steps:
        e = out[s.name]
        e.ms_per_unit, e.basis, e.same_params = _measure(runs, s)
        if e.ms_per_unit is not None:
            e.seconds = e.compute * e.ms_per_unit / 1000
    pending = [e for e in out.values() if e.compute]
    wall = (None if any(e.seconds is None for e in pending)
            else sum(e.seconds or 0 for e in pending) / max(processes, 1))
    return list(out.values()), wall, len(looked)


def _measure(runs: list[RunInfo], step: StepSpec) -> tuple[float | None, str, bool]:
    """(tool ms per computed unit, the run it was measured in, whether with the same
    params): the newest run that computed units of ``step``'s tool@version, one with
    the same params first."""
    fallback: tuple[float | None, str, bool] = (None, "", False)
    for info in runs:
        rs = info.started
        assert rs is not None
        for s in rs.steps:
            if (s.tool, s.version, s.shape) != (step.tool, step.version, step.shape):
                continue
            counts = info.per_step.get(s.name)
            computed = counts[0] + counts[2] if counts else 0  # done + failed
            if not computed:
                continue
            if s.params == step.params:
                return counts[3] / computed, rs.run, True
            if fallback[0] is None:
                fallback = (counts[3] / computed, rs.run, False)
    return fallback
