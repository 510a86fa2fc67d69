"""How a dry run reports a step's cost (services/runs.py, cli/run_cmds.py)."""

from __future__ import annotations

from mstore.cli.run_cmds import _cost_text
from mstore.runs.estimate import StepEstimate
from mstore.services.runs import _cost


def test_a_step_measured_at_zero_ms_a_unit_has_a_time() -> None:
    """Units faster than the records' millisecond measure 0 ms a unit: a time of ~0 s,
    not "unknown" (nor a page that cannot show it)."""
    e = StepEstimate("metadata", applies=3, reuse=1, compute=2, ms_per_unit=0.0, basis="r7",
                     same_params=True, seconds=0.0)
    cost = _cost(e)
    assert (cost["ms_per_unit"], cost["seconds"], cost["measured_in"]) == (0.0, 0.0, "r7")
    assert _cost_text(cost) == "reuse 1, compute 2: ~0.0 s of tool time (0 ms a unit in r7)"
    unmeasured = _cost(StepEstimate("faces", applies=3, compute=3))
    assert (unmeasured["ms_per_unit"], unmeasured["seconds"]) == (None, None)
    assert _cost_text(unmeasured).endswith("time unknown (no earlier run computed it)")
