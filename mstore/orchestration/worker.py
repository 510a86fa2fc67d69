"""``mstore worker``: Temporal workers for a store's task queues.

One process serves the workflow queue and the activity queues of the resource
classes it is given (cpu, io, gpu), running activities in a thread pool of
``concurrency`` threads. A background thread flushes buffered records every half
second so results show up while a chunk is still running (every 2 s once a run is
older than a minute, so a long run does not leave thousands of tiny segments).
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

from temporalio.runtime import Runtime, TelemetryConfig
from temporalio.worker import Worker

from mstore.orchestration.activities import (
    SETTLED_FLUSH_S,
    STATE,
    finish_run,
    run_aggregate,
    run_chunk,
)
from mstore.orchestration.client import connect
from mstore.orchestration.settings import TemporalSettings
from mstore.orchestration.workflows import RunWorkflow

FLUSH_EVERY = 0.5


async def serve(store_dir: str, ts: TemporalSettings, queues: list[str], concurrency: int,
                stop: asyncio.Event | None = None, runtime: Runtime | None = None) -> None:
    client = await connect(ts, runtime)
    stop = stop or asyncio.Event()
    STATE.open(store_dir)  # take a writer lane now: fail early if the store is unusable
    flusher_stop = threading.Event()

    def flusher() -> None:
        while not flusher_stop.wait(FLUSH_EVERY):
            STATE.flush_all(every_s=SETTLED_FLUSH_S)

    threading.Thread(target=flusher, daemon=True).start()
    with ThreadPoolExecutor(max_workers=concurrency + 1) as pool:
        workers = [Worker(client, task_queue=ts.workflow_queue, workflows=[RunWorkflow])]
        for q in queues:
            workers.append(Worker(client, task_queue=ts.queue(q),
                                  activities=[run_chunk, run_aggregate, finish_run],
                                  activity_executor=pool,
                                  max_concurrent_activities=concurrency))
        tasks = [asyncio.create_task(w.run()) for w in workers]
        await stop.wait()
        for w in workers:
            await w.shutdown()
        await asyncio.gather(*tasks, return_exceptions=True)
    flusher_stop.set()
    STATE.flush_all()
    del workers, tasks, client  # inside the loop: see client.call
    gc.collect()


def run_worker(store_dir: str, ts: TemporalSettings, queues: list[str],
               concurrency: int | None = None) -> None:
    concurrency = concurrency or max(1, os.cpu_count() or 1)
    # a runtime of its own, shut down (its threads joined) before the interpreter exits:
    # see mstore.orchestration.client.call
    runtime = [Runtime(telemetry=TelemetryConfig())]  # a list: emptied to drop it

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await serve(store_dir, ts, queues, concurrency, stop, runtime[0])

    try:
        asyncio.run(main())
    finally:
        gc.collect()
        runtime.clear()
