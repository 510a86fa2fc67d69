"""The present paths of a whole archive root as the last ``add`` read them from the index,
kept beside it, so that the next ``add`` of that root reads them in one piece.

An unchanged rescan compares each file's stat with the state the index holds for its
path. Getting 100k states out of LMDB one entry at a time costs about as much as a
third of the walk itself; this file holds the same states, msgpack-encoded in one
value (the paths joined, the states in one array), which decode in a few C-level calls.

It is a cache of the index, and only used as one: it records the index's data
generation it was read at, and any change to the catalog moves that generation, so a
stale file is never used (the next ``add`` reads the index and writes it again). It
lives in the index's own directory, so it goes when the index is dropped or rebuilt.
A file that cannot be read or decoded is ignored.
"""

from __future__ import annotations

import os
from pathlib import Path

import lmdb
import msgspec

from mstore.store.index import Index, PathState

FORMAT = 1


class _CacheFile(msgspec.Struct, array_like=True):
    format: int
    gen: int  # the index's data_gen the states were read at
    root: str
    paths: bytes  # relative paths, joined with NUL (which no path contains)
    states: list[PathState]  # in the same order


_decoder = msgspec.msgpack.Decoder(_CacheFile)


def _path(index: Index, root: str) -> Path:
    return index.path / f"present-{root.encode().hex()}.cache"


def load(index: Index, txn: lmdb.Transaction, root: str) -> dict[bytes, PathState] | None:
    """The present states of ``root``'s paths as the index holds them now, or None when
    the cache is missing, stale or unreadable."""
    try:
        raw = _path(index, root).read_bytes()
        c = _decoder.decode(raw)
    except (OSError, msgspec.DecodeError):
        return None
    if c.format != FORMAT or c.root != root or c.gen != index.meta_int(txn, b"data_gen"):
        return None
    paths = c.paths.split(b"\0") if c.states else []
    if len(paths) != len(c.states):
        return None
    return dict(zip(paths, c.states, strict=True))


def save(index: Index, root: str, gen: int, states: dict[bytes, PathState]) -> None:
    """Keep ``states`` (read at data_gen ``gen``) for the next add; best effort."""
    path = _path(index, root)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(msgspec.msgpack.encode(_CacheFile(
            FORMAT, gen, root, b"\0".join(states), list(states.values()))))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
