"""The run workflow: deterministic, no I/O. One workflow per run (id = run id).

It fans the run's units out in chunks to the activity queue of the run's resource
class with bounded concurrency, honours pause/resume signals (no new chunks start;
running ones finish), answers a progress query, runs aggregate steps after the
per-asset ones, and continues as new after ``chunks_per_history`` chunks so a
million units stay within history limits.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from mstore.orchestration.activities import (
        AggregateInput,
        ChunkInput,
        ChunkOutput,
        FinishInput,
        finish_run,
        run_aggregate,
        run_chunk,
    )


@dataclass
class RunInput:
    run_id: str
    store: str
    total: int
    chunk_size: int
    max_concurrency: int
    activity_queue: str
    aggregate_steps: list[str] = field(default_factory=list)
    next_start: int = 0  # where this history starts (after continue-as-new)
    chunks_per_history: int = 400
    heartbeat_timeout_s: float = 60.0
    paused: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # carried across continue-as-new


@dataclass
class Progress:
    total: int
    scheduled: int
    chunks_done: int
    paused: bool
    done: int
    reused: int
    failed: int


RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                    maximum_interval=timedelta(seconds=30), maximum_attempts=10)


@workflow.defn(name="mstore-run")
class RunWorkflow:
    def __init__(self) -> None:
        self._paused = False
        self._scheduled = 0
        self._chunks_done = 0
        self._total = 0
        self._counts: dict[str, int] = {"done": 0, "reused": 0, "failed": 0}

    @workflow.signal
    def pause(self) -> None:
        self._paused = True

    @workflow.signal
    def resume(self) -> None:
        self._paused = False

    @workflow.query
    def progress(self) -> Progress:
        return Progress(total=self._total, scheduled=self._scheduled,
                        chunks_done=self._chunks_done, paused=self._paused,
                        done=self._counts["done"], reused=self._counts["reused"],
                        failed=self._counts["failed"])

    def _activity(self, fn, arg, timeout: timedelta, hb: float):  # noqa: ANN001, ANN202
        return workflow.execute_activity(
            fn, arg, task_queue=self._queue, start_to_close_timeout=timeout,
            heartbeat_timeout=timedelta(seconds=hb), retry_policy=RETRY)

    @workflow.run
    async def run(self, inp: RunInput) -> str:
        self._pending: set[asyncio.Task[ChunkOutput]] = set()
        try:
            return await self._run(inp)
        except asyncio.CancelledError:
            # cancelled (``mstore cancel``, or from Temporal itself): ask the running chunks
            # to stop, record the state in the store (the truth) and run the post-run hook
            for task in self._pending:
                task.cancel()
            await self._activity(finish_run, FinishInput(inp.store, inp.run_id, cancelled=True),
                                 timedelta(minutes=10), 120.0)
            raise

    async def _run(self, inp: RunInput) -> str:
        self._paused = inp.paused
        self._total = inp.total
        self._queue = inp.activity_queue
        self._scheduled = inp.next_start
        for k, v in inp.counts.items():
            self._counts[k] = v
        start = inp.next_start
        pending = self._pending
        started_here = 0
        while start < inp.total or pending:
            can_start = (start < inp.total and not self._paused
                         and started_here < inp.chunks_per_history)
            while can_start and len(pending) < inp.max_concurrency:
                end = min(start + inp.chunk_size, inp.total)
                pending.add(asyncio.ensure_future(self._activity(
                    run_chunk, ChunkInput(inp.store, inp.run_id, start, end),
                    timedelta(hours=6), inp.heartbeat_timeout_s)))
                start = end
                self._scheduled = start
                started_here += 1
                can_start = (start < inp.total and not self._paused
                             and started_here < inp.chunks_per_history)
            if not pending:
                if start < inp.total and started_here >= inp.chunks_per_history:
                    workflow.continue_as_new(RunInput(
                        **{**inp.__dict__, "next_start": start, "paused": self._paused,
                           "counts": dict(self._counts)}))
                # paused with nothing in flight: wait for a resume
                await workflow.wait_condition(lambda: not self._paused)
                continue
            done, _still = await workflow.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.difference_update(done)
            for task in done:
                out = task.result()
                self._chunks_done += 1
                for k in ("done", "reused", "failed"):
                    self._counts[k] += getattr(out, k)
        for step in inp.aggregate_steps:
            await self._activity(run_aggregate, AggregateInput(inp.store, inp.run_id, step),
                                 timedelta(hours=12), max(inp.heartbeat_timeout_s, 300.0))
        state = await self._activity(finish_run, FinishInput(inp.store, inp.run_id),
                                     timedelta(minutes=10), 120.0)
        return state
