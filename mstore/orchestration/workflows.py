"""The run workflow: deterministic, no I/O. One workflow per run (id = run id).

It fans the run's units out in chunks with bounded concurrency (chunks sized to ~2 s of
work once the first ones have measured the run's speed: an activity costs ~15 ms of
orchestration), honours pause/resume signals, answers a progress query, runs aggregate
steps after the per-asset ones, and continues as new after ``chunks_per_history``
activities so a million units stay within history limits.

Each step runs on the task queue of its tool's resource class (cpu, io, gpu). The
per-asset steps form *stages*: runs of consecutive steps of one class. A chunk goes
through the stages in order, one activity each on that stage's queue, so a unit's gpu
step starts once its cpu steps are recorded, and waits — its units pending, the cpu
results visible — until a worker serves the gpu queue. Most pipelines are one stage:
one activity per chunk, as before. The final bookkeeping (``finish_run``) runs on the
workflow queue, which every worker serves.

Pause: no new chunk starts, and running chunks stop before their next unit (they read
the "paused" record ``mstore pause`` writes after its signal); the units a stopped chunk
did not reach are kept (``leftover``) and handed out first on resume — from its first
stage again when it stopped in a later one (covered unit-steps are skipped at the cost
of an index read). A chunk that fails for good (Temporal's retries used up, e.g. a disk
that stays full) ends the run "failed", recorded with the reason, instead of leaving it
"running" forever.
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, TimeoutError

with workflow.unsafe.imports_passed_through():
    from mstore.orchestration.activities import (
        AggregateInput,
        ChunkInput,
        ChunkOutput,
        FinishInput,
        GiveUpInput,
        finish_run,
        give_up_units,
        queue_servers,
        run_aggregate,
        run_chunk,
    )
    from mstore.orchestration.inputs import RunInput


def chunk_size(inp: RunInput, start: int, measured_units: int, measured_s: float,
               processes: int = 0) -> int:
    """How many units the chunk starting at unit ``start`` gets, after ``measured_units``
    units took ``measured_s`` seconds of work. ``processes``: the tool processes what is
    left is spread over (0, in runs started before their input said: over
    ``max_concurrency`` chunks, with no remainder folded in)."""
    if not inp.adaptive or measured_units < inp.chunk_size or measured_s <= 0:
        return inp.chunk_size
    per_unit = measured_s / measured_units
    want = int(inp.target_chunk_s / per_unit)
    left = inp.total - start
    least = math.ceil(inp.min_chunk_s / per_unit)
    # what is left spread out (guided self-scheduling): the chunks shrink as the run
    # ends, so the processes all end within one small chunk's time of each other
    spread = -(-left // (min(inp.max_concurrency, processes) or inp.max_concurrency))
    size = max(1, min(want, inp.max_chunk, max(spread, least)))
    if processes and left - size < least and left <= inp.max_chunk:
        return left  # a remainder smaller than a chunk's least: it costs what a chunk does
    return size


@dataclass
class Progress:
    total: int
    scheduled: int
    chunks_done: int
    paused: bool
    done: int
    reused: int
    failed: int


OWN_QUEUE_WAIT_S = 30.0  # a copy's own queue: its worker takes the units within this
# a unit every serving copy declined while the run's own copy serves none of its queue:
# ask again this often, this many times, before it fails — that copy's worker may be
# starting (``mstore run`` spawns one, which polls within seconds). Once per run: after
# that, such units fail at once
SERVERS_RECHECK_S = 5.0
SERVERS_RECHECKS = 2
STOPPED_WHILE_RUNNING_S = 1.0  # see _run: a chunk said "paused" but no pause signal came

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
        self._waited_for_servers = False  # the grace of SERVERS_RECHECKS is spent

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

    def _activity(self, fn, arg, queue: str, timeout: timedelta, hb: float):  # noqa: ANN001, ANN202
        return workflow.execute_activity(
            fn, arg, task_queue=queue, start_to_close_timeout=timeout,
            heartbeat_timeout=timedelta(seconds=hb), retry_policy=RETRY)

    async def _chunk(self, inp: RunInput, lo: int, hi: int) -> ChunkOutput:
        """Units [lo, hi) through every stage. ``units`` of the result: how far the first
        stage got when a stage stopped (paused), so the rest goes out again from there;
        0 when a later stage stopped (its units go out again from the first stage)."""
        total = ChunkOutput(units=hi - lo)
        await self._through(inp, total, lo, hi, [], 0, {}, "")
        return total

    async def _through(self, inp: RunInput, total: ChunkOutput, lo: int, hi: int,
                       units: list[int], first: int, declined: dict[int, dict[str, str]],
                       machine: str) -> None:
        """Stages ``first``.. of units [lo, hi), or of ``units`` (positions) when given;
        with ``machine``, stage ``first`` on that copy's own queue (units another worker
        declined). Declined units go to a worker that has not declined them
        (``_elsewhere``)."""
        for i in range(first, len(inp.stages)):
            stage = inp.stages[i]
            own = bool(machine) and i == first
            arg = ChunkInput(inp.store, inp.run_id, lo, hi, list(stage.steps), list(units))
            if own:
                try:
                    out = await workflow.execute_activity(
                        run_chunk, arg, task_queue=f"{stage.queue}@{machine}",
                        schedule_to_start_timeout=timedelta(seconds=OWN_QUEUE_WAIT_S),
                        start_to_close_timeout=timedelta(hours=6),
                        heartbeat_timeout=timedelta(seconds=inp.heartbeat_timeout_s),
                        retry_policy=RETRY)
                except ActivityError as e:
                    if not isinstance(e.cause, TimeoutError):
                        raise
                    # that copy's worker is gone (killed, stopped) since it polled
                    out = ChunkOutput(declined=list(units), machine=machine,
                                      reason=f"{machine}: its worker did not take them")
            else:
                out = await self._activity(run_chunk, arg, stage.queue, timedelta(hours=6),
                                           inp.heartbeat_timeout_s)
            for k in ("done", "reused", "failed", "skipped", "covered", "seconds"):
                setattr(total, k, getattr(total, k) + getattr(out, k))
            if out.declined:
                for u in out.declined:
                    declined.setdefault(u, {})[out.machine] = out.reason
                await self._elsewhere(inp, total, i, out.declined, declined)
            if out.stopped:
                if units and out.stopped == "paused":
                    # declined units handed out by position: their rest goes on after resume
                    await workflow.wait_condition(lambda: not self._paused)
                    await self._through(inp, total, lo, hi, units[out.units:], i, declined,
                                        machine if own else "")
                    return
                total.stopped = out.stopped
                total.units = out.units if i == 0 and not units else 0
                return

    async def _elsewhere(self, inp: RunInput, total: ChunkOutput, stage: int,
                         units: list[int], declined: dict[int, dict[str, str]]) -> None:
        """Units a worker could not read (archive root not configured or not mounted
        there): each to a copy serving the stage's queue that has not declined it, on
        that copy's own queue; a unit every serving copy declined fails, naming their
        reasons — after asking again (``SERVERS_RECHECKS``, once per run) if the run's
        own copy was not among them, so its worker, still starting when another copy
        declined the units, gets them. Each hand-out adds a decliner, so this ends."""
        to: dict[str, list[int]] = {}
        left = list(units)
        grace = workflow.patched("recheck-servers") and not self._waited_for_servers
        for check in range(1 + (SERVERS_RECHECKS if grace else 0)):
            if check:
                await asyncio.sleep(SERVERS_RECHECK_S)  # a durable timer in a workflow
                self._waited_for_servers = True
            servers = await self._activity(queue_servers, inp.stages[stage].queue,
                                           inp.control_queue, timedelta(minutes=1), 30.0)
            still = []
            for u in left:
                m = next((m for m in servers if m not in declined[u]), "")
                if m:
                    to.setdefault(m, []).append(u)
                else:
                    still.append(u)
            left = still
            if not left or inp.coordinator in servers:
                break
        hopeless: dict[str, list[int]] = {}
        for u in left:
            why = "no worker could read it: " + "; ".join(declined[u].values())
            hopeless.setdefault(why, []).append(u)
        steps = [n for st in inp.stages[stage:] for n in st.steps]
        for why, us in hopeless.items():
            total.failed += await self._activity(
                give_up_units, GiveUpInput(inp.store, inp.run_id, us, steps, why),
                inp.control_queue, timedelta(minutes=10), 120.0)
        for m, us in to.items():
            await self._through(inp, total, 0, 0, us, stage, declined, m)

    def _chunk_size(self, inp: RunInput, start: int) -> int:
        # a run started before its input had ``processes`` (0) replays with the old rule
        return chunk_size(inp, start, self._measured_units, self._measured_s, inp.processes)

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
                                 inp.control_queue, timedelta(minutes=10), 120.0)
            raise

    async def _run(self, inp: RunInput) -> str:
        self._paused = inp.paused
        self._total = inp.total
        self._scheduled = inp.next_start
        for k, v in inp.counts.items():
            self._counts[k] = v
        self._measured_units, self._measured_s = inp.measured_units, inp.measured_s
        # a pipeline of aggregate steps only has no per-asset work to hand out
        start = inp.next_start if inp.stages else inp.total
        leftover = [list(r) for r in inp.leftover] if inp.stages else []
        pending = self._pending
        ranges: dict[asyncio.Task[ChunkOutput], tuple[int, int]] = {}
        started_here = 0
        # the history grows with activities: a chunk of S stages is S of them
        per_history = max(1, inp.chunks_per_history // max(1, len(inp.stages)))

        def can_start() -> bool:
            return ((start < inp.total or bool(leftover)) and not self._paused
                    and started_here < per_history)

        while start < inp.total or pending or leftover:
            while can_start() and len(pending) < inp.max_concurrency:
                if leftover:
                    lo, hi = leftover.pop(0)
                else:
                    lo, hi = start, min(start + self._chunk_size(inp, start), inp.total)
                    start = hi
                    self._scheduled = start
                task = asyncio.ensure_future(self._chunk(inp, lo, hi))
                pending.add(task)
                ranges[task] = (lo, hi)
                started_here += 1
            if not pending:
                if (start < inp.total or leftover) and started_here >= per_history:
                    workflow.continue_as_new(RunInput(
                        **{**inp.__dict__, "next_start": start, "paused": self._paused,
                           "counts": dict(self._counts), "measured_units": self._measured_units,
                           "measured_s": self._measured_s, "leftover": leftover}))
                # paused with nothing in flight: wait for a resume
                await workflow.wait_condition(lambda: not self._paused)
                continue
            done, _still = await workflow.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            pending.difference_update(done)
            stopped_unpaused = False
            for task in done:
                lo, hi = ranges.pop(task)
                try:
                    out = task.result()
                except ActivityError as e:  # retries used up: the run cannot go on
                    for other in pending:
                        other.cancel()
                    cause = e.cause or e
                    await self._activity(finish_run, FinishInput(
                        inp.store, inp.run_id, error=f"a chunk failed: {cause}"[:500]),
                        inp.control_queue, timedelta(minutes=10), 120.0)
                    return "failed"
                self._chunks_done += 1
                self._measured_units += out.units
                self._measured_s += out.seconds
                for k in ("done", "reused", "failed"):
                    self._counts[k] += getattr(out, k)
                if out.stopped == "paused" and lo + out.units < hi:
                    leftover.append([lo + out.units, hi])
                    stopped_unpaused = stopped_unpaused or not self._paused
                # "cancelled": the run is over; its cancellation reaches this workflow
            if stopped_unpaused:
                # the store says paused but no pause signal came (yet): a moment's wait, so
                # a state nobody signals does not hand the same units out in a tight loop
                try:
                    await workflow.wait_condition(
                        lambda: self._paused, timeout=timedelta(seconds=STOPPED_WHILE_RUNNING_S))
                except TimeoutError:
                    pass
        for agg in inp.aggregates:
            for step in agg.steps:
                await self._activity(run_aggregate, AggregateInput(inp.store, inp.run_id, step),
                                     agg.queue, timedelta(hours=12),
                                     max(inp.heartbeat_timeout_s, 300.0))
        state = await self._activity(finish_run, FinishInput(inp.store, inp.run_id),
                                     inp.control_queue, timedelta(minutes=10), 120.0)
        return state
