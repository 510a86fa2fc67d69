"""Activities: all I/O of a run. One dataclass input each; synchronous.

The work itself is in ``work.py``. Where it runs depends on the task queue: activities of
the ``io`` queue run in the worker's thread pool (they mostly wait); those of the ``cpu``
and ``gpu`` queues are handed to one of the worker's tool processes (``procs.py``) while
the activity's thread relays heartbeats and cancellation. ``finish_run`` runs on the
workflow queue, which every worker serves, so a run ends whatever resource classes the
machine that ends it serves.
"""

from __future__ import annotations

from temporalio import activity

from mstore.orchestration.work import (
    MAX_CONTEXTS,
    SETTLED_FLUSH_S,
    AggregateInput,
    ChunkInput,
    ChunkOutput,
    FinishInput,
    WorkerState,
    aggregate,
    chunk,
)

__all__ = ["MAX_CONTEXTS", "SETTLED_FLUSH_S", "STATE", "AggregateInput", "ChunkInput",
           "ChunkOutput", "FinishInput", "WorkerState", "finish_run", "run_aggregate",
           "run_aggregate_in_process", "run_chunk", "run_chunk_in_process"]

STATE = WorkerState()  # this process's (the io queue's and the finish's)


@activity.defn(name="mstore-run-chunk", no_thread_cancel_exception=True)
def run_chunk(inp: ChunkInput) -> ChunkOutput:
    return chunk(STATE, inp, activity.heartbeat, activity.is_cancelled)


@activity.defn(name="mstore-run-aggregate", no_thread_cancel_exception=True)
def run_aggregate(inp: AggregateInput) -> ChunkOutput:
    return aggregate(STATE, inp, activity.heartbeat)


def _pool():  # noqa: ANN202 - procs.ProcPool
    from mstore.orchestration import procs

    return procs.pool_for(activity.info().task_queue)


@activity.defn(name="mstore-run-chunk", no_thread_cancel_exception=True)
def run_chunk_in_process(inp: ChunkInput) -> ChunkOutput:
    return _pool().run("chunk", inp, activity.heartbeat, activity.is_cancelled)


@activity.defn(name="mstore-run-aggregate", no_thread_cancel_exception=True)
def run_aggregate_in_process(inp: AggregateInput) -> ChunkOutput:
    return _pool().run("aggregate", inp, activity.heartbeat, activity.is_cancelled)


@activity.defn(name="mstore-run-finish")
def finish_run(inp: FinishInput) -> str:
    from mstore.runs.finish import finish

    ctx = STATE.context(inp.store, inp.run_id)
    state = finish(ctx, cancelled=inp.cancelled, error=inp.error)
    STATE.forget(inp.run_id)  # the run is over (a retry reloads it)
    return state
