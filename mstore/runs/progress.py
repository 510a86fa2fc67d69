"""Reading a run's progress from the store: counts, throughput, ETA, failures.

Everything comes from coverage records in the index, so it is right while the run
is executing and after it ended, on any machine that has the records."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from mstore.model.meta import KINDS
from mstore.model.records import RunStarted
from mstore.store.reader import Reader, RunInfo
from mstore.store.store import Store

TERMINAL = ("completed", "failed", "cancelled")


@dataclass
class RunView:
    id: str
    pipeline: str
    policy: str
    state: str
    total: int  # units
    steps: list[str]
    done: int  # units with every applicable step done, reused or skipped (not applicable)
    failed: int  # units with a failed step
    step_counts: dict[str, dict[str, int]]
    started_ms: int
    last_ms: int
    throughput: float  # units per second
    eta_s: float | None
    artifacts: int
    selection: str = ""
    sample: str = ""
    parent: str = ""
    state_detail: str = ""
    failures: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


# views of ended runs that an older index applied (no unit counts: a view reads every
# unit), by what the view is computed from: the dashboard asks for every run every
# second, and such a view never changes unless records about the run still arrive (a
# sync), which changes the key. Runs with unit counts cost a few lookups: not kept.
_ENDED: dict[tuple, RunView] = {}
_ENDED_MAX = 256


# a run's unit list and its assets' kinds never change: counted once per run (the run page
# and the dashboard ask every second)
_KINDS: dict[tuple[str, str], dict[str, int]] = {}


def unit_kinds(store: Store, r: Reader, rs: RunStarted) -> dict[str, int] | None:
    """The run's units by asset kind ("": the asset record has not arrived here yet); None
    while the unit list itself has not been synced here. Kept once complete."""
    key = (str(store.root), rs.run)
    if key in _KINDS:
        return _KINDS[key]
    units = store.run_units(rs)
    if units is None:
        return None
    by_kind: dict[str, int] = {}
    for aid in units:
        a = r.asset(aid)
        k = a.meta.kind if a else ""
        by_kind[k] = by_kind.get(k, 0) + 1
    if "" not in by_kind:
        if len(_KINDS) >= 256:
            _KINDS.pop(next(iter(_KINDS)))
        _KINDS[key] = by_kind
    return by_kind


def idle_units(store: Store, r: Reader, rs: RunStarted) -> int:
    """Units that no per-asset step applies to (a video in ``dedupe``, whose hashes are
    images'): there is nothing to do for them, so they count as done from the start. No
    read of the units unless some step (an aggregate one) takes kinds the per-asset steps
    do not."""
    per_asset = [set(s.kinds or KINDS) for s in rs.steps if s.shape == "per-asset"]
    handled = set().union(*per_asset)
    if all(set(s.kinds or KINDS) <= handled for s in rs.steps):
        return 0
    kinds = unit_kinds(store, r, rs)
    return sum(n for k, n in (kinds or {}).items() if k and k not in handled)


def view(store: Store, run_id: str, *, failures: int = 50) -> RunView | None:
    with store.reader() as r:
        info = r.run(run_id)
        if info is None or info.started is None:
            return None
        key = (str(store.root), run_id, failures, info.state, info.state_hlc, info.done,
               info.reused, info.failed, info.artifacts, info.last_unit_ms)
        cacheable = info.state in TERMINAL and not info.unit_counts
        if cacheable and key in _ENDED:
            return _ENDED[key]
        rs = info.started
        idle = idle_units(store, r, info.started)
        if info.unit_counts:  # kept by the index as records arrive: no scan of the units
            done, failed = info.units_done, info.units_failed
            fails = [{"unit": unit, "step": step, "error": st.error, "attempts": st.attempts}
                     for step, unit, st in r.failures(run_id, failures)]
        else:  # a run applied by an older mstore: count it from its units
            done, failed, fails = _count_units(r, info, failures)
    step_counts = {name: {"done": c[0], "reused": c[1], "failed": c[2], "ms": c[3],
                          "skipped": c[4] if len(c) > 4 else 0}
                   for name, c in info.per_step.items()}
    started_ms = rs.hlc >> 16
    last = info.last_unit_ms or started_ms
    # a live run's rate is measured up to now, so a stalled run shows its rate falling
    end_ms = last if info.state in TERMINAL or info.state == "paused" else int(time.time() * 1000)
    elapsed = max((end_ms - (info.first_unit_ms or started_ms)) / 1000, 1e-3)
    finished_units = done + failed  # processed ones: the rate is theirs
    rate = finished_units / elapsed if finished_units > 1 else 0.0
    done += idle
    remaining = max(rs.total - done - failed, 0)
    eta = remaining / rate if rate > 0 and info.state not in TERMINAL else None
    v = RunView(id=run_id, pipeline=rs.pipeline, policy=rs.policy, state=info.state,
                total=rs.total, steps=[s.name for s in rs.steps], done=done, failed=failed,
                step_counts=step_counts, started_ms=started_ms, last_ms=last,
                throughput=rate, eta_s=eta, artifacts=info.artifacts,
                selection=rs.selection, sample=rs.sample, parent=rs.parent,
                state_detail=info.state_detail, failures=fails)
    if cacheable:
        if len(_ENDED) >= _ENDED_MAX:
            _ENDED.pop(next(iter(_ENDED)))
        _ENDED[key] = v
    return v


def _count_units(r: Reader, info: RunInfo, failures: int) -> tuple[int, int, list[dict]]:
    """(done units, failed units, the first ``failures`` failures) by reading every unit."""
    rs = info.started
    assert rs is not None
    units = r.units(rs.run)
    per_asset = [s for s in rs.steps if s.shape == "per-asset"]
    by_unit: dict[str, dict[str, str]] = {}
    fails = []
    for step, unit, st in units:
        by_unit.setdefault(unit, {})[step] = st.status
        if st.status == "failed" and len(fails) < failures:
            fails.append({"unit": unit, "step": step, "error": st.error,
                          "attempts": st.attempts})
    # the per-asset steps that apply to each unit, by its kind
    done = failed = 0
    for unit, steps in by_unit.items():
        if unit == "*":
            continue
        if "failed" in steps.values():
            failed += 1
            continue
        a = r.asset(unit)
        kind = a.meta.kind if a else ""
        if {s.name for s in per_asset if not s.kinds or kind in s.kinds} <= set(steps):
            done += 1
    return done, failed, fails


def all_views(store: Store) -> list[RunView]:
    with store.reader() as r:
        ids = [rid for rid, info in r.runs() if info.started is not None]
    views = [v for rid in ids if (v := view(store, rid, failures=0)) is not None]
    return sorted(views, key=lambda v: v.started_ms, reverse=True)


def wait_until(store: Store, run_id: str, pred, timeout: float = 60.0) -> RunView:  # noqa: ANN001
    """Poll the store until ``pred(view)`` holds (for --follow, tests and benchmarks)."""
    deadline = time.monotonic() + timeout
    while True:
        store.catch_up()
        v = view(store, run_id)
        if v is not None and pred(v):
            return v
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id}: condition not met in {timeout}s "
                               f"(state {v.state if v else '?'})")
        time.sleep(0.2)
