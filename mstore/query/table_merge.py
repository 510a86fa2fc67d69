"""Merging a delta into a stored catalog table, column by column.

A bulk add merges the rows of the files it found new into the snapshot (query/fresh.py,
snapshot._refresh_with). Decoding the stored table into per-row Python objects to merge
it would cost memory in proportion to the whole catalog (a million paths as a million
``bytes`` objects); this merge instead joins slices of the stored columns — which are
views of the index's map — with the delta's, one column at a time, so what it holds
beyond the result is the delta and a few arrays of row numbers.

It handles the common layout (every path ASCII, in the snapshot and in the delta); a
table with other paths is merged through Python objects (``None`` is returned).
"""

from __future__ import annotations

from array import array
from bisect import bisect_left

import msgspec

from mstore.query.table import (
    MAX_ROOTS,
    CatalogTable,
    ColumnSource,
    DictSource,
    TableHead,
    _arr,
)

Segment = tuple[int, int, int]  # (part: 0 base / 1 delta, first row, end row)


def joined_names(base: list[str], more: list[str]) -> tuple[list[str], dict[str, int]]:
    """``base`` followed by the names of ``more`` it lacks, and each name's number in it
    (a merged table's cameras and error strings: the snapshot's numbers stay valid)."""
    names = list(base)
    at = {c: i for i, c in enumerate(names)}
    for c in more:
        if c not in at:
            at[c] = len(names)
            names.append(c)
    return names, at


def _offsets(src: ColumnSource) -> array:
    return _arr("q", src.get("path_off"))


def _path_rows(src: ColumnSource, head: TableHead) -> array:
    if head.one_per_row:
        return array("I", range(head.n))
    return _arr("I", src.get("path_rows"))


def merge_columns(base_src: ColumnSource, base_head: TableHead, delta: CatalogTable,
                  segments: list[Segment]) -> tuple[dict[str, bytes], TableHead] | None:
    """The stored columns and head of ``base`` with ``segments`` (output order) of its rows
    and of ``delta``'s; None when a path is not ASCII (the caller merges otherwise)."""
    dcols, dhead = delta.to_columns()
    if not (base_head.ascii and dhead.ascii):
        return None
    dsrc = DictSource(dcols)
    heads = (base_head, dhead)
    segments = [s for s in segments if s[1] < s[2]]
    out: dict[str, bytes] = {}
    n = sum(b - a for _, a, b in segments)

    def fixed(name: str, width: int, parts: tuple[bytes | memoryview | None, ...] | None = None
              ) -> None:
        raws = parts or (base_src.get(name), dsrc.get(name))
        out[name] = b"".join(memoryview(raws[p] or b"")[width * a:width * b]
                             for p, a, b in segments)

    for name, width in (("ids", 32), ("kinds", 1), ("sizes", 8), ("taken", 8), ("flags", 4)):
        fixed(name, width)

    # cameras: the snapshot's list, then the delta's new names; the delta's codes remapped
    cameras, at = joined_names(base_head.cameras, dhead.cameras)
    dcam = array("I", (at[dhead.cameras[k]] for k in _arr("I", dsrc.get("camera"))))
    fixed("camera", 4, (base_src.get("camera"), dcam.tobytes()))

    # errors: the same, for the distinct error strings
    bnames = msgspec.msgpack.decode(bytes(base_src.get("err_names") or b"\x91\xa0"))
    dnames = msgspec.msgpack.decode(dcols["err_names"])
    names, eat = joined_names(bnames, dnames)
    out["err_names"] = msgspec.msgpack.encode(names)
    if len(names) > 1:
        braw = base_src.get("err_idx")
        bidx = bytes(braw) if braw else bytes(4 * base_head.n)
        draw = dsrc.get("err_idx")
        didx = array("I", (eat[dnames[k]] for k in _arr("I", draw))) if draw else array(
            "I", bytes(4 * dhead.n))
        fixed("err_idx", 4, (bidx, didx.tobytes()))

    # paths: slices of each part's NUL-joined blob between its path offsets
    offs = (_offsets(base_src), _offsets(dsrc))
    rows_of = (_path_rows(base_src, base_head), _path_rows(dsrc, dhead))
    one_per_row = base_head.one_per_row and dhead.one_per_row
    pieces: list[memoryview] = []
    new_off = array("q", [0])
    new_rows = array("I")
    pos = row = 0
    blobs = (base_src.get("paths"), dsrc.get("paths"))
    for p, a, b in segments:
        off = offs[p]
        pa = a if heads[p].one_per_row else bisect_left(rows_of[p], a)
        pb = b if heads[p].one_per_row else bisect_left(rows_of[p], b)
        if pa < pb:
            pieces.append(memoryview(blobs[p] or b"")[off[pa]:off[pb] - 1])
            shift = pos - off[pa]
            new_off.extend(map(shift.__add__, off[pa + 1:pb + 1]))
            pos = new_off[-1]
            if not one_per_row:
                new_rows.extend(map((row - a).__add__, rows_of[p][pa:pb]))
        row += b - a
    raw = b"\0".join(pieces)
    out["paths"] = raw
    out["path_off"] = new_off.tobytes()
    out["lower"] = b"\0" + raw.lower() if raw else b""
    if not one_per_row:
        out["path_rows"] = new_rows.tobytes()

    # id_order: the snapshot's order without the rows that went, renumbered, with the
    # delta's rows put in by bisection
    # per part, each row's number in the result, or -1 if it is not kept
    new_row = (array("q", [-1]) * base_head.n, array("q", [-1]) * dhead.n)
    row = 0
    for p, a, b in segments:
        new_row[p][a:b] = array("q", range(row, row + b - a))
        row += b - a
    bmap, dmap = new_row
    kept = array("I", (bmap[r] for r in _arr("I", base_src.get("id_order")) if bmap[r] >= 0))
    ids = out["ids"]

    def key(r: int) -> bytes:
        return ids[32 * r:32 * r + 32]

    order = array("I")
    start = 0
    for r in _arr("I", dsrc.get("id_order")):
        if dmap[r] < 0:
            continue
        at_k = bisect_left(kept, key(dmap[r]), lo=start, key=key)
        order.extend(kept[start:at_k])
        order.append(dmap[r])
        start = at_k
    order.extend(kept[start:])
    out["id_order"] = order.tobytes()

    if base_head.roots is None or dhead.roots is None:
        roots = None
    else:
        roots = list(dict.fromkeys([*base_head.roots, *dhead.roots]))
        roots = roots if len(roots) <= MAX_ROOTS else None
    head = TableHead(n=n, npaths=len(new_off) - 1, cameras=cameras, one_per_row=one_per_row,
                     ascii=True, roots=roots)
    return out, head
