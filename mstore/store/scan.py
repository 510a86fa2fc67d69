"""Prefix scans of an LMDB database: the one loop every "all entries under this key
prefix" lookup of the index uses."""

from __future__ import annotations

from collections.abc import Iterator

import lmdb


def prefix_items(txn: lmdb.Transaction, db: object, prefix: bytes
                 ) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of every entry whose key starts with ``prefix``, in key order (all
    entries for an empty prefix)."""
    cur = txn.cursor(db=db)
    if not cur.set_range(prefix):
        return
    for key, val in cur:
        key = bytes(key)
        if not key.startswith(prefix):
            return
        yield key, val


def prefix_keys(txn: lmdb.Transaction, db: object, prefix: bytes) -> Iterator[bytes]:
    """The keys starting with ``prefix``, in key order, without reading the values."""
    cur = txn.cursor(db=db)
    if not cur.set_range(prefix):
        return
    for key in cur.iternext(values=False):
        key = bytes(key)
        if not key.startswith(prefix):
            return
        yield key
