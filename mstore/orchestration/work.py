"""What a run's activities do, without Temporal: the same code runs in a worker's activity
thread (io steps) and in its tool processes (cpu and gpu steps, ``procs.py``).

One ``WorkerState`` per process: the store, its writer lane, the tool registry and the
contexts of the runs it serves. ``chunk`` runs some steps of a range of units,
``aggregate`` one aggregate step; both stop early when asked (``mstore pause`` /
``cancel`` recorded in the index, or the caller's ``cancelled``).
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mstore.runs.execute import (
    RunContext,
    SharedWriter,
    execute_aggregate,
    execute_units,
    fail_units,
    load_run,
    machine_name,
)
from mstore.store.fsutil import temp_name
from mstore.store.store import Store
from mstore.tools.registry import Registry

STOP_POLL_S = 0.1  # how often a chunk reads the run's state (pause / cancel) at most
MAX_CONTEXTS = 8  # runs whose context a worker keeps
FRESH_RUN_S = 60.0  # runs younger than this have their results flushed every tick
SETTLED_FLUSH_S = 2.0  # after that, at most this often
FLUSH_EVERY = 0.5


# Activity inputs name the store by its id ([store] id, shared by every copy) and never
# carry a path of one machine: each worker reads its own copy of the store, its own
# archive roots (config.toml), wherever they are on its host.


@dataclass
class ChunkInput:
    store: str  # the store's id
    run_id: str
    start: int
    end: int
    steps: list[str] = field(default_factory=list)  # the per-asset steps to run; [] = all
    units: list[int] = field(default_factory=list)  # these units (by position) instead


@dataclass
class ChunkOutput:
    done: int = 0
    reused: int = 0
    failed: int = 0
    skipped: int = 0  # unit-steps that do not apply
    covered: int = 0  # unit-steps already covered (a retried chunk)
    units: int = 0  # units gone through: start + units is where a stopped chunk stopped
    seconds: float = 0.0  # wall time spent on them (sizes the next chunks)
    stopped: str = ""  # "paused" / "cancelled": stopped at a unit boundary before the end
    # units (positions) this worker could not read, nothing recorded: for another worker
    declined: list[int] = field(default_factory=list)
    reason: str = ""  # why it could not
    machine: str = ""  # the machine id of the copy that declined them


@dataclass
class AggregateInput:
    store: str  # the store's id
    run_id: str
    step: str


@dataclass
class GiveUpInput:
    """Units no worker could read: failed, with each worker's reason."""

    store: str  # the store's id
    run_id: str
    units: list[int]  # positions in the run's unit list
    steps: list[str]  # the per-asset steps not done for them (this stage and later ones)
    reason: str


@dataclass
class FinishInput:
    store: str  # the store's id
    run_id: str
    cancelled: bool = False  # the workflow was cancelled
    error: str = ""  # an activity failed for good: the run ends failed, saying why


class WorkerState:
    """Per process: the store, its lane writer, the tool registry, run contexts."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.stores: dict[str, tuple[Store, SharedWriter, Registry]] = {}
        self.contexts: dict[str, RunContext] = {}
        self.locks: list = []
        self._flushed = 0.0  # when flush_all last wrote
        self._work: dict[tuple[str, int], Path] = {}  # (store, thread) -> scratch directory
        self.paths: dict[str, str] = {}  # store id -> this machine's copy of it

    def open(self, path: str) -> tuple[Store, SharedWriter, Registry]:
        with self._lock:
            if path not in self.stores:
                store = Store(Path(path))
                writer, lock = store.lane_writer("w*")
                self.locks.append(lock)
                self.stores[path] = (store, SharedWriter(writer), Registry.for_store(store.root))
                self.paths[store.store_id] = path
            return self.stores[path]

    def path_of(self, store_id: str) -> str:
        """This machine's copy of the store an activity names (by its id)."""
        with self._lock:
            if store_id in self.paths:
                return self.paths[store_id]
        if store_id.startswith("/"):  # a workflow started before ids named stores
            return store_id
        raise LookupError(f"this worker does not serve the store {store_id}")

    def context(self, store_id: str, run_id: str) -> RunContext:
        path = self.path_of(store_id)
        store, writer, registry = self.open(path)
        with self._lock:
            ctx = self.contexts.pop(run_id, None)
            if ctx is None:
                run = load_run(store, run_id)
                if any(s.tool not in registry.tools
                       or registry.tools[s.tool].version != s.version for s in run.steps):
                    # a tool added to (or changed in) <store>/tools/ since this worker
                    # started: look again
                    registry = Registry.for_store(store.root)
                    self.stores[path] = (store, writer, registry)
                ctx = RunContext(store, writer, run, registry)
            self.contexts[run_id] = ctx  # most recently used last
            # a long-lived worker must not keep every run it ever served (a context holds
            # the run's unit list: ~100 MB for a million units)
            while len(self.contexts) > MAX_CONTEXTS:
                self.contexts.pop(next(iter(self.contexts)))
            return ctx

    def work_dir(self, store: Store) -> Path:
        """This thread's scratch directory in ``store``, kept from chunk to chunk (named
        after this process, so ``fsck`` removes it once the process is gone)."""
        key = (str(store.root), threading.get_ident())
        with self._lock:
            if key not in self._work:
                self._work[key] = store.layout.tmp / "work" / temp_name(
                    f"worker-{threading.get_ident()}")
            return self._work[key]

    def forget(self, run_id: str) -> None:
        with self._lock:
            self.contexts.pop(run_id, None)

    def flush_all(self, every_s: float = 0.0) -> None:
        """Write out buffered records. With ``every_s`` (the flusher thread): only when
        that long has passed, or when a run served here started less than FRESH_RUN_S
        ago — its first results should show at once, while a long run's would otherwise
        leave a small segment file every half second (thousands an hour)."""
        now = time.time()
        with self._lock:
            fresh = any(now - (ctx.run.hlc >> 16) / 1000 < FRESH_RUN_S
                        for ctx in self.contexts.values())
            if every_s and not fresh and now - self._flushed < every_s:
                return
            self._flushed = now
        for _store, writer, _reg in list(self.stores.values()):
            writer.flush()

    def start_flusher(self) -> threading.Event:
        """A thread that writes buffered records out every FLUSH_EVERY (see flush_all), so
        results show while a chunk is still running; set the returned event to stop it."""
        stop = threading.Event()

        def flusher() -> None:
            while not stop.wait(FLUSH_EVERY):
                self.flush_all(every_s=SETTLED_FLUSH_S)

        threading.Thread(target=flusher, daemon=True, name="mstore-flusher").start()
        return stop

    def close(self) -> None:
        self.flush_all()
        for work in self._work.values():
            shutil.rmtree(work, ignore_errors=True)
        self._work.clear()
        for lock in self.locks:
            lock.release()
        for store, _w, _r in self.stores.values():
            store.close()
        self.locks.clear()
        self.stores.clear()
        self.contexts.clear()


def run_state(ctx: RunContext) -> str:
    # no catch_up: this machine's processes apply what they write to the index as they
    # flush it (a pause, an earlier stage's results), and one per chunk cost an index
    # commit (the lane's new mtime) each time
    with ctx.store.index.reader() as r:
        info = r.run(ctx.run.run)
    return info.state if info else "running"


def stop_check(ctx: RunContext, cancelled: Callable[[], bool]) -> Callable[[], str]:
    """Whether a chunk must stop before its next unit: "cancelled" when ``cancelled()``
    says so (Temporal cancelled the activity), or "paused" / "cancelled" as the run's
    state in the index (``mstore pause`` / ``cancel`` record it; the index is this
    machine's, so the record is seen as soon as the command wrote it), read at most every
    STOP_POLL_S. A pause or cancel so stops a chunk within the unit it is in."""
    last = [0.0, ""]

    def stop() -> str:
        if cancelled():
            return "cancelled"
        now = time.monotonic()
        if now - last[0] >= STOP_POLL_S:
            last[0] = now
            with ctx.store.index.reader() as r:
                info = r.run(ctx.run.run)
            state = info.state if info is not None else ""
            last[1] = state if state in ("paused", "cancelled") else ""
        return str(last[1])

    return stop


def chunk(state: WorkerState, inp: ChunkInput, heartbeat: Callable[[int], None],
          cancelled: Callable[[], bool]) -> ChunkOutput:
    """Steps ``inp.steps`` of units ``inp.start:inp.end``. A retry (after a killed worker)
    starts at inp.start again: execute_units skips what the store says is covered; the
    heartbeat details may count units whose records died unflushed with the worker, so
    they are not trusted. A unit that ran out of a resource of this machine (disk full)
    raises ResourceExhausted: Temporal retries the chunk."""
    try:
        ctx = state.context(inp.store, inp.run_id)
        ctx.units()  # read once per run and kept: a copy can have the record, not the list
    except LookupError as e:  # this copy lacks the run (not pulled): a worker that has it
        store = state.open(state.path_of(inp.store))[0]
        every = inp.units or list(range(inp.start, inp.end))
        return ChunkOutput(units=len(every), declined=every, machine=store.machine_id,
                           reason=f"{machine_name(store)}: {e} (this copy has not pulled it:"
                                  " [worker] push)")
    current = run_state(ctx)
    if current in ("paused", "cancelled"):
        return ChunkOutput(stopped=current)
    t0 = time.monotonic()
    s = execute_units(ctx, inp.start, inp.end, heartbeat=heartbeat,
                      stop=stop_check(ctx, cancelled), steps=inp.steps or None,
                      work=state.work_dir(ctx.store), indices=inp.units)
    return ChunkOutput(s.done, s.reused, s.failed, s.skipped, s.covered, s.units,
                       time.monotonic() - t0, s.stopped, s.declined,
                       f"{machine_name(ctx.store)}: {s.reason}" if s.declined else "",
                       ctx.store.machine_id if s.declined else "")


def give_up(state: WorkerState, inp: GiveUpInput) -> int:
    """Record the units' remaining steps failed with ``inp.reason`` (the coordinator does,
    once every worker serving the queue has declined them)."""
    ctx = state.context(inp.store, inp.run_id)
    every = ctx.units()
    n = fail_units(ctx, [every[i] for i in inp.units], inp.steps, inp.reason)
    ctx.writer.flush()
    return n


def aggregate(state: WorkerState, inp: AggregateInput, heartbeat: Callable[[str], None]
              ) -> ChunkOutput:
    """One aggregate step: one long call, so a thread keeps the heartbeat going."""
    ctx = state.context(inp.store, inp.run_id)
    if run_state(ctx) == "cancelled":
        return ChunkOutput()
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(5.0):
            heartbeat("aggregate")

    t = threading.Thread(target=beat, daemon=True)
    t.start()
    try:
        s = execute_aggregate(ctx, inp.step)
    finally:
        stop.set()
    return ChunkOutput(s.done, s.reused, s.failed, s.skipped, s.covered)
