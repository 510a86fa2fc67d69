"""``mstore worker``: Temporal workers for a store's task queues.

One process serves the workflow queue (the run workflows, and the finish activity every
run ends with) and the activity queues of the resource classes it declares
(``WorkerSettings``: cpu, io, gpu, and how many of each at once):

- ``cpu`` and ``gpu``: a pool of tool processes per queue (``procs.py``), as many as the
  queue's concurrency, each loading the tools it runs once and serving many chunks;
- ``io``: threads of this process (tools that wait on files or the network need no core).

A background thread flushes this process's buffered records every half second (the
tool processes do the same for theirs), so results show up while a chunk is still
running (every 2 s once a run is older than a minute, so a long run does not leave
thousands of tiny segments).
"""

from __future__ import annotations

import asyncio
import gc
import signal
from concurrent.futures import ThreadPoolExecutor

from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.worker import Worker

from mstore.orchestration import procs
from mstore.orchestration.activities import (
    STATE,
    finish_run,
    run_aggregate,
    run_aggregate_in_process,
    run_chunk,
    run_chunk_in_process,
)
from mstore.orchestration.client import connect
from mstore.orchestration.settings import TemporalSettings, WorkerSettings
from mstore.orchestration.workflows import RunWorkflow

THREAD_SERVED = ("io",)  # the other classes run in tool processes
CONTROL_SLOTS = 4  # finish activities at once (short bookkeeping)


async def serve(store_dir: str, ts: TemporalSettings, ws: WorkerSettings,
                stop: asyncio.Event | None = None, runtime: Runtime | None = None) -> None:
    client = await connect(ts, runtime)
    stop = stop or asyncio.Event()
    STATE.open(store_dir)  # take a writer lane now: fail early if the store is unusable
    pools: dict[str, procs.ProcPool] = {}
    workers: list[Worker] = []
    tasks: list[asyncio.Task] = []
    flusher_stop = STATE.start_flusher()
    try:
        for q in ws.queues:
            if q not in THREAD_SERVED:
                pools[q] = procs.ProcPool(store_dir, ws.slots(q), f"mstore-{q}")
                procs.register(ts.queue(q), pools[q])
        # every activity holds a thread: an io one works in it, a process-served one
        # relays its tool process
        threads = sum(ws.slots(q) for q in ws.queues) + CONTROL_SLOTS
        with ThreadPoolExecutor(max_workers=threads) as pool:
            workers.append(Worker(client, task_queue=ts.workflow_queue, workflows=[RunWorkflow],
                                  activities=[finish_run], activity_executor=pool,
                                  max_concurrent_activities=CONTROL_SLOTS))
            for q in ws.queues:
                fns = ([run_chunk, run_aggregate] if q in THREAD_SERVED
                       else [run_chunk_in_process, run_aggregate_in_process])
                workers.append(Worker(client, task_queue=ts.queue(q), activities=fns,
                                      activity_executor=pool,
                                      max_concurrent_activities=ws.slots(q)))
            tasks += [asyncio.create_task(w.run()) for w in workers]
            await stop.wait()
            for w in workers:
                await w.shutdown()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        for q, p in pools.items():
            procs.unregister(ts.queue(q))
            p.close()
        flusher_stop.set()
        STATE.flush_all()
    del workers, tasks, client  # inside the loop: see client.call
    gc.collect()


def run_worker(store_dir: str, ts: TemporalSettings, ws: WorkerSettings) -> None:
    # a runtime of its own, shut down (its threads joined) before the interpreter exits:
    # see mstore.orchestration.client.call
    runtime = [Runtime(telemetry=TelemetryConfig())]  # a list: emptied to drop it

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(store_dir, ts, ws, stop, runtime[0])

    try:
        asyncio.run(main())
    finally:
        gc.collect()
        runtime.clear()
