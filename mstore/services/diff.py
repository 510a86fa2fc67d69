"""``mstore diff RUN_A RUN_B``: what differs between two runs — the way to see what a
sandbox trial with other params changed before paying for a production run.

Per step: the tool and version each pinned, the params whose values differ, and, over
the units both runs have (an aggregate step: its one result), how many results are the
same (the same artifacts, reused, or ones with the same content: payload bytes or inline
data), how many differ, and how many exist in one run only (the other failed, found the
step not applicable, or has not reached it).
"""

from __future__ import annotations

import msgspec

from mstore.errors import UsageError
from mstore.model.records import RunStarted, StepSpec
from mstore.services import resolve
from mstore.store.store import Store


def diff_runs(store: Store, a_text: str, b_text: str) -> dict:
    """The diff of the runs ``a_text`` and ``b_text`` name (ids or unique prefixes)."""
    store.catch_up()
    a, b = resolve.run(store, a_text), resolve.run(store, b_text)
    with store.reader() as r:
        runs = []
        for rid in (a, b):
            info = r.run(rid)
            if info is None or info.started is None:
                raise UsageError(f"run {rid} has no RunStarted record here (not synced yet?)")
            runs.append(info.started)
        ra, rb = runs
        ua, ub = _units(store, ra), _units(store, rb)
        set_a, set_b = set(ua), set(ub)
        both = [u for u in ua if u in set_b]
        steps_a = {s.name: s for s in ra.steps}
        steps_b = {s.name: s for s in rb.steps}
        names = [s.name for s in ra.steps] + [s.name for s in rb.steps if s.name not in steps_a]
        steps = []
        for name in names:
            sa, sb = steps_a.get(name), steps_b.get(name)
            # an aggregate step has one result for the whole run, unit "*"
            over = ["*"] if sa is not None and sa.shape == "aggregate" else both
            counts = (_compare(r, ra.run, rb.run, name, over) if sa is not None and sb is not None
                      else {"same": 0, "differs": 0, "one_only": 0})
            steps.append({"name": name, "a": _pinned(sa), "b": _pinned(sb),
                          "params": _param_changes(sa, sb), **counts})
    return {"a": _summary(ra, len(ua)), "b": _summary(rb, len(ub)),
            "units": {"both": len(both), "only_a": len(ua) - len(both),
                      "only_b": sum(1 for u in ub if u not in set_a)},
            "steps": steps}


def _units(store: Store, rs: RunStarted) -> list[str]:
    units = store.run_units(rs)
    if units is None:
        raise UsageError(f"run {rs.run}: its unit list is not in this copy yet (mstore pull)")
    return units


def _summary(rs: RunStarted, units: int) -> dict:
    return {"run": rs.run, "pipeline": rs.pipeline, "policy": rs.policy,
            "selection": rs.selection, "sample": rs.sample or None, "units": units}


def _pinned(s: StepSpec | None) -> str | None:
    return None if s is None else f"{s.tool}@{s.version}"


def _param_changes(sa: StepSpec | None, sb: StepSpec | None) -> dict[str, list]:
    """key -> [value in a, value in b] for each param whose value differs (null: unset)."""
    pa = sa.params if sa is not None else {}
    pb = sb.params if sb is not None else {}
    return {k: [pa.get(k), pb.get(k)] for k in sorted(pa.keys() | pb.keys())
            if pa.get(k) != pb.get(k)}


def _compare(r, run_a: str, run_b: str, step: str, units: list[str]  # noqa: ANN001
             ) -> dict[str, int]:
    """Over ``units``: results of ``step`` the same in both runs, different, or in one."""
    made_a = _results(r, run_a, step)
    made_b = _results(r, run_b, step)
    same = differs = one_only = 0
    for u in units:
        xa, xb = made_a.get(u), made_b.get(u)
        if not xa and not xb:
            continue
        if not xa or not xb:
            one_only += 1
        elif sorted(xa) == sorted(xb) or _contents(r, xa) == _contents(r, xb):
            same += 1
        else:
            differs += 1
    return {"same": same, "differs": differs, "one_only": one_only}


def _results(r, run: str, step: str) -> dict[str, list[str]]:  # noqa: ANN001
    """unit -> the artifact ids a run's step has for it (made or reused), done units only."""
    return {unit: st.artifacts for _s, unit, st in r.units(run, step)
            if st.status in ("done", "reused") and st.artifacts}


def _contents(r, ids: list[str]) -> list[tuple[str, str, bytes]]:  # noqa: ANN001
    """What a unit's results hold, in no particular order (an aggregate's groups come in
    any): each artifact's kind and payload or inline data."""
    out = []
    for aid in ids:
        art = r.artifact(aid)
        out.append(("", aid, b"") if art is None else  # not here: only its id compares
                   (art.kind, art.payload, msgspec.json.encode(art.data)))
    return sorted(out)
