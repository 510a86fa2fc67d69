"""Hybrid logical clock: orders records across machines without trusting wall clocks.

A stamp is ``(wall_ms << 16) | counter``. It never goes backwards on one machine,
even when the wall clock does, and ``observe`` pulls it past stamps seen from
other machines, so "latest claim wins" stays causal after a sync.
"""

from __future__ import annotations

import threading
import time

COUNTER_BITS = 16
COUNTER_MASK = (1 << COUNTER_BITS) - 1


def wall_ms(stamp: int) -> int:
    return stamp >> COUNTER_BITS


class HybridClock:
    def __init__(self, last: int = 0) -> None:
        self._last = last
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            physical = int(time.time() * 1000) << COUNTER_BITS
            self._last = physical if physical > self._last else self._last + 1
            return self._last

    def take(self, n: int) -> int:
        """``n`` consecutive stamps at once (for records made together); the first."""
        with self._lock:
            physical = int(time.time() * 1000) << COUNTER_BITS
            first = physical if physical > self._last else self._last + 1
            self._last = first + n - 1
            return first

    def observe(self, stamp: int) -> None:
        with self._lock:
            if stamp > self._last:
                self._last = stamp
