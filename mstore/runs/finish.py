"""The end of a run: its final state, recorded, and the post-run hook."""

from __future__ import annotations

from mstore.hooks import run_hook
from mstore.model.records import RunState
from mstore.runs.execute import RunContext
from mstore.store.reader import RunInfo


def final_state(info: RunInfo) -> str:
    """A production run is complete only when every unit is done; failures leave it
    'failed' until they are rerun or accepted. A sandbox run completes regardless."""
    if info.state == "cancelled":
        return "cancelled"
    if info.failed and info.started is not None and info.started.policy == "production":
        return "failed"
    return "completed"


def finish(ctx: RunContext, *, cancelled: bool = False, error: str = "") -> str:
    """Record the run's final state (``cancelled`` when its workflow was cancelled, which
    ``mstore cancel`` has usually recorded already; ``failed`` with ``error`` when the
    workflow gave up on an activity) and run the post-run hook."""
    ctx.writer.flush()
    store = ctx.store
    store.catch_up()
    with store.reader() as r:
        info = r.run(ctx.run.run)
    assert info is not None
    state = "cancelled" if cancelled or info.state == "cancelled" else (
        "failed" if error else final_state(info))
    if info.state != state:
        counts = (f"{info.done} done, {info.reused} reused, {info.failed} failed, "
                  f"{info.skipped} not applicable")
        ctx.writer.append(RunState(hlc=0, run=ctx.run.run, state=state,
                                   detail=f"{error} ({counts})" if error else counts))
        ctx.writer.flush()
    run_hook(store.layout.hooks, "post-run", store.root, [ctx.run.run, state])
    return state
