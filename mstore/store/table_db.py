"""The catalog table's place in the index: the storage half of query/snapshot.py.

The snapshot of the catalog table (its columns, head and cached delta) lives in the
index's ``table`` database; the index lists what changed since (``dirty``, with the
data generation of each change, and ``dirty_over`` once it stops listing). The
snapshot logic — which rows a change touches, how a delta merges — is in
query/snapshot.py; this module is how it reads and writes those entries, and how it
reads the catalog (a :class:`Reader` over the same transaction), so that every read
of one refresh sees one consistent state.

Keys of the ``table`` database: ``head`` (the snapshot's head), ``cols`` (the tag of
its columns), ``c<tag>/<column>`` (one value per column; callers name it ``c/<column>``),
``delta`` (the cached delta). docs/format.md describes them.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import lmdb

from mstore.store.index import DIRTY_CAP, split_pk
from mstore.store.reader import Reader

if TYPE_CHECKING:
    from mstore.store.index import PathState
    from mstore.store.store import Store

COLUMN = b"c/"  # how callers name a column's key: c/<column>
COLUMNS_TAG = b"cols"

__all__ = ["DIRTY_CAP", "NeedsRoom", "TableTxn", "grow", "split_pk", "store_delta",
           "store_table"]


class TableTxn:
    """One read transaction for the snapshot. ``buffers=True``: values are views of the
    map, so a column is copied or decoded straight from it and an unused one is never
    touched; a view is valid until the transaction ends (``close``) or this process maps
    the file anew (``Index.map_epoch``).

    Each value's view is looked up once and kept: py-lmdb touches every page of a value
    on each ``get`` (so that page faults happen without the GIL), which costs ~0.4 ms for
    a million rows' paths — and reading the 20 rows ``find --limit 20`` shows asks for
    the same columns a hundred times."""

    def __init__(self, store: Store) -> None:
        index = self._index = store.index
        self._txn = index.read(buffers=True)
        self._table = index.db["table"]
        self._views: dict[bytes, memoryview | None] = {}
        self._epoch = index.map_epoch
        # where this table's columns are: c<tag>/<column> (c/<column> in older layouts)
        tag = self._txn.get(COLUMNS_TAG, db=self._table)
        self._columns = b"c" + bytes(tag) + b"/" if tag else COLUMN
        self.reader = Reader(index, self._txn)

    def close(self) -> None:
        self._views.clear()
        self._txn.abort()

    def get(self, key: bytes) -> memoryview | None:
        """A value of the ``table`` database (``c/<column>``: the table's column)."""
        if self._epoch != self._index.map_epoch:  # the map moved: the views point nowhere
            self._views.clear()
            self._epoch = self._index.map_epoch
        try:
            return self._views[key]
        except KeyError:
            where = self._columns + key[len(COLUMN):] if key.startswith(COLUMN) else key
            view = self._views[key] = self._txn.get(where, db=self._table)
            return view

    def meta_int(self, key: bytes) -> int:
        """``data_gen``, ``dirty_over``: integers of the index's meta database."""
        return int(bytes(self._txn.get(key, db=self._index.db["meta"]) or b"0"))

    def dirty(self) -> Iterator[tuple[bytes, int]]:
        """(key, data_gen) of every change listed: b"a" + asset id, or b"e" + full pk."""
        return self._index.dirty(self._txn)

    def dirty_count(self) -> int:
        return self._index.dirty_count(self._txn)

    def full_key(self, key: bytes) -> bytes:
        """The full value a (possibly hashed) key part stands for."""
        return self._index.full_key(self._txn, key)

    def present_in_dir(self, root: str, d: bytes, known: dict[bytes, str],
                       decode: Callable[[memoryview], PathState]) -> list[tuple[bytes, str]]:
        """(name, asset) of the present paths directly in directory ``d`` of ``root``
        (``Index.present_in_dir``); ``known`` names (present, with these assets) are
        taken without decoding their state, ``decode`` decodes a PathState."""
        return self._index.present_in_dir(self._txn, root, d, known, decode)


class NeedsRoom(Exception):
    """The index's map is full and was not grown: views of it are held (see store_table)."""


def grow(store: Store) -> None:
    """Double the index's map; no transaction of this process may be open."""
    store.index.grow()


def store_table(store: Store, entries: Callable[[], Iterable[tuple[bytes, bytes]]], gen: int,
                meta_gen: bytes, keep: Callable[[memoryview | None], bool], *,
                views_held: bool = False) -> None:
    """Replace the ``table`` database with ``entries()`` as the snapshot of data_gen
    ``gen`` (``meta_gen``: the meta ``table_gen`` value), and forget the changes it holds —
    unless ``keep(current head)`` says the snapshot there is newer.

    Each column (a ``c/`` key) is written in a transaction of its own, under a tag new to
    this call (``c<tag>/<column>``); one last transaction then names the tag (``cols``),
    puts the other entries (the head) and drops every other key — so readers see the old
    table or the new one, and what a write holds in memory until it commits is one column,
    not the whole table (a million rows' columns are ~250 MB). One process stores a table
    at a time (an ``flock`` on ``table.lock`` beside the index): the last transaction may
    then drop what a writer that died half-way left. ``entries()`` is called once, so its
    values can be made one at a time. ``views_held``: the caller reads values of a read
    transaction it holds while writing; a full map then raises NeedsRoom instead of
    growing (which would unmap what those views point at): close it, ``grow``, and try
    again."""
    index = store.index
    db = index.db["table"]
    with index.read() as txn:
        if keep(txn.get(b"head", db=db)):
            return
    with _one_table_writer(index.path):
        tag = os.urandom(4).hex().encode()
        staged = b"c" + tag + b"/"
        last: list[tuple[bytes, bytes]] = []
        try:
            for key, raw in entries():
                if key.startswith(COLUMN):
                    index.run_write(_put, db, staged + key[len(COLUMN):], raw,
                                    grow=not views_held)
                else:
                    last.append((key, raw))
                del raw  # not held while the next column is made

            def do(txn: lmdb.Transaction) -> None:
                if keep(txn.get(b"head", db=db)):  # another process stored a newer one
                    for key in list(txn.cursor(db=db).iternext(values=False)):
                        if key.startswith(staged):
                            txn.delete(key, db=db)
                    return
                # every other key goes: the old columns, older layouts, the delta
                for key in list(txn.cursor(db=db).iternext(values=False)):
                    if not key.startswith(staged):
                        txn.delete(key, db=db)
                for key, raw in last:
                    txn.put(key, raw, db=db)
                txn.put(COLUMNS_TAG, tag, db=db)
                txn.put(b"table_gen", meta_gen, db=index.db["meta"])
                index.clear_dirty(txn, gen)

            index.run_write(do, grow=not views_held)
        except lmdb.MapFullError as e:
            raise NeedsRoom(str(e)) from e


def _put(txn: lmdb.Transaction, db: object, key: bytes, raw: bytes) -> None:
    txn.put(key, raw, db=db)


@contextmanager
def _one_table_writer(index_dir: Path) -> Iterator[None]:
    fd = os.open(index_dir / "table.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing drops the lock


def store_delta(store: Store, blob: bytes, applies: Callable[[memoryview | None], bool]
                ) -> None:
    """Cache a delta while ``applies(current head)``; best effort (it is only a cache)."""
    index = store.index

    def do(txn: lmdb.Transaction) -> None:
        db = index.db["table"]
        if applies(txn.get(b"head", db=db)):
            txn.put(b"delta", blob, db=db)

    try:
        index.run_write(do)
    except lmdb.Error:
        pass
