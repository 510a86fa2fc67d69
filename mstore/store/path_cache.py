"""The present paths of a whole archive root as the last ``add`` read them from the index,
kept beside it, so that the next ``add`` of that root reads them in one piece.

An unchanged rescan compares each file's stat with the state the index holds for its
path. Getting 100k states out of LMDB one entry at a time costs about as much as a
third of the walk itself; this file holds the same states packed as
store/present_paths.py holds them (the paths joined, each column one array), which
load in a few C-level calls.

It is a cache of the index, and only used as one: it records the index's data
generation it was read at, and any change to the catalog moves that generation, so a
stale file is never used (the next ``add`` reads the index and writes it again). It
lives in the index's own directory, so it goes when the index is dropped or rebuilt.
A file that cannot be read or decoded is ignored.
"""

from __future__ import annotations

import mmap
import os
import struct
from itertools import islice
from pathlib import Path

import lmdb
import msgspec

from mstore.store.index import Index
from mstore.store.present_paths import PresentPaths

FORMAT = 2


class _CacheFile(msgspec.Struct, array_like=True):
    format: int
    gen: int  # the index's data_gen the states were read at
    root: str
    # views into the mapped file (no copies): the relative paths joined with NUL (which
    # no path contains); in the same order, array("q") bytes of each stat column and the
    # clock, and the asset ids, 32 raw bytes each
    paths: memoryview
    size: memoryview
    mtime: memoryview
    inode: memoryview
    ctime: memoryview
    hlc: memoryview
    assets: memoryview


_decoder = msgspec.msgpack.Decoder(_CacheFile)


def _path(index: Index, root: str) -> Path:
    return index.path / f"present-{root.encode().hex()}.cache"


def load(index: Index, txn: lmdb.Transaction, root: str) -> PresentPaths | None:
    """The present states of ``root``'s paths as the index holds them now, or None when
    the cache is missing, stale or unreadable. The file is mapped, not read: what this
    holds beyond the packed result is the paths split, not a copy of the file."""
    try:
        with open(_path(index, root), "rb") as f:
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # missing, unreadable, empty
        return None
    try:
        return _unpack(mm, root, index.meta_int(txn, b"data_gen"))
    finally:
        mm.close()


def _unpack(mm: mmap.mmap, root: str, gen: int) -> PresentPaths | None:
    try:
        c = _decoder.decode(mm)
    except msgspec.DecodeError:
        return None
    try:
        if c.format != FORMAT or c.root != root or c.gen != gen:
            return None
        out = PresentPaths()
        columns = (out.size, out.mtime, out.inode, out.ctime, out.hlc)
        for column, data in zip(columns, (c.size, c.mtime, c.inode, c.ctime, c.hlc),
                                strict=True):
            column.frombytes(data)
        n = len(out.size)
        paths = bytes(c.paths).split(b"\0") if n else []
        if len(paths) != n or any(len(col) != n for col in columns) or len(c.assets) != 32 * n:
            return None
        out.rows = dict(zip(paths, range(n), strict=True))
        out.assets = bytearray(c.assets)
        out.marks = bytearray(n)
        return out
    finally:
        for view in (c.paths, c.size, c.mtime, c.inode, c.ctime, c.hlc, c.assets):
            view.release()  # before the map closes


def save(index: Index, root: str, gen: int, states: PresentPaths) -> None:
    """Keep ``states`` (read at data_gen ``gen``) for the next add; best effort.

    Written piece by piece, as the MessagePack array ``_CacheFile`` decodes, so that
    saving a million paths holds no second copy of them."""
    path = _path(index, root)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    columns = (states.size, states.mtime, states.inode, states.ctime, states.hlc)
    n = len(states.rows)  # rows are numbered in the order of ``rows`` (put only appends)
    try:
        with open(tmp, "wb") as f:
            f.write(b"\x9a" + msgspec.msgpack.encode(FORMAT) + msgspec.msgpack.encode(gen)
                    + msgspec.msgpack.encode(root))
            f.write(_bin_header(sum(map(len, states.rows)) + n - 1 if n else 0))
            paths = iter(states.rows)
            first = True
            while batch := list(islice(paths, 65_536)):
                f.write((b"" if first else b"\0") + b"\0".join(batch))
                first = False
            for column in columns:
                f.write(_bin_header(column.itemsize * len(column)))
                f.write(memoryview(column).cast("B"))
            f.write(_bin_header(len(states.assets)))
            f.write(states.assets)
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)


def _bin_header(size: int) -> bytes:
    return b"\xc6" + struct.pack(">I", size)  # MessagePack bin 32
