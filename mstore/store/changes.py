"""What this process's own writer changes in the catalog while someone watches.

``add`` keeps the rows of the assets it finds new (query/fresh.py) and needs to know,
when the snapshot refreshes, whether anything but its own records changed the catalog
meanwhile, and which dirty keys its records touched. The index counts the data
generation steps its writer makes in this process and, while a watch is open, collects
the dirty keys of the segments it applies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mstore.store.index import Index


class ChangeWatch:
    def __init__(self, index: Index) -> None:
        self._index = index
        self._start_bumps = index.writer_bumps
        index.touch_log = set()  # the dirty keys of our records, overflow or not

    def steps(self) -> int:
        """How many data generation steps this process's writer made since the watch began."""
        return self._index.writer_bumps - self._start_bumps

    def touched(self) -> set[bytes]:
        return self._index.touch_log or set()

    def close(self) -> None:
        self._index.touch_log = None
