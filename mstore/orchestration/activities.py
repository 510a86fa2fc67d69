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
    GiveUpInput,
    WorkerState,
    aggregate,
    chunk,
    give_up,
)

__all__ = ["MAX_CONTEXTS", "SETTLED_FLUSH_S", "STATE", "AggregateInput", "ChunkInput",
           "ChunkOutput", "FinishInput", "GiveUpInput", "WorkerState", "finish_run",
           "give_up_units", "queue_servers", "run_aggregate", "run_aggregate_in_process",
           "run_chunk", "run_chunk_in_process"]

STATE = WorkerState()  # this process's (the io queue's and the finish's)
# set by the worker when this copy pulls from and pushes to a coordinating store
# ([worker] push): before a chunk, pull(store); after it, push(store)
RELAY: list = []
IDENTITY_PREFIX = "mstore"  # a worker's identity: "mstore <machine id> <host> <pid>"


def identity(machine: str, host: str, pid: int) -> str:
    return f"{IDENTITY_PREFIX} {machine} {host} {pid}"


def identity_parts(ident: str) -> tuple[str, str, str] | None:
    """(machine id, host, pid) of an mstore worker's identity; None for another's."""
    parts = ident.split()
    if len(parts) != 4 or parts[0] != IDENTITY_PREFIX:
        return None
    return parts[1], parts[2], parts[3]


def _relayed(store_id: str, work):  # noqa: ANN001, ANN202
    """``work()`` between a pull and a push of the store ([worker] push), if configured."""
    if not RELAY:
        return work()
    relay = RELAY[0]
    store = STATE.open(STATE.path_of(store_id))[0]
    relay.pull(store)
    out = work()
    relay.push(store)
    return out


@activity.defn(name="mstore-run-chunk", no_thread_cancel_exception=True)
def run_chunk(inp: ChunkInput) -> ChunkOutput:
    return _relayed(inp.store, lambda: chunk(STATE, inp, activity.heartbeat,
                                             activity.is_cancelled))


@activity.defn(name="mstore-run-aggregate", no_thread_cancel_exception=True)
def run_aggregate(inp: AggregateInput) -> ChunkOutput:
    return _relayed(inp.store, lambda: aggregate(STATE, inp, activity.heartbeat))


def _pool():  # noqa: ANN202 - procs.ProcPool
    from mstore.orchestration import procs

    return procs.pool_for(activity.info().task_queue)


@activity.defn(name="mstore-run-chunk", no_thread_cancel_exception=True)
def run_chunk_in_process(inp: ChunkInput) -> ChunkOutput:
    return _relayed(inp.store, lambda: _pool().run("chunk", inp, activity.heartbeat,
                                                   activity.is_cancelled))


@activity.defn(name="mstore-run-aggregate", no_thread_cancel_exception=True)
def run_aggregate_in_process(inp: AggregateInput) -> ChunkOutput:
    return _relayed(inp.store, lambda: _pool().run("aggregate", inp, activity.heartbeat,
                                                   activity.is_cancelled))


@activity.defn(name="mstore-run-servers")
async def queue_servers(task_queue: str) -> list[str]:
    """The copies (machine ids) whose workers poll ``task_queue`` now: where units one
    worker declined can go."""
    from mstore.orchestration.pollers import activity_pollers

    return sorted({parts[0] for ident in await activity_pollers(activity.client(), task_queue)
                   if (parts := identity_parts(ident)) is not None})


@activity.defn(name="mstore-run-give-up")
def give_up_units(inp: GiveUpInput) -> int:
    n = give_up(STATE, inp)
    if RELAY:
        RELAY[0].push(STATE.open(STATE.path_of(inp.store))[0])
    return n


@activity.defn(name="mstore-run-finish")
def finish_run(inp: FinishInput) -> str:
    from mstore.runs.finish import finish

    ctx = STATE.context(inp.store, inp.run_id)
    state = finish(ctx, cancelled=inp.cancelled, error=inp.error)
    STATE.forget(inp.run_id)  # the run is over (a retry reloads it)
    return state
