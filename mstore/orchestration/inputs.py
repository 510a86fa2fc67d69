"""What a run's workflow is started with, made without the Temporal SDK.

``mstore run`` builds a ``RunInput`` and hands it to a worker of the store that is
already connected (handoff.py), importing the SDK (a quarter of a second) only when no
worker takes it; the workflow (workflows.py) reads the same dataclasses back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mstore.model.records import RunStarted
from mstore.orchestration.settings import TemporalSettings


@dataclass
class Stage:
    """Steps run by one activity on one task queue: consecutive per-asset steps of one
    resource class, or one aggregate step."""

    queue: str
    steps: list[str]


@dataclass
class RunInput:
    run_id: str
    store: str
    total: int
    chunk_size: int
    max_concurrency: int
    # finish_run's and the other bookkeeping's: the queue of the copy that started the run
    # (the coordinator), whose store every worker's results reach (docs/sync.md)
    control_queue: str
    coordinator: str = ""  # that copy's machine id
    stages: list[Stage] = field(default_factory=list)  # per-asset steps, in order
    aggregates: list[Stage] = field(default_factory=list)  # one step each, in order
    next_start: int = 0  # where this history starts (after continue-as-new)
    chunks_per_history: int = 400
    heartbeat_timeout_s: float = 60.0
    paused: bool = False
    counts: dict[str, int] = field(default_factory=dict)  # carried across continue-as-new
    # adaptive chunks: after the first chunks (chunk_size units), size each chunk to about
    # target_chunk_s of work at the measured seconds per unit, at most max_chunk units,
    # and at most 1/max_concurrency of what is left so every slot stays busy to the end
    adaptive: bool = False
    target_chunk_s: float = 2.0
    max_chunk: int = 4096
    # ... but not below min_chunk_s of work: a chunk costs tens of ms besides its units
    # (an activity, a flush with its fsyncs), too much to spread a fast run's last units
    min_chunk_s: float = 0.25
    # tool processes this machine's worker runs the first stage in (0: not known): the
    # last chunks shrink to spread what is left over them, not over max_concurrency
    # chunks of which only that many run at once
    processes: int = 0
    measured_units: int = 0  # carried across continue-as-new
    measured_s: float = 0.0
    # [start, end) ranges that stopped chunks (a pause) did not reach: handed out again first
    leftover: list[list[int]] = field(default_factory=list)


DEFAULT_CHUNK = 32
DEFAULT_CONCURRENCY = 4


def stages(ts: TemporalSettings, run: RunStarted) -> tuple[list[Stage], list[Stage]]:
    """The run's per-asset steps in stages — consecutive steps of one resource class, in
    pipeline order — and its aggregate steps, each on its own class's queue."""
    per_asset: list[Stage] = []
    aggregates: list[Stage] = []
    for s in run.steps:
        queue = ts.queue(s.resource)
        if s.shape == "aggregate":
            aggregates.append(Stage(queue, [s.name]))
        elif per_asset and per_asset[-1].queue == queue:
            per_asset[-1].steps.append(s.name)
        else:
            per_asset.append(Stage(queue, [s.name]))
    return per_asset, aggregates


def run_input(ts: TemporalSettings, machine: str, run: RunStarted, *, chunk_size: int = 0,
              chunks_per_history: int = 400, heartbeat_timeout_s: float = 60.0,
              processes: int = 0) -> RunInput:
    concurrency = int(run.caps.get("max_concurrency", 0)) or DEFAULT_CONCURRENCY
    # chunks big enough that ~15 ms of orchestration per activity stays < 1 ms per unit,
    # small enough that progress moves and both cores stay busy
    # (the first chunks; later ones are sized by the workflow to ~2 s of work each, unless
    # chunk_size fixes the size)
    chunk = chunk_size or max(1, min(DEFAULT_CHUNK, -(-run.total // (2 * concurrency))))
    per_asset, aggregates = stages(ts, run)
    # the store by its id, never a path: each worker reads its own copy (docs/sync.md)
    return RunInput(run_id=run.run, store=ts.store_key, total=run.total, chunk_size=chunk,
                    adaptive=not chunk_size, max_concurrency=concurrency,
                    control_queue=ts.control_queue(machine), coordinator=machine,
                    stages=per_asset,
                    aggregates=aggregates,
                    chunks_per_history=chunks_per_history,
                    heartbeat_timeout_s=heartbeat_timeout_s, processes=processes)
