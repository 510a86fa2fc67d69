"""Hash and probe files on both cores while the walk goes on.

``add`` hands each file that must be read to a :class:`Hasher` as the walk finds it
and records the results as they come back, so reading starts with the first file
found, not after the whole tree has been listed. Files go to the worker processes in
batches (up to BATCH_FILES files or BATCH_BYTES bytes), each batch's results come
back msgpack-encoded in one piece, and a bounded number of batches is in flight (the
walk waits for the workers, not the other way round).

The pool is started only when there is enough to read: an unchanged rescan never
starts it, and up to INLINE_MAX files are read in this process (a pool costs some
0.1 s to start).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING

from mstore.catalog.fileinfo import FileResult, decode_batch, process, process_batch

if TYPE_CHECKING:  # imported when a pool starts: a rescan that reads nothing never does
    from concurrent.futures import Future, ProcessPoolExecutor

INLINE_MAX = 48  # up to this many files are read in this process
# Small files go 1024 to a batch: per batch, this process pickles, sends and decodes, and
# the batches a worker has queued must last while this process writes and applies a
# segment (~0.1 s). Measured over 100k files of 1-64 KiB: 256 per batch 5.2-5.5 s, 1024
# 4.4-5.0 s, 2048 about the same; 256 with four times as many batches ahead 4.9-5.3 s.
# Larger files are bounded by BATCH_BYTES (a batch of photos is a few of them).
BATCH_FILES = 1024
BATCH_BYTES = 16 << 20
IN_FLIGHT = 3  # batches per worker sent ahead

Progress = Callable[[int, int, int], None]  # (files hashed, files to hash, bytes hashed)


class Hasher:
    """Reads files of one root at a time; ``add`` and ``finish`` give back results in
    the order they are ready."""

    def __init__(self, workers: int, progress: Progress | None = None) -> None:
        self.workers = workers
        self.progress = progress
        self.files = 0  # handed in
        self.done = 0
        self.bytes = 0
        self._stack = ExitStack()
        self._pool: ProcessPoolExecutor | None = None
        self._root = b""
        self._batch: list[bytes] = []
        self._batch_bytes = 0
        self._waiting: list[tuple[bytes, list[bytes]]] = []  # batches before the pool starts
        self._pending: set[Future[bytes]] = set()

    def close(self) -> None:
        """Stop the workers (results not taken yet are dropped)."""
        for fut in self._pending:
            fut.cancel()
        self._pending.clear()
        self._stack.close()
        self._pool = None

    def add(self, root: bytes, rel: bytes, size: int) -> list[FileResult]:
        """Queue ``root``/``rel`` (``size`` bytes, as the walk saw it); returns the
        results that are ready by now (mostly none: a list, not a generator, since this
        runs once per file)."""
        if root != self._root:
            self._end_batch()
            self._root = root
        self.files += 1
        self._batch.append(rel)
        self._batch_bytes += size
        if len(self._batch) >= BATCH_FILES or self._batch_bytes >= BATCH_BYTES:
            self._end_batch()
            return list(self._send())
        return []

    def finish(self) -> Iterator[FileResult]:
        """Every result not given back yet; afterwards the Hasher takes new files again."""
        self._end_batch()
        if self._pool is None:  # too few for a pool: read them here
            waiting, self._waiting = self._waiting, []
            for root, rels in waiting:
                prefix = root.rstrip(b"/") + b"/"
                for rel in rels:
                    yield self._count(process(prefix + rel, rel))
            return
        yield from self._send()
        while self._pending:
            yield from self._collect(block=True)

    # -- inside ----------------------------------------------------------------
    def _end_batch(self) -> None:
        if self._batch:
            self._waiting.append((self._root, self._batch))
            self._batch, self._batch_bytes = [], 0

    def _send(self) -> Iterator[FileResult]:
        if self._pool is None:
            if self.files - self.done <= INLINE_MAX or self.workers <= 1:
                if self.workers <= 1:  # no pool at all: read them here as they come
                    yield from self.finish()
                return
            from mstore.catalog.pool import worker_pool

            self._pool = self._stack.enter_context(worker_pool(self.workers))
        limit = self.workers * IN_FLIGHT
        while self._waiting:
            while len(self._pending) >= limit:
                yield from self._collect(block=True)
            root, rels = self._waiting.pop(0)
            self._pending.add(self._pool.submit(process_batch, root, rels))
        yield from self._collect(block=False)

    def _collect(self, block: bool) -> Iterator[FileResult]:
        if block:
            from concurrent.futures import FIRST_COMPLETED, wait

            finished, self._pending = wait(self._pending, return_when=FIRST_COMPLETED)
        else:
            finished = {f for f in self._pending if f.done()}
            self._pending -= finished
        for fut in finished:
            for res in decode_batch(fut.result()):
                yield self._count(res)
        if finished and self.progress:
            self.progress(self.done, self.files, self.bytes)

    def _count(self, res: FileResult) -> FileResult:
        self.done += 1
        self.bytes += res.size
        return res


def default_workers() -> int:
    return min(2, os.cpu_count() or 1)
