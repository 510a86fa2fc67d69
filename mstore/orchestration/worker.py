"""``mstore worker``: Temporal workers for a store's task queues.

One process serves the workflow queue (the run workflows, and the finish activity every
run ends with) and the activity queues of the resource classes it declares
(``WorkerSettings``: cpu, io, gpu, and how many of each at once):

- ``cpu`` and ``gpu``: a pool of tool processes per queue (``procs.py``), as many as the
  queue's concurrency, each loading the tools it runs once and serving many chunks (the
  pool takes one chunk more, which waits for a process);
- ``io``: threads of this process (tools that wait on files or the network need no core).

A background thread flushes this process's buffered records every half second (the
tool processes do the same for theirs), so results show up while a chunk is still
running (every 2 s once a run is older than a minute, so a long run does not leave
thousands of tiny segments).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.worker import Worker

from mstore.orchestration import handoff, procs
from mstore.orchestration.activities import (
    RELAY,
    STATE,
    finish_run,
    give_up_units,
    identity,
    queue_servers,
    run_aggregate,
    run_aggregate_in_process,
    run_chunk,
    run_chunk_in_process,
)
from mstore.orchestration.client import Steering, connect
from mstore.orchestration.relay import Relay
from mstore.orchestration.server import state_dir
from mstore.orchestration.settings import TemporalSettings, WorkerSettings
from mstore.orchestration.workflows import RunWorkflow

THREAD_SERVED = ("io",)  # the other classes run in tool processes
CONTROL_SLOTS = 4  # finish activities at once (short bookkeeping)


def _slots(ws: WorkerSettings, queue: str) -> int:
    """Activities taken at once from ``queue``: a process-served one's pool also holds
    the next chunk while its processes work (procs.PREFETCH)."""
    return ws.slots(queue) + (0 if queue in THREAD_SERVED else procs.PREFETCH)


async def serve(store_dir: str, ts: TemporalSettings, ws: WorkerSettings,
                stop: asyncio.Event | None = None, runtime: Runtime | None = None,
                relay: Relay | None = None) -> None:
    store = STATE.open(store_dir)[0]  # take a writer lane now: fail early if unusable
    machine = store.machine_id
    # the identity names this copy, so a run can hand a unit one copy declined to another
    ts = replace(ts, identity=identity(machine, socket.gethostname(), os.getpid()))
    client = await connect(ts, runtime)

    # ``mstore run``, ``pause``, ``resume`` and ``cancel`` on this machine hand what they
    # would tell Temporal to this client (handoff.py)
    try:
        close_starts = await handoff.listen(state_dir(store), ts, Steering(client))
    except OSError as e:  # a file system without Unix sockets (some network shares)
        print(f"mstore worker: no socket for starting runs ({e.strerror}); `mstore run` "
              "connects to Temporal itself", file=sys.stderr)
        close_starts = None
    stop = stop or asyncio.Event()
    if relay is not None:
        RELAY[:] = [relay]
    pools: dict[str, procs.ProcPool] = {}
    workers: list[Worker] = []
    tasks: list[asyncio.Task] = []
    flusher_stop = STATE.start_flusher()
    pusher_stop = relay.start_timer(lambda: STATE.open(store_dir)[0]) if relay else None
    try:
        for q in ws.queues:
            if q not in THREAD_SERVED:
                pools[q] = procs.ProcPool(store_dir, ws.slots(q), f"mstore-{q}")
                for name in (ts.queue(q), f"{ts.queue(q)}@{machine}"):
                    procs.register(name, pools[q])
        # every activity holds a thread: an io one works in it, a process-served one
        # relays its tool process
        threads = sum(2 * _slots(ws, q) for q in ws.queues) + 2 * CONTROL_SLOTS
        with ThreadPoolExecutor(max_workers=threads) as pool:
            control = [finish_run, give_up_units, queue_servers]
            workers.append(Worker(client, task_queue=ts.workflow_queue, workflows=[RunWorkflow],
                                  activities=[] if relay else control, activity_executor=pool,
                                  max_concurrent_activities=CONTROL_SLOTS))
            # this copy's own bookkeeping: the runs it started end here
            workers.append(Worker(client, task_queue=ts.control_queue(machine),
                                  activities=control, activity_executor=pool,
                                  max_concurrent_activities=CONTROL_SLOTS))
            for q in ws.queues:
                fns = ([run_chunk, run_aggregate] if q in THREAD_SERVED
                       else [run_chunk_in_process, run_aggregate_in_process])
                # the class's queue, and this copy's own (units other copies declined)
                for name in (ts.queue(q), f"{ts.queue(q)}@{machine}"):
                    workers.append(Worker(client, task_queue=name, activities=fns,
                                          activity_executor=pool,
                                          max_concurrent_activities=_slots(ws, q)))
            tasks += [asyncio.create_task(w.run()) for w in workers]
            await stop.wait()
            for w in workers:
                await w.shutdown()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        if close_starts is not None:
            await close_starts()
        for q, p in pools.items():
            procs.unregister(ts.queue(q))
            procs.unregister(f"{ts.queue(q)}@{machine}")
            p.close()
        flusher_stop.set()
        STATE.flush_all()
        if pusher_stop is not None:
            pusher_stop.set()
        if relay is not None:
            relay.push(store)  # what the last chunks wrote
            RELAY.clear()
    del workers, tasks, client, close_starts  # inside the loop: see client.call
    gc.collect()


def run_worker(store_dir: str, ts: TemporalSettings, ws: WorkerSettings,
               relay: Relay | None = None) -> None:
    # a runtime of its own, shut down (its threads joined) before the interpreter exits:
    # see mstore.orchestration.client.call
    runtime = [Runtime(telemetry=TelemetryConfig())]  # a list: emptied to drop it

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(store_dir, ts, ws, stop, runtime[0], relay)

    try:
        asyncio.run(main())
    finally:
        gc.collect()
        runtime.clear()
