"""A worker on another host: its copy of the store pulls from the coordinating store
before each chunk and pushes its results there after it (``[worker] push``).

The transport itself (``mstore push`` / ``pull``) is the caller's: ``mstore worker``
hands in two calls, each taking this worker's ``Store``. Here they are only ordered:
one at a time per worker process (activity threads share the store), a pull before a
chunk (the run, its unit list, new assets and the results of earlier stages come from
the coordinator) and a push after it, before the worker reports the chunk done, so the
coordinator's store holds every result of a finished chunk when its workflow counts
it and when the run's finish reads it. ``push_every`` seconds also pushes while chunks
run, so a long chunk's results show before it ends.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Transfer = Callable[[Any], object]  # (store) -> a summary, unused


@dataclass
class Relay:
    remote: str
    pull_fn: Transfer
    push_fn: Transfer
    every_s: float = 0.0  # 0: after each chunk only
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def pull(self, store: Any) -> None:
        with self._lock:
            self.pull_fn(store)
        store.catch_up()  # the tool processes read the index this process keeps

    def push(self, store: Any) -> None:
        with self._lock:
            self.push_fn(store)

    def start_timer(self, store: Callable[[], Any]) -> threading.Event:
        """With ``every_s``, a thread that pushes that often until the event is set."""
        stop = threading.Event()
        if not self.every_s:
            return stop

        def pusher() -> None:
            while not stop.wait(self.every_s):
                try:
                    self.push(store())
                except Exception as e:  # noqa: BLE001 - the next chunk's push says it again
                    print(f"mstore worker: push to {self.remote} failed: {e}", file=sys.stderr)

        threading.Thread(target=pusher, daemon=True, name="mstore-pusher").start()
        return stop
