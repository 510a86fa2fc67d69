"""The end of a run: its final state, recorded, and the post-run hook."""

from __future__ import annotations

import sys

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
    _warm_vector_index(ctx)
    run_hook(store.layout.hooks, "post-run", store.root, [ctx.run.run, state])
    return state


WARM_MAX = 50_000  # embeddings a finish adds to the vector index; more wait for a query


def _warm_vector_index(ctx: RunContext) -> None:
    """A run that made embeddings brings this machine's vector index up to date, so the
    first ``similar:`` query does not pay for it (docs/similar.md). Bounded: a bigger run
    leaves the work to that query, as the finish has minutes, not hours. The index is a
    cache: failing to update it never fails the run."""
    from mstore.query import vectors

    steps = [s.name for s in ctx.run.steps if s.tool in vectors.EMBED_TOOLS]
    if not steps:
        return
    try:
        with ctx.store.reader() as r:
            info = r.run(ctx.run.run)
            made = sum((info.per_step.get(s) or [0])[0] for s in steps) if info else 0
            if not 0 < made <= WARM_MAX:
                return
            art = next((a for a in r.run_artifacts(ctx.run.run, newest_first=False)
                        if a.kind == vectors.KIND), None)
        if art is not None:
            vectors.index_for(ctx.store, art)
    except ImportError:
        pass  # the 'similar' extra is not installed here: queries will say so
    except Exception as e:  # noqa: BLE001 - a cache; the query rebuilds it
        print(f"mstore: vector index not updated: {type(e).__name__}: {e}", file=sys.stderr)
