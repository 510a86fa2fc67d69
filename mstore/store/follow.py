"""Following the record lanes from a watermark: for caches outside the LMDB index (the
full-text index) that must see every record, once, as it arrives.

The same scheme as ``Store.catch_up``: per lane, the lane directory's mtime and a
watermark (every segment up to it was read). An unchanged lane costs one ``stat``; a
changed one is listed past its watermark. Segments are read in order, without gaps, and
only those the LMDB index has applied, so that what a follower looks up in the index
about a segment's records already includes them; the rest wait for the next time.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

from mstore.errors import StoreDamagedError
from mstore.model.records import Record
from mstore.store.reader import Reader
from mstore.store.segments import load_segment, new_segments
from mstore.store.store import RACY_NS, Store
from mstore.store.storenames import is_lane

Marks = dict[str, tuple[int, int]]  # lane -> (directory mtime when last read whole, watermark)


class Follower:
    def __init__(self, store: Store, known: Marks) -> None:
        self.store = store
        self.marks: Marks = dict(known)
        try:
            self.lanes = sorted((e.name, e.stat().st_mtime_ns)
                                for e in os.scandir(store.layout.records)
                                if e.is_dir() and is_lane(e.name))
        except FileNotFoundError:
            self.lanes = []

    def changed(self) -> bool:
        """Whether a lane may hold segments past its watermark."""
        return any(self.marks.get(lane, (None, 0))[0] != mtime for lane, mtime in self.lanes)

    def segments(self, reader: Reader, progress: Callable[[int, int], None] | None = None
                 ) -> Iterator[list[Record]]:
        """The records of each new segment; ``marks`` moves past each one once the caller
        asks for the next (a caller that stops early has not seen the last one).
        ``progress(read, listed)`` is told after each segment read (a first build of a
        cache over a big store reads thousands)."""
        records_dir = self.store.layout.records
        now = time.time_ns()
        listed = []
        for lane, mtime in self.lanes:
            old_mtime, mark = self.marks.get(lane, (None, 0))
            if old_mtime != mtime:
                listed.append((lane, mtime, mark, new_segments(records_dir, lane, mark)[0]))
        total = sum(len(refs) for *_, refs in listed)
        read = 0
        for lane, mtime, mark, refs in listed:
            done = mark
            for ref in refs:
                if ref.seq != done + 1 or not reader.segment_applied(lane, ref.seq):
                    break
                try:
                    content = load_segment(ref.path)
                except StoreDamagedError:
                    break  # not read: found again next time, after fsck set it aside
                yield content.records
                done = ref.seq
                self.marks[lane] = (0, done)
                read += 1
                if progress is not None:
                    progress(read, total)
            whole = not refs or done == refs[-1].seq
            # a directory changed within the clock's tick may change again unseen
            self.marks[lane] = (mtime if whole and now - mtime > RACY_NS else 0, done)
