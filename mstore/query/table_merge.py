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
from collections.abc import Iterator

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


class ColumnMerge:
    """The stored columns and head of ``base`` with ``segments`` (output order) of its
    rows and of ``delta``'s. ``columns()`` makes them one at a time, so a caller that
    stores each as it comes holds one column of the result, not all of them."""

    def __init__(self, base_src: ColumnSource, base_head: TableHead, delta: CatalogTable,
                 segments: list[Segment]) -> None:
        dcols, dhead = delta.to_columns()
        self.base_src, self.dsrc = base_src, DictSource(dcols)
        self.heads = (base_head, dhead)
        self.segments = [s for s in segments if s[1] < s[2]]
        self.cameras, self._cam_at = joined_names(base_head.cameras, dhead.cameras)
        self.one_per_row = base_head.one_per_row and dhead.one_per_row
        # the two parts as stored tables: their path offsets and rows, decoded when used
        self.parts = (CatalogTable.stored(base_src, base_head),
                      CatalogTable.stored(self.dsrc, dhead))
        # per segment, its path range in its part
        self._paths = [(p, self.parts[p].first_path(a), self.parts[p].first_path(b))
                       for p, a, b in self.segments]
        if base_head.roots is None or dhead.roots is None:
            roots = None
        else:
            roots = list(dict.fromkeys([*base_head.roots, *dhead.roots]))
            roots = roots if len(roots) <= MAX_ROOTS else None
        self.head = TableHead(
            n=sum(b - a for _, a, b in self.segments),
            npaths=sum(pb - pa for _, pa, pb in self._paths), cameras=self.cameras,
            one_per_row=self.one_per_row, ascii=True, roots=roots)

    def _fixed(self, name: str, width: int,
               parts: tuple[bytes | memoryview | None, ...] | None = None) -> bytes:
        raws = parts or (self.base_src.get(name), self.dsrc.get(name))
        return b"".join(memoryview(raws[p] or b"")[width * a:width * b]
                        for p, a, b in self.segments)

    def columns(self) -> Iterator[tuple[str, bytes]]:
        base_src, dsrc = self.base_src, self.dsrc
        base_head, dhead = self.heads
        ids = self._fixed("ids", 32)
        yield "ids", ids
        yield "id_order", self._id_order(ids).tobytes()
        del ids  # 32 bytes a row: not held while the path columns are made
        for name, width in (("kinds", 1), ("sizes", 8), ("taken", 8), ("flags", 4),
                            ("lat", 8), ("lon", 8)):
            yield name, self._fixed(name, width)
        # the delta's camera numbers and error strings renumbered into the merged lists
        dcam = array("I", (self._cam_at[dhead.cameras[k]] for k in _arr("I", dsrc.get("camera"))))
        yield "camera", self._fixed("camera", 4, (base_src.get("camera"), dcam.tobytes()))
        bnames = msgspec.msgpack.decode(bytes(base_src.get("err_names") or b"\x91\xa0"))
        dnames = msgspec.msgpack.decode(bytes(dsrc.get("err_names") or b"\x91\xa0"))
        names, eat = joined_names(bnames, dnames)
        yield "err_names", msgspec.msgpack.encode(names)
        if len(names) > 1:
            braw = base_src.get("err_idx")
            bidx = bytes(braw) if braw else bytes(4 * base_head.n)
            draw = dsrc.get("err_idx")
            didx = array("I", (eat[dnames[k]] for k in _arr("I", draw))) if draw else array(
                "I", bytes(4 * dhead.n))
            yield "err_idx", self._fixed("err_idx", 4, (bidx, didx.tobytes()))
        yield from self._path_columns()

    def _path_columns(self) -> Iterator[tuple[str, bytes]]:
        """paths, path_off, lower, path_rows: slices of each part's NUL-joined blob (and of
        its lower-cased text) between its path offsets, the offsets shifted. Each column is
        one allocation of its final size, dropped here once yielded: at a million rows a
        column of paths is ~60 MB, and a merge holds one at a time."""
        offs = (self.parts[0]._path_off, self.parts[1]._path_off)
        srcs = (self.base_src, self.dsrc)
        ranges: list[tuple[int, int, int]] = []  # (part, first byte, end byte) of each piece
        new_off = array("q", [0])
        new_rows = array("I")
        pos = row = 0
        for (p, a, b), (_, pa, pb) in zip(self.segments, self._paths, strict=True):
            off = offs[p]
            if pa < pb:
                ranges.append((p, off[pa], off[pb] - 1))
                shift = pos - off[pa]
                new_off.extend(map(shift.__add__, off[pa + 1:pb + 1]))
                pos = new_off[-1]
                if not self.one_per_row:
                    new_rows.extend(map((row - a).__add__, self.parts[p].path_rows[pa:pb]))
            row += b - a
        raw = b"\0".join(memoryview(srcs[p].get("paths") or b"")[i:j] for p, i, j in ranges)
        yield "paths", raw
        del raw
        yield "path_off", new_off.tobytes()
        del new_off
        # a part's lower-cased text is NUL + its paths lower-cased and NUL-joined: path
        # bytes i..j are its bytes i+1..j+1
        pieces: list[bytes | memoryview] = []
        for p, i, j in ranges:
            pieces += (b"\0", memoryview(srcs[p].get("lower") or b"")[i + 1:j + 1])
        yield "lower", b"".join(pieces)
        del pieces
        if not self.one_per_row:
            yield "path_rows", new_rows.tobytes()

    def _id_order(self, ids: bytes) -> array:
        """The snapshot's id order without the rows that went, renumbered, with the
        delta's rows put in by bisection."""
        base_head, dhead = self.heads
        # per part, each row's number in the result, or -1 if it is not kept
        new_row = (array("q", [-1]) * base_head.n, array("q", [-1]) * dhead.n)
        row = 0
        for p, a, b in self.segments:
            new_row[p][a:b] = array("q", range(row, row + b - a))
            row += b - a
        bmap, dmap = new_row
        kept = array("I", (bmap[r] for r in _arr("I", self.base_src.get("id_order"))
                           if bmap[r] >= 0))
        if not kept:  # nothing of the snapshot stays (a store's first add): the delta's order
            return array("I", (dmap[r] for r in _arr("I", self.dsrc.get("id_order"))
                               if dmap[r] >= 0))

        def key(r: int) -> bytes:
            return ids[32 * r:32 * r + 32]

        order = array("I")
        start = 0
        for r in _arr("I", self.dsrc.get("id_order")):
            if dmap[r] < 0:
                continue
            at_k = bisect_left(kept, key(dmap[r]), lo=start, key=key)
            order.extend(kept[start:at_k])
            order.append(dmap[r])
            start = at_k
        order.extend(kept[start:])
        return order


def merge_columns(base_src: ColumnSource, base_head: TableHead, delta: CatalogTable,
                  segments: list[Segment]) -> ColumnMerge | None:
    """The merge of ``delta`` into the stored table, or None when a path is not ASCII
    (the caller merges through Python objects then)."""
    if not base_head.ascii:
        return None
    merge = ColumnMerge(base_src, base_head, delta, segments)
    return merge if merge.heads[1].ascii else None
