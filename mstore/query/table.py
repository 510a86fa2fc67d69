"""The catalog table: a columnar snapshot of the index that ``find`` and ``status`` scan.

Decoding one msgspec struct per asset costs ~2 us, too slow for 100k assets in
under 100 ms, so the index keeps this columnar copy where every column is its
own value (``to_columns``) and a query loads only the columns it touches: a
``kind:`` count reads 1 byte per row and never the paths; ``--limit 20`` slices
20 paths out of the joined paths instead of splitting all of them.

Rows are sorted in output order: by primary path (root name, then path bytes),
then id. A row is either an asset (``ids[i]`` is its 32-byte id) or an
error-only entry for a path that could not be hashed at all (kind ``error``, id
all zero bytes).

A :class:`CatalogTable` is either built in memory (by ``snapshot.build`` and by
tests, attributes are plain lists and arrays) or *stored*: then each column is
decoded from a :class:`ColumnSource` on first access (``__getattr__``). A
:class:`MergedTable` is a stored snapshot minus the rows that changed since it
was built plus a small delta table, merged in output order without copying.
"""

from __future__ import annotations

import re
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from itertools import accumulate, chain, repeat
from operator import add, itemgetter
from typing import Any, Protocol, overload

import msgspec

# one byte per row in ``kinds``
# codes are stored in snapshots: a new kind gets the next free code (dict order is the
# order kinds are listed in)
KIND_CODES = {"image": 1, "video": 2, "audio": 3, "text": 4, "document": 7, "other": 5,
              "error": 6}
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}

# bits in ``flags``
F_GPS = 1  # has GPS coordinates
F_MISSING = 2  # every path of the asset is gone
F_ERROR = 4  # a recorded error (probe error on the asset, or a path error)
F_SIDECAR = 8  # a sidecar (.xmp/.aae) sits next to one of its paths
F_LIVE = 16  # part of a Live Photo pair (image + .mov of the same stem), or a motion photo
F_TAKEN = 32  # has a capture time
F_ANIMATED = 64  # image with more than one frame
# not a query flag: the asset's own probe failed (as opposed to an error at one of
# its paths); ``status`` counts these, so a delta can adjust the count per row
F_PROBE_ERROR = 128
# not a query flag: a sidecar with a file of its own next to it (same directory and
# stem) that it belongs to; the UI shows it with that file (``query/sidecars.py``)
F_ATTACHED = 256

NO_ID = bytes(32)

FS_ENCODING = sys.getfilesystemencoding()
FS_ERRORS = sys.getfilesystemencodeerrors()
MAX_ROOTS = 16  # more distinct roots than this: root_names() gives up (None)


class TableHead(msgspec.Struct):
    """What a stored table knows without reading a column."""

    n: int
    npaths: int
    cameras: list[str]
    one_per_row: bool  # path j belongs to row j for every j (path_rows is the identity)
    ascii: bool  # every path is ASCII: lower-text positions equal byte offsets
    roots: list[str] | None  # root_names() of the paths


class ColumnSource(Protocol):
    """Raw column values by name; a value is only used until the next ``get``."""

    def get(self, name: str) -> bytes | memoryview | None: ...


class DictSource:
    def __init__(self, cols: dict[str, bytes]) -> None:
        self.cols = cols

    def get(self, name: str) -> bytes | None:
        return self.cols.get(name)


class LazySource:
    """Columns made by a function each, when first asked for (row_slice's chunks)."""

    def __init__(self, make: dict[str, Callable[[], bytes | None]]) -> None:
        self.make = make
        self.cols: dict[str, bytes | None] = {}

    def get(self, name: str) -> bytes | None:
        if name not in self.cols:
            fn = self.make.get(name)
            self.cols[name] = fn() if fn is not None else None
        return self.cols[name]


def _arr(code: str, raw: bytes | memoryview | None) -> array:
    a = array(code)
    if raw:
        a.frombytes(raw)
    return a


def lower_text_of(raw_joined: bytes) -> str:
    """NUL + the NUL-joined paths, decoded like os.fsdecode, lowercased and without
    accents (``fold_accents``).

    NUL cannot occur in a path, so it is a safe separator, and one decode and one
    lower() over the whole text are several times faster than per path. The
    leading NUL puts one before every path, so "at the start of a path" is "after
    a NUL" for all of them.
    """
    if raw_joined.isascii():  # bytes.lower() is ASCII-only, exact here, and faster
        return (b"\0" + raw_joined.lower()).decode("ascii")
    return fold_accents(("\0" + raw_joined.decode(FS_ENCODING, FS_ERRORS)).lower())


_ACCENTS = re.compile("[\u0300-\u036f]+")  # the combining diacritical marks


def fold_accents(text: str) -> str:
    """``text`` without the accents of its letters ("Café" and "Cafe\u0301" -> "Cafe"):
    how the catalog's path text is kept and path terms are matched against it, so that
    "cafe" finds "Café" and a name macOS wrote decomposed ("e" and a combining accent)
    is found however it is typed. Letters that are not a letter and an accent ("ø",
    "ß", "ł") stay."""
    if text.isascii():
        return text
    import unicodedata  # only for text that is not ASCII

    return unicodedata.normalize("NFC", _ACCENTS.sub("", unicodedata.normalize("NFD", text)))


def after_of(lengths: Iterator[int] | map) -> array:
    """``after[j]``: position, in the lower text, of the NUL after path ``j`` (or its end).

    Path ``j`` is ``text[after[j - 1] + 1 : after[j]]``, and a position ``p`` inside
    it or at its end has ``bisect_left(after, p) == j``.
    """
    return array("q", accumulate(map(add, lengths, repeat(1))))


def root_names(text: str, npaths: int) -> tuple[str, ...] | None:
    """The distinct (lowercased) root names of all paths in ``text``; None when there
    are more than MAX_ROOTS or a path has no "/".

    Found by counting NUL + "root/" in the text, one ``str.count`` pass per root
    (a store has a handful of roots).
    """
    roots: list[str] = []
    seen = 0  # paths whose root is in ``roots``
    while seen < npaths and len(roots) < MAX_ROOTS:
        if roots:
            known = "|".join(re.escape(r) for r in roots)
            m = re.compile(f"\\0(?!(?:{known})/)([^/\\0]*)/").search(text)
        else:
            m = re.compile("\\0([^/\\0]*)/").match(text)
        if m is None:
            break
        roots.append(m.group(1))
        seen += text.count(f"\0{m.group(1)}/")
    return tuple(roots) if seen == npaths else None


class PathList(Sequence[bytes]):
    """Paths sliced on demand out of the stored NUL-joined blob, by the stored byte offsets
    (``path_off``) — read in place for each path asked for, so that reading the paths of
    the 20 rows ``find --limit 20`` shows does not decode a million offsets."""

    def __init__(self, src: ColumnSource) -> None:
        self._src = src

    def _offsets(self) -> Sequence[int]:
        # a view of the map, used at once and dropped (see query/snapshot.py _Source)
        return memoryview(self._src.get("path_off") or b"").cast("q")

    def __len__(self) -> int:
        return max(len(self._offsets()) - 1, 0)

    @overload
    def __getitem__(self, j: int) -> bytes: ...
    @overload
    def __getitem__(self, j: slice) -> list[bytes]: ...
    def __getitem__(self, j: int | slice) -> bytes | list[bytes]:
        if isinstance(j, slice):
            return [self[k] for k in range(*j.indices(len(self)))]
        off = self._offsets()
        n = max(len(off) - 1, 0)
        if j < 0:
            j += n
        if not 0 <= j < n:
            raise IndexError("path index out of range")
        blob = self._src.get("paths") or b""
        return bytes(blob[off[j] : off[j + 1] - 1])

    def __iter__(self) -> Iterator[bytes]:
        if len(self):
            yield from bytes(self._src.get("paths") or b"").split(b"\0")


class CatalogTable:
    """Columns, one entry per row (``n`` rows).

    ids        32 bytes per row
    kinds      KIND_CODES, 1 byte per row
    sizes      array("q"), bytes
    taken      array("q"), capture time as an integer YYYYMMDDhhmmss (local time), 0 when unknown
    flags      array("I"), F_* bits
    camera     array("I"), index into ``cameras`` ("Make Model" strings), 0 = unknown ("")
    paths      every current path (or the last known path of a missing asset), as
               "root/relative-path" bytes, with ``path_rows[j]`` the row owning ``paths[j]``.
               A row's paths are contiguous and in sorted order; the first one is its
               primary path.
    errors     per row: error reason or "" (stored as error_codes())
    lat, lon   array("d") each, the capture position in degrees (the file's own or one a
               Google Takeout JSON lends it, as has:gps counts it), nan when unknown
    """

    # columns a stored table decodes on first access
    _LAZY = frozenset(
        {"ids", "kinds", "sizes", "taken", "flags", "camera", "cameras", "paths", "path_rows",
         "errors", "id_order", "lat", "lon"}
    )

    def __init__(
        self,
        ids: bytes = b"",
        kinds: bytes = b"",
        sizes: array | None = None,
        taken: array | None = None,
        flags: array | None = None,
        camera: array | None = None,
        cameras: list[str] | None = None,
        paths: list[bytes] | None = None,
        path_rows: array | None = None,
        errors: list[str] | None = None,
        lat: array | None = None,
        lon: array | None = None,
    ) -> None:
        self.ids = ids
        self.kinds = kinds
        self.sizes = array("q") if sizes is None else sizes
        self.taken = array("q") if taken is None else taken
        self.flags = array("I") if flags is None else flags
        self.camera = array("I") if camera is None else camera
        self.cameras: list[str] = [""] if cameras is None else cameras
        self.paths: Sequence[bytes] = [] if paths is None else paths
        self.path_rows: Sequence[int] = array("I") if path_rows is None else path_rows
        self.errors: list[str] = [] if errors is None else errors
        self.lat = array("d") if lat is None else lat
        self.lon = array("d") if lon is None else lon
        self._src: ColumnSource | None = None
        self._head: TableHead | None = None

    @classmethod
    def stored(cls, src: ColumnSource, head: TableHead) -> CatalogTable:
        """A table whose columns are decoded from ``src`` when first used."""
        t = cls.__new__(cls)
        t._src, t._head = src, head
        return t

    def __getattr__(self, name: str) -> Any:  # only called for attributes not set yet
        d = self.__dict__
        if name not in self._LAZY or d.get("_src") is None:
            raise AttributeError(name)
        value = self._load(name)
        d[name] = value
        return value

    def _load(self, name: str) -> Any:
        src, head = self._src, self._head
        assert src is not None and head is not None
        if name in ("ids", "kinds"):
            return bytes(src.get(name) or b"")
        if name in ("sizes", "taken"):
            return _arr("q", src.get(name))
        if name in ("flags", "camera", "id_order"):
            return _arr("I", src.get(name))
        if name in ("lat", "lon"):
            return _arr("d", src.get(name))
        if name == "cameras":
            return list(head.cameras)
        if name == "paths":
            return PathList(src)
        if name == "path_rows":
            # the common case needs no column: path j is row j
            return range(head.n) if head.one_per_row else _arr("I", src.get("path_rows"))
        if name == "errors":
            return _ErrorView(*self.error_codes())
        raise AssertionError(name)

    def error_codes(self) -> tuple[list[str], Sequence[int]]:
        """Distinct error strings (``names[0] == ""``) and, per row, the index of its own.

        Stored so because a catalog repeats a few reasons ("other: unrecognized
        content" on most of some archives): a row's error is two lookups, and an
        ``error:`` term one C-level pass over the indices.
        """
        if self._src is None:
            names = list(dict.fromkeys(chain(("",), self.errors)))
            index = {e: i for i, e in enumerate(names)}
            return names, list(map(index.__getitem__, self.errors))
        if "_error_codes" not in self.__dict__:
            raw = self._src.get("err_idx")
            names = msgspec.msgpack.decode(bytes(self._src.get("err_names") or b"\x91\xa0"))
            self._error_codes = (names, _arr("I", raw) if raw else bytes(self.n))
        return self._error_codes

    @cached_property
    def _path_off(self) -> array:
        assert self._src is not None
        return _arr("q", self._src.get("path_off"))

    @property
    def n(self) -> int:
        return self._head.n if self._head is not None else len(self.kinds)

    @property
    def npaths(self) -> int:
        return self._head.npaths if self._head is not None else len(self.paths)

    def row_id(self, i: int) -> str | None:
        raw = self.id_bytes(i)
        return None if raw == NO_ID else raw.hex()

    def id_bytes(self, i: int) -> bytes:
        if "ids" not in self.__dict__ and self._src is not None:  # 32 bytes, not the column
            return bytes((self._src.get("ids") or b"")[32 * i : 32 * i + 32])
        return self.ids[32 * i : 32 * i + 32]

    def row_of_id(self, raw: bytes) -> int:
        """The row of the asset with this 32-byte id, or -1: in a stored table by
        bisection of its id order, in one held in memory (small: a delta) by a dict of
        its ids built on first use."""
        cut = self.__dict__.get("_cut_from")
        if cut is not None:  # a row_slice: no id order of its own
            whole, a, b = cut
            j = whole.row_of_id(raw)
            return j - a if a <= j < b else -1
        if self._src is None:
            if "_row_of" not in self.__dict__:
                ids = self.ids
                self._row_of = {ids[i:i + 32]: i // 32 for i in range(0, len(ids), 32)}
            return self._row_of.get(raw, -1)
        order = self.id_order
        k = bisect_left(order, raw, key=self.id_bytes)
        return order[k] if k < len(order) and self.id_bytes(order[k]) == raw else -1

    def first_path(self, row: int) -> int:
        """Index of the first path of ``row`` (of the next row's, if it has none)."""
        if self._head is not None and self._head.one_per_row:
            return row
        return bisect_left(self.path_rows, row)

    def row_paths(self, row: int) -> list[bytes]:
        j = self.first_path(row)
        out = []
        while j < self.npaths and self.path_rows[j] == row:
            out.append(self.paths[j])
            j += 1
        return out

    # -- path text, for evaluate ------------------------------------------------
    # A stored table computes these once; an in-memory one on every call, since
    # tests mutate it (the evaluator caches them for one evaluation).
    def lower_text(self) -> str:
        """NUL + the NUL-joined paths, decoded and lowercased (see lower_text_of)."""
        if self._src is None:
            return lower_text_of(b"\0".join(self.paths)) if self.paths else ""
        if "_text" not in self.__dict__:
            raw = self._src.get("lower")
            self._text = str(raw, "utf-8", "surrogatepass") if raw else ""
        return self._text

    def path_after(self) -> array:
        """``after[j]``: position of the NUL after path ``j`` in lower_text() (see after_of)."""
        if self._src is None:
            if self.paths and b"\0".join(self.paths).isascii():
                return after_of(map(len, self.paths))
            return after_of(map(len, self.lower_text().split("\0")[1:]))
        if "_after" not in self.__dict__:
            self._after = _arr("q", self._stored_after().cast("B"))
        return self._after

    def after_view(self) -> Sequence[int]:
        """path_after() of a stored table read in place: a view of the map, for a caller
        that reads a few items now and keeps nothing (row_slice, the chunk skipper)."""
        return self._after if "_after" in self.__dict__ else self._stored_after()

    def _stored_after(self) -> memoryview:
        assert self._src is not None and self._head is not None
        if self._head.ascii:  # positions equal byte offsets: no separate column
            return memoryview(self._src.get("path_off") or b"").cast("q")[1:]
        return memoryview(self._src.get("lower_after") or b"").cast("q")

    def paths_are_rows(self) -> bool:
        """Whether path ``j`` belongs to row ``j`` for all j (one path per row), the
        common case, where a path mask already is the row mask."""
        if self._head is not None:
            return self._head.one_per_row
        return len(self.paths) == self.n and list(self.path_rows) == list(range(self.n))

    def root_names(self) -> tuple[str, ...] | None:
        if self._head is not None:
            return None if self._head.roots is None else tuple(self._head.roots)
        return root_names(self.lower_text(), len(self.paths))

    def row_slice(self, a: int, b: int) -> CatalogTable:
        """Rows ``a`` to ``b`` of a stored table as a stored table of their own, for
        evaluating a query a chunk at a time (``find --limit``): each column is a copy of
        those rows' slice, made when the query first reads it, so a chunk costs what its
        terms read of it, not the table's size. Every column a query reads is there (not
        ``paths``, which the rows are read by, nor ``lat``/``lon``: ``near:`` reads the
        whole table the query runs against, TermContext.catalog); a row is found by its id
        (a provider term's hits) through this table's id order."""
        src, head = self._src, self._head
        assert src is not None and head is not None
        pa, pb = self.first_path(a), self.first_path(b)
        after = self.after_view()
        start = after[pa - 1] if pa else 0
        end = after[pb - 1] if pb else 0
        after_slice = array("q", after[pa:pb])
        del after  # a view of the map: not kept past this call

        def rows_of(name: str, width: int) -> Callable[[], bytes]:
            return lambda: bytes(memoryview(src.get(name) or b"")[width * a:width * b])

        def lower() -> bytes:
            if head.ascii:  # text positions are byte offsets: slice the stored bytes
                return bytes(memoryview(src.get("lower") or b"")[start:end])
            return self.lower_text()[start:end].encode("utf-8", "surrogatepass")

        make: dict[str, Callable[[], bytes | None]] = {
            name: rows_of(name, w) for name, w in (
                ("ids", 32), ("kinds", 1), ("sizes", 8), ("taken", 8), ("flags", 4),
                ("camera", 4))}
        make["err_idx"] = lambda: rows_of("err_idx", 4)() if src.get("err_idx") else None
        make["err_names"] = lambda: bytes(src.get("err_names") or b"\x91\xa0")
        make["lower"] = lower
        make["lower_after"] = lambda: array("q", map((-start).__add__, after_slice)).tobytes()
        if not head.one_per_row:
            make["path_rows"] = lambda: array(
                "I", map((-a).__add__, self.path_rows[pa:pb])).tobytes()
        part = CatalogTable.stored(LazySource(make), TableHead(
            n=b - a, npaths=pb - pa, cameras=head.cameras, one_per_row=head.one_per_row,
            ascii=False, roots=head.roots))
        part._cut_from = (self, a, b)  # its rows by id: found in this table's id order
        return part

    # -- serialization -------------------------------------------------------------
    def to_columns(self) -> tuple[dict[str, bytes], TableHead]:
        """One raw value per column plus the head, as stored in the index."""
        paths = list(self.paths)
        raw = b"\0".join(paths)
        is_ascii = raw.isascii()
        text = lower_text_of(raw) if paths else ""
        off = array("q", accumulate(map(add, map(len, paths), repeat(1)), initial=0))
        n = self.n
        one_per_row = len(paths) == n and list(self.path_rows) == list(range(n))
        err_names, err_idx = self.error_codes()
        cols = {
            "ids": bytes(self.ids),
            "kinds": bytes(self.kinds),
            "sizes": self.sizes.tobytes(),
            "taken": self.taken.tobytes(),
            "flags": self.flags.tobytes(),
            "camera": self.camera.tobytes(),
            "lat": self.lat.tobytes(),
            "lon": self.lon.tobytes(),
            "paths": raw,
            "path_off": off.tobytes(),
            "lower": text.encode("utf-8", "surrogatepass"),
            "err_names": msgspec.msgpack.encode(err_names),
        }
        if len(err_names) > 1:  # else every row's error is ""
            cols["err_idx"] = array("I", err_idx).tobytes()
        if not one_per_row:
            cols["path_rows"] = array("I", self.path_rows).tobytes()
        if not is_ascii:
            cols["lower_after"] = after_of(map(len, text.split("\0")[1:])).tobytes()
        ids = self.ids
        each = [ids[k : k + 32] for k in range(0, 32 * n, 32)]
        # rows sorted by id, to find a changed asset's row without reading every id
        cols["id_order"] = array("I", sorted(range(n), key=each.__getitem__)).tobytes()
        head = TableHead(
            n=n, npaths=len(paths), cameras=list(self.cameras), one_per_row=one_per_row,
            ascii=is_ascii, roots=None if (r := root_names(text, len(paths))) is None else list(r),
        )
        return cols, head

    def to_bytes(self) -> bytes:
        cols, head = self.to_columns()
        return msgspec.msgpack.encode({"head": head, "cols": cols})

    @classmethod
    def from_bytes(cls, data: bytes) -> CatalogTable:
        d = msgspec.msgpack.decode(data)
        return cls.stored(DictSource(d["cols"]), msgspec.convert(d["head"], TableHead))


class MergedTable:
    """``base`` minus replaced rows plus ``delta`` rows, in output order.

    ``segments`` lists, in output order, ``(part, start, stop)`` row ranges of
    ``parts[part]`` (0 = base, 1 = delta). evaluate() runs a query on each part
    and joins the two row masks by segment (every term is row-local), so no
    column is copied; the attributes of a CatalogTable are still available for
    row-level readers (built on first use).
    """

    def __init__(self, base: CatalogTable, delta: CatalogTable,
                 segments: list[tuple[int, int, int]]) -> None:
        self.parts = (base, delta)
        self.segments = segments
        self._starts: list[int] = []
        pos = 0
        for _part, a, b in segments:
            self._starts.append(pos)
            pos += b - a
        self.n = pos

    def locate(self, i: int) -> tuple[CatalogTable, int]:
        """The part holding merged row ``i`` and the row's index there."""
        p, j = self.locate_part(i)
        return self.parts[p], j

    def locate_part(self, i: int) -> tuple[int, int]:
        """(0 for the base or 1 for the delta, row index there) of merged row ``i``."""
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError("row index out of range")
        k = bisect_right(self._starts, i) - 1
        part, a, _b = self.segments[k]
        return part, a + i - self._starts[k]

    def merge_masks(self, masks: tuple[bytes, bytes]) -> bytes:
        """One 0/1 byte per merged row from one per row of each part."""
        return b"".join(masks[p][a:b] for p, a, b in self.segments)

    def row_id(self, i: int) -> str | None:
        t, j = self.locate(i)
        return t.row_id(j)

    def id_bytes(self, i: int) -> bytes:
        t, j = self.locate(i)
        return t.id_bytes(j)

    def row_of_id(self, raw: bytes) -> int:
        """The merged row of the asset with this 32-byte id, or -1 (a base row the delta
        replaced is in no segment)."""
        for part in (1, 0):
            j = self.parts[part].row_of_id(raw)
            if j >= 0:
                spans = self._spans[part]  # (start in the part, stop, merged start)
                k = bisect_right(spans, j, key=itemgetter(0)) - 1
                if k >= 0 and j < spans[k][1]:
                    return spans[k][2] + j - spans[k][0]
        return -1

    @cached_property
    def _spans(self) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """Per part, its segments as (start, stop, merged start), in the part's row order:
        locate_part the other way round (a hit of a ranked term is found by its id)."""
        spans: tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]] = ([], [])
        for (part, a, b), start in zip(self.segments, self._starts, strict=True):
            spans[part].append((a, b, start))
        for one in spans:
            one.sort()
        return spans

    def row_paths(self, i: int) -> list[bytes]:
        t, j = self.locate(i)
        return t.row_paths(j)

    # -- CatalogTable's columns, for row-level readers ------------------------
    # Views that map each item through the segments: ``find --limit 20`` reads 20
    # items of a few columns, so nothing is copied or merged for it.
    @cached_property
    def ids(self) -> bytes:
        """All ids, joined (row_id() reads one without this)."""
        return b"".join(self.parts[p].ids[a * 32 : b * 32] for p, a, b in self.segments)

    @cached_property
    def kinds(self) -> Sequence[int]:
        return _RowView(self, "kinds")

    # whole columns, joined: a near: term scans every row's position
    @cached_property
    def lat(self) -> array:
        return self._joined("lat")

    @cached_property
    def lon(self) -> array:
        return self._joined("lon")

    def _joined(self, name: str) -> array:
        out = array("d")
        for p, a, b in self.segments:
            out.extend(getattr(self.parts[p], name)[a:b])
        return out

    @cached_property
    def sizes(self) -> Sequence[int]:
        return _RowView(self, "sizes")

    @cached_property
    def taken(self) -> Sequence[int]:
        return _RowView(self, "taken")

    @cached_property
    def flags(self) -> Sequence[int]:
        return _RowView(self, "flags")

    @cached_property
    def errors(self) -> Sequence[str]:
        return _RowView(self, "errors")

    @cached_property
    def _camera_map(self) -> tuple[list[str], list[int]]:
        """The merged camera names, and the merged index of each of the delta's cameras."""
        base, delta = self.parts
        cameras = list(base.cameras)
        index = {c: i for i, c in enumerate(cameras)}
        remap = []
        for c in delta.cameras:
            if c not in index:
                index[c] = len(cameras)
                cameras.append(c)
            remap.append(index[c])
        return cameras, remap

    @property
    def cameras(self) -> list[str]:
        return self._camera_map[0]

    @cached_property
    def camera(self) -> Sequence[int]:
        return _RowView(self, "camera", self._camera_map[1])

    @cached_property
    def _path_segments(self) -> tuple[list[int], list[tuple[int, int, int]]]:
        """Merged path index where each segment's paths start, and (part, first path,
        merged row of the segment's first row) per segment."""
        starts, segs = [], []
        pos = 0
        for (p, a, b), row0 in zip(self.segments, self._starts, strict=True):
            t = self.parts[p]
            first, stop = t.first_path(a), t.first_path(b)
            starts.append(pos)
            segs.append((p, first, row0 - a))
            pos += stop - first
        starts.append(pos)
        return starts, segs

    def _locate_path(self, j: int) -> tuple[int, int, int]:
        starts, segs = self._path_segments
        if not 0 <= j < starts[-1]:
            raise IndexError("path index out of range")
        k = bisect_right(starts, j) - 1
        p, first, shift = segs[k]
        return p, first + j - starts[k], shift

    @cached_property
    def paths(self) -> Sequence[bytes]:
        return _MergedPaths(self, rows=False)

    @cached_property
    def path_rows(self) -> Sequence[int]:
        return _MergedPaths(self, rows=True)


class _MergedPaths(Sequence[Any]):
    """A MergedTable's ``paths`` (rows=False) or ``path_rows`` (rows=True), mapped per item."""

    def __init__(self, table: MergedTable, rows: bool) -> None:
        self._t = table
        self._rows = rows

    def __len__(self) -> int:
        return self._t._path_segments[0][-1]

    def __getitem__(self, j: Any) -> Any:
        if isinstance(j, slice):
            return [self[k] for k in range(*j.indices(len(self)))]
        if j < 0:
            j += len(self)
        p, pj, shift = self._t._locate_path(j)
        t = self._t.parts[p]
        return t.path_rows[pj] + shift if self._rows else t.paths[pj]


class _RowView(Sequence[Any]):
    """A MergedTable column, read item by item from the part holding each row.

    ``remap`` translates the delta's values (its camera indices) to merged ones.
    """

    def __init__(self, table: MergedTable, name: str, remap: list[int] | None = None) -> None:
        self._t = table
        self._name = name
        self._remap = remap

    def __len__(self) -> int:
        return self._t.n

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        p, j = self._t.locate_part(i)
        value = getattr(self._t.parts[p], self._name)[j]
        return self._remap[value] if p == 1 and self._remap is not None else value


class _ErrorView(Sequence[str]):
    """A stored table's ``errors``: per row, ``names[codes[i]]``."""

    def __init__(self, names: list[str], codes: Sequence[int]) -> None:
        self._names = names
        self._codes = codes

    def __len__(self) -> int:
        return len(self._codes)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self._names[c] for c in self._codes[i]]
        return self._names[self._codes[i]]

    def __iter__(self) -> Iterator[str]:
        return map(self._names.__getitem__, self._codes)
