"""A check of the index's LMDB data file before it is mapped.

LMDB maps ``data.mdb`` into memory and trusts it: a file cut short (a full disk, a
copier that stopped half way, a crash of the file system) makes the first read past
its end kill the process with SIGBUS, which no Python code can catch. The index is a
cache, so a damaged one is rebuilt; this check finds the damage while that is still
possible, from LMDB's two meta pages (lmdb ``mdb.c``: ``MDB_meta`` after the 16-byte
page header), which name the last page in use.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

MAGIC = 0xBEEFC0DE
DATA_VERSION = 1
PAGE_HEADER = 16
# offsets inside a meta page (64-bit LMDB): mm_magic, mm_version, then mm_address and
# mm_mapsize (8 bytes each), mm_dbs[2] (48 bytes each; the first one's md_pad is the page
# size), mm_last_pg, mm_txnid
OFF_MAGIC = PAGE_HEADER
OFF_PSIZE = PAGE_HEADER + 24
OFF_LAST_PG = PAGE_HEADER + 24 + 96
META_LEN = OFF_LAST_PG + 16


def data_file_problem(path: Path) -> str:
    """Why the LMDB data file at ``path`` must not be mapped ('' when it looks whole, or
    does not exist yet)."""
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            head = f.read(PAGE_HEADER + META_LEN)
            if len(head) < META_LEN:
                return f"{path.name} is {size} bytes, too short for LMDB's meta pages"
            (psize,) = struct.unpack_from("<I", head, OFF_PSIZE)
            if psize < 512 or psize > 65536 or psize & (psize - 1):
                return f"{path.name} has no valid page size"
            f.seek(psize)
            second = f.read(META_LEN)
    except FileNotFoundError:
        return ""
    except OSError as e:
        return f"cannot read {path.name}: {e.strerror}"
    best: tuple[int, int] | None = None  # (txnid, last page) of the newest valid meta
    for meta in (head, second):
        if len(meta) < META_LEN:
            continue
        magic, version = struct.unpack_from("<II", meta, OFF_MAGIC)
        if magic != MAGIC or version != DATA_VERSION:
            continue
        last_pg, txnid = struct.unpack_from("<QQ", meta, OFF_LAST_PG)
        if best is None or txnid > best[0]:
            best = (txnid, last_pg)
    if best is None:
        return f"{path.name} is not an LMDB file of this version"
    need = (best[1] + 1) * psize
    if size < need:
        return f"{path.name} is cut short ({size} of {need} bytes)"
    return ""
