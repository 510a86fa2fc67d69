"""A process pool whose workers exit with the process that made it.

``ProcessPoolExecutor`` workers wait for work on a queue whose write end they hold
themselves, so a killed parent (``kill -9``) leaves them waiting for ever, and with them
the forkserver and the resource tracker, which stay until every worker has closed its
copy of their pipes. ``PR_SET_PDEATHSIG`` cannot help: a worker's parent is the
forkserver, not the process that made the pool.

So the parent keeps the only write end of a pipe whose read end every worker gets; a
thread in each worker waits on it, and end-of-file (the parent is gone: the kernel closed
its descriptors) ends the worker at once. The forkserver and the resource tracker then
see their pipes close and exit by themselves.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from multiprocessing.connection import Connection

EXIT_PARENT_GONE = 70  # EX_SOFTWARE: the worker did not finish its work


def _watch_parent(alive: Connection) -> None:
    try:
        alive.recv_bytes()  # the parent never sends: this returns only at end-of-file
    except (EOFError, OSError):
        pass
    os._exit(EXIT_PARENT_GONE)


def _start_watch(alive: Connection) -> None:
    """Pool initializer: end this worker when the pool's parent is gone."""
    threading.Thread(target=_watch_parent, args=(alive,), daemon=True,
                     name="parent-watch").start()


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[ProcessPoolExecutor]:
    """A ``ProcessPoolExecutor`` of ``workers`` processes started by ``forkserver`` (so they
    never inherit this process's LMDB environment) that exit when this process dies."""
    ctx = get_context("forkserver")
    # "__main__" too: a worker forked from a forkserver that imported the main module
    # (the installed ``mstore`` script) does not import it again itself
    ctx.set_forkserver_preload(["__main__", "mstore.catalog.preload"])
    alive_r, alive_w = ctx.Pipe(duplex=False)
    try:
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_start_watch,
                                 initargs=(alive_r,)) as pool:
            yield pool
    finally:
        alive_w.close()
        alive_r.close()
