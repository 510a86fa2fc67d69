"""Overlapping the two halves of a transfer: while one thread waits on ssh, the other checks
and writes what already arrived (or reads what goes next). Pipe reads and writes, hashing
and file writes release the GIL, so the two go on at once on two cores."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import BinaryIO

DEPTH = 64  # frames (at most 1 MiB each) or buffers held between the two threads


class FrameReader:
    """Reads frames with ``recv`` in a thread until ``last(frame)``; ``next()`` hands them
    over in order (an error in the thread is raised by ``next()``)."""

    def __init__(self, recv: Callable[[], dict], last: Callable[[dict], bool]) -> None:
        self._q: queue.Queue = queue.Queue(DEPTH)
        self._t = threading.Thread(target=self._run, args=(recv, last), daemon=True)
        self._t.start()

    def _run(self, recv: Callable[[], dict], last: Callable[[dict], bool]) -> None:
        while True:
            try:
                frame = recv()
            except BaseException as e:  # handed to the reading side, raised there
                self._q.put(e)
                return
            self._q.put(frame)
            if last(frame):
                return

    def next(self) -> dict:
        got = self._q.get()
        if isinstance(got, BaseException):
            raise got
        return got


class ThreadedWriter:
    """A file-like ``write`` that returns at once; a thread writes to ``out``. ``flush``
    waits until everything is written (and raises what the writing thread met)."""

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._q: queue.Queue = queue.Queue(DEPTH)
        self._error: BaseException | None = None
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        while True:
            data = self._q.get()
            if data is None:
                self._q.task_done()
                return
            if self._error is None:
                try:
                    self._out.write(data)
                except BaseException as e:  # noqa: BLE001 - raised by the caller's flush
                    self._error = e
            self._q.task_done()

    def write(self, data: bytes) -> int:
        if self._error is not None:
            raise self._error
        self._q.put(bytes(data))
        return len(data)

    def flush(self) -> None:
        self._q.join()
        if self._error is not None:
            raise self._error
        self._out.flush()

    def close(self) -> None:
        self._q.put(None)
        self._t.join()
