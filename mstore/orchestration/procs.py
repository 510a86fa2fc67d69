"""Tool processes: where a worker runs the activities of its ``cpu`` and ``gpu`` queues.

Python tools that compute (decoders, hashes, models) hold the GIL: run in one process's
threads, two of them use one core between them (the photos pipeline reached 0.70x a
bare two-process Pillow loop that way). So a worker keeps a pool of processes per
process-served queue — as many as that queue's concurrency — and hands each chunk
activity to an idle one. It takes one chunk more than it has processes (``PREFETCH``),
which waits for the first process to come free. A process is a whole executor: it
opens the store, takes a writer lane of its own (``records/<machine>.w<N>/``,
docs/runs.md section 6), keeps the run contexts and every tool it loaded (a model's
weights are loaded once per process, not per unit) and writes each result as it is
made. The activity's thread only relays: heartbeats once a second while the process
works, Temporal's cancellation as a message, the chunk's result or its exception back.

Processes are started by ``forkserver``, never forked from the worker, which has an LMDB
environment open (docs/format.md section 6). They ignore SIGINT and SIGTERM: the worker
stops them after its activities stopped, and one whose worker died finds its pipe
closed before its next unit and exits. A process that dies in a call (a decoder's
segfault, the OOM killer) fails that call as a transient error — Temporal retries the
chunk, the covered units are skipped — and is replaced.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

BEAT_EVERY_S = 1.0  # the relay heartbeats Temporal this often while the process works
READY_TIMEOUT_S = 60.0  # a new process has opened the store within this
STOP_WAIT_S = 10.0  # closing: how long an idle process gets to flush and exit
# chunks a pool takes beyond its processes: the next one is at hand when a process ends
# its chunk, instead of a round trip to Temporal away (~20-100 ms of an idle core per
# chunk on a busy 2-core machine). One per pool, not per process, so a worker does not
# hold back chunks another worker could start now.
PREFETCH = 1

_POOLS: dict[str, ProcPool] = {}  # task queue -> its pool (set by the worker)


class ToolProcessDied(Exception):
    """The process running a chunk exited (crashed, killed): a transient failure."""


def pool_for(task_queue: str) -> ProcPool:
    return _POOLS[task_queue]


def register(task_queue: str, pool: ProcPool) -> None:
    _POOLS[task_queue] = pool


def unregister(task_queue: str) -> None:
    _POOLS.pop(task_queue, None)


class _Proc:
    """One tool process and the parent's end of its pipe."""

    def __init__(self, store_dir: str, name: str) -> None:
        ctx = multiprocessing.get_context("forkserver")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=child_main, args=(child, store_dir), name=name,
                                   daemon=False)
        self.process.start()
        child.close()

    def wait_ready(self) -> None:
        """Until the process has opened the store (it raises what stopped it)."""
        try:
            if not self.conn.poll(READY_TIMEOUT_S):
                raise ToolProcessDied(f"the tool process {self.process.pid} did not start "
                                      f"in {READY_TIMEOUT_S:.0f} s")
            kind, value = self.conn.recv()
        except (EOFError, OSError):
            raise self.died() from None
        if kind == "err":
            raise value

    def died(self) -> ToolProcessDied:
        self.process.join(timeout=5)
        code = self.process.exitcode
        how = (f"killed by signal {-code}" if code is not None and code < 0
               else f"exit code {code}")
        return ToolProcessDied(f"the tool process {self.process.pid} died ({how})")

    def call(self, op: str, inp: Any, heartbeat: Callable[..., None],
             cancelled: Callable[[], bool]) -> Any:
        try:
            self.conn.send((op, inp))
        except (BrokenPipeError, OSError):
            raise self.died() from None
        units = 0
        asked_to_stop = False
        last_beat = time.monotonic()
        while True:
            kind, value = "", None
            try:
                if self.conn.poll(BEAT_EVERY_S):
                    kind, value = self.conn.recv()
            except (EOFError, OSError):
                raise self.died() from None
            if kind == "ok":
                return value
            if kind == "err":
                raise value
            if kind == "beat":
                units = value  # units gone through so far
            now = time.monotonic()
            if now - last_beat >= BEAT_EVERY_S:
                heartbeat(units)
                last_beat = now
            if not asked_to_stop and cancelled():
                asked_to_stop = True
                try:
                    self.conn.send(("cancel", None))
                except OSError:
                    raise self.died() from None

    def close(self) -> None:
        try:
            self.conn.send(("exit", None))
        except OSError:
            pass
        self.process.join(timeout=STOP_WAIT_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self.conn.close()


class ProcPool:
    """``size`` tool processes for one task queue; ``run`` borrows an idle one."""

    def __init__(self, store_dir: str, size: int, name: str) -> None:
        self.store_dir = store_dir
        self.name = name
        # idle processes; None: a slot whose process died, started again when next taken
        self._idle: queue.SimpleQueue[_Proc | None] = queue.SimpleQueue()
        self._all: list[_Proc] = []
        self._lock = threading.Lock()
        self._started = 0
        try:
            for _ in range(size):
                self._idle.put(self._start())
        except BaseException:
            self.close()
            raise

    def _start(self) -> _Proc:
        with self._lock:
            self._started += 1
            name = f"{self.name}-{self._started}"
        p = _Proc(self.store_dir, name)
        with self._lock:
            self._all.append(p)
        try:
            p.wait_ready()
        except BaseException:
            self._drop(p)
            raise
        return p

    def _drop(self, p: _Proc) -> None:
        with self._lock:
            if p in self._all:
                self._all.remove(p)
        p.close()

    def run(self, op: str, inp: Any, heartbeat: Callable[..., None],
            cancelled: Callable[[], bool]) -> Any:
        p = self._borrow(heartbeat)
        try:
            if p is None:
                p = self._start()
            return p.call(op, inp, heartbeat, cancelled)
        except ToolProcessDied:
            if p is not None:
                self._drop(p)
            p = None
            raise
        finally:
            self._idle.put(p)

    def _borrow(self, heartbeat: Callable[..., None]) -> _Proc | None:
        """An idle process (None: a slot to start one in). A prefetched chunk waits here
        for one, heartbeating as a running chunk does; cancelled meanwhile, it still goes
        to the process, which stops before its first unit (it reads the run's state)."""
        while True:
            try:
                return self._idle.get(timeout=BEAT_EVERY_S)
            except queue.Empty:
                heartbeat(0)

    def close(self) -> None:
        with self._lock:
            procs = list(self._all)
            self._all.clear()
        for p in procs:
            p.close()


# --------------------------------------------------------------------------- the child


def child_main(conn: Connection, store_dir: str) -> None:
    """A tool process: serve chunk and aggregate calls until told to exit or the worker's
    end of the pipe closes."""
    from mstore.orchestration.work import WorkerState, aggregate, chunk

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    send_lock = threading.Lock()

    def send(kind: str, value: Any) -> None:
        with send_lock:
            conn.send((kind, value))

    state = WorkerState()
    try:
        state.open(store_dir)  # the lane now: a worker that cannot write fails at start
    except BaseException as e:  # noqa: BLE001 - said to the worker, which gives up
        _send_error(send, e)
        conn.close()
        os._exit(1)
    send("ready", os.getpid())
    flusher = state.start_flusher()
    stop_asked = [False]

    def cancelled() -> bool:
        # a "cancel" message, or the worker gone (its end of the pipe closed: EOF)
        try:
            while not stop_asked[0] and conn.poll(0):
                kind, _ = conn.recv()
                if kind in ("cancel", "exit"):
                    stop_asked[0] = True
        except (EOFError, OSError):
            stop_asked[0] = True
        return stop_asked[0]

    try:
        while True:
            try:
                op, inp = conn.recv()
            except (EOFError, OSError):
                break
            if op == "exit":
                break
            if op == "cancel":  # came after the call it was about had ended
                continue
            stop_asked[0] = False
            try:
                if op == "chunk":
                    out = chunk(state, inp, lambda units: send("beat", units), cancelled)
                elif op == "aggregate":
                    out = aggregate(state, inp, lambda _what: None)  # the relay heartbeats
                else:
                    raise ValueError(f"unknown call {op!r}")
            except BaseException as e:  # noqa: BLE001 - every failure goes back to the worker
                _send_error(send, e)
            else:
                try:
                    send("ok", out)
                except OSError:
                    break
    finally:
        flusher.set()
        state.close()
        conn.close()
        os._exit(0)  # skip interpreter teardown: nothing is left to flush


def _send_error(send: Callable[[str, Any], None], e: BaseException) -> None:
    try:
        pickle.dumps(e)
    except Exception:  # noqa: BLE001 - an exception that does not travel: its text does
        e = RuntimeError(f"{type(e).__name__}: {e}")
    try:
        send("err", e)
    except OSError:
        pass
