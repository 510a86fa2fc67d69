"""Evaluate a query over a :class:`CatalogTable`, column-wise.

Speed is the point of this module (``mstore find`` over 100k assets must stay
under 100 ms including interpreter start-up), so nothing here builds a per-row
Python object or runs a per-row Python statement:

* every term becomes a *mask*: a ``bytes`` with one 0/1 byte per row, built by
  C-level passes (``bytes.translate`` on byte columns, ``bytes(map(f, column))``
  with ``f`` a builtin bound method on integer columns and path strings);
* masks are combined as big integers (``int.from_bytes(mask, "little")``, so row
  ``i`` is bit ``8 * i``): AND/OR are ``&``/``|`` and NOT is ``^`` with the
  all-rows integer — each a single C loop over ~n/8 machine words;
* the result is turned back into row indices with ``itertools.compress``.

Path terms work on one lowercased string per path, built only when the query
has a path-like term, and map matching paths back to rows via ``path_rows``.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from array import array
from collections import deque
from collections.abc import Iterable
from itertools import compress, repeat

from mstore.query.lexer import (
    BOOL_VALUES,
    HAS_FLAGS,
    KINDS,
    normalize_ext,
    normalize_id,
    size_range,
    taken_range,
)
from mstore.query.parser import FREE, And, Node, Not, Or, Term, parse
from mstore.query.table import F_ERROR, F_MISSING, KIND_CODES, CatalogTable

__all__ = ["evaluate", "parse"]

_GLOB_CHARS = frozenset("*?[")
_FS_ENCODING = sys.getfilesystemencoding()
_FS_ERRORS = sys.getfilesystemencodeerrors()

# relative cost of computing a term's mask; AND evaluates cheap terms first and
# stops as soon as the result is empty
_COST = {"kind": 0, "has": 0, "missing": 0, "id": 0, "error": 1, "camera": 1}
_COST_DEFAULT = 2  # size/taken: one map() over an integer column
_COST_PATH = 3  # path/ext/free words: one or two passes over the path strings
_PATH_KEYS = frozenset({"path", "ext", FREE})
_MAX_ROOTS = 16  # beyond that, path: terms fall back to regexes that skip any root
# a substring is searched with str.find when it occurs in at most 1/_FIND_RATIO of the paths
_FIND_RATIO = 16


def evaluate(query: str, table: CatalogTable) -> list[int]:
    """Indices of the rows matching ``query``, in table order.

    Error-only rows (paths that could not be hashed) are only returned when the
    query asks for them with a non-negated ``error:`` term; an empty query
    returns every asset row. Raises QueryError for a bad query.
    """
    node = parse(query)
    n = table.n
    if n == 0:
        return []
    ev = _Evaluator(table)
    mask = ev.eval(node)
    if not wants_error_rows(node):
        mask &= ev.asset_rows()
    return list(compress(range(n), mask.to_bytes(n, "little")))


def wants_error_rows(node: Node, negated: bool = False) -> bool:
    """Whether ``node`` has an ``error:`` term under an even number of negations."""
    if isinstance(node, Term):
        return node.key == "error" and not negated
    if isinstance(node, Not):
        return wants_error_rows(node.item, not negated)
    return any(wants_error_rows(item, negated) for item in node.items)


def _cost(node: Node) -> int:
    if isinstance(node, Term):
        if node.key in _PATH_KEYS:
            return _COST_PATH
        return _COST.get(node.key, _COST_DEFAULT)
    if isinstance(node, Not):
        return _cost(node.item)
    return max((_cost(item) for item in node.items), default=0)


def _byte_table(pred: Iterable[bool]) -> bytes:
    """A 256-byte ``bytes.translate`` table: 1 where ``pred`` holds, else 0."""
    return bytes(1 if p else 0 for p in pred)


class _Evaluator:
    def __init__(self, table: CatalogTable) -> None:
        self.t = table
        self.n = table.n
        self.all = int.from_bytes(b"\x01" * self.n, "little")
        self._cache: dict[tuple[str, str], int] = {}
        self._lower_paths: list[str] | None = None
        self._identity_paths: bool | None = None
        self._joined: str | None = None
        self._roots: tuple[tuple[str, ...] | None] | None = None

    # -- tree -------------------------------------------------------------
    def eval(self, node: Node) -> int:
        if isinstance(node, Term):
            key = (node.key, node.value.lower())
            mask = self._cache.get(key)
            if mask is None:
                mask = self._cache[key] = self.term(node.key, key[1])
            return mask
        if isinstance(node, Not):
            return self.all ^ self.eval(node.item)
        if isinstance(node, And):
            acc = self.all
            for item in sorted(node.items, key=_cost):
                acc &= self.eval(item)
                if not acc:
                    break
            return acc
        assert isinstance(node, Or)
        acc = 0
        for item in sorted(node.items, key=_cost):
            acc |= self.eval(item)
            if acc == self.all:
                break
        return acc

    def term(self, key: str, value: str) -> int:
        """The mask of one term; ``value`` is lowercased and already validated by the lexer."""
        t = self.t
        if key == "kind":
            return self._kind_mask({KINDS[value]})
        if key == "has":
            return self._flag_mask(HAS_FLAGS[value])
        if key == "missing":
            mask = self._flag_mask(F_MISSING)
            return mask if BOOL_VALUES[value] else self.all ^ mask
        if key == "error":
            if not value:
                return self._flag_mask(F_ERROR)
            # only rows with a recorded error (non-empty strings) are looked at
            rows = compress(range(self.n), t.errors)
            return self._rows_mask(i for i in rows if value in t.errors[i].lower())
        if key == "size":
            return self._range_mask(t.sizes, *size_range(value))
        if key == "taken":
            return self._range_mask(t.taken, *taken_range(value))
        if key == "camera":
            return self._camera_mask(value)
        if key == "id":
            return self._id_mask(normalize_id(value))
        if key == "ext":
            ext = normalize_ext(value)
            # ".heic" at the end of a path: followed by the separator, or the very end
            found = self._find_paths(ext + "\0")
            if found is not None:
                if self.joined().endswith(ext):
                    found.append(len(t.paths) - 1)
                return self._path_indices_mask(found)
            return self._path_bools_mask(map(str.endswith, self.lower_paths(), repeat(ext)))
        if key == "path":
            return self._path_term(value)
        if key == FREE:
            found = self._find_paths(value)
            if found is not None:
                return self._path_indices_mask(found)
            paths = self.lower_paths()
            return self._path_bools_mask(map(str.__contains__, paths, repeat(value)))
        raise AssertionError(f"unhandled key {key!r}")  # the lexer rejects unknown keys

    # -- byte and integer columns -----------------------------------------
    def asset_rows(self) -> int:
        """Every row except error-only ones."""
        return self.all ^ self._kind_mask({KIND_CODES["error"]})

    def _kind_mask(self, codes: set[int]) -> int:
        table = _byte_table(b in codes for b in range(256))
        return int.from_bytes(self.t.kinds.translate(table), "little")

    def _flag_mask(self, bit: int) -> int:
        """Rows with ``bit`` set: one byte of each ``flags`` item, then a translate."""
        flags = self.t.flags
        width = flags.itemsize
        k = (bit.bit_length() - 1) // 8  # which byte (from the least significant) holds it
        offset = k if sys.byteorder == "little" else width - 1 - k
        column = flags.tobytes()[offset::width]
        b = bit >> (8 * k)
        return int.from_bytes(column.translate(_byte_table(v & b for v in range(256))), "little")

    def _range_mask(self, column: array, lo: int, hi: int) -> int:
        # one comparison per row via a builtin bound method; a closed range uses
        # range.__contains__, which is O(1) for ints and still a single pass
        if lo <= -(2**63):
            test = hi.__ge__
        elif hi >= 2**63 - 1:
            test = lo.__le__
        else:
            test = range(lo, hi + 1).__contains__
        return int.from_bytes(bytes(map(test, column)), "little")

    def _camera_mask(self, value: str) -> int:
        wanted = {i for i, name in enumerate(self.t.cameras) if value in name.lower()}
        if not wanted:
            return 0
        test = next(iter(wanted)).__eq__ if len(wanted) == 1 else wanted.__contains__
        return int.from_bytes(bytes(map(test, self.t.camera)), "little")

    def _id_mask(self, prefix: str) -> int:
        """Rows whose id starts with the hex ``prefix``.

        The first byte of every id (``ids[::32]``) is translated to find
        candidates; only prefixes longer than two hex digits need a per-candidate
        check, and those candidates are few (1/256 of the rows).
        """
        ids = self.t.ids
        first = ids[::32]
        high = int(prefix[0], 16)
        if len(prefix) == 1:
            table = _byte_table(v >> 4 == high for v in range(256))
        else:
            byte0 = int(prefix[:2], 16)
            table = _byte_table(v == byte0 for v in range(256))
        mask = first.translate(table)
        if len(prefix) <= 2:
            return int.from_bytes(mask, "little")
        whole = bytes.fromhex(prefix[: len(prefix) // 2 * 2])
        nibble = int(prefix[-1], 16) if len(prefix) % 2 else -1
        rows = []
        for i in compress(range(self.n), mask):
            start = 32 * i
            if ids.startswith(whole, start) and (
                nibble < 0 or ids[start + len(whole)] >> 4 == nibble
            ):
                rows.append(i)
        return self._rows_mask(rows)

    def _rows_mask(self, rows: Iterable[int]) -> int:
        mask = bytearray(self.n)
        # C-level loop: mask[i] = 1 for every i
        deque(map(mask.__setitem__, rows, repeat(1)), maxlen=0)
        return int.from_bytes(mask, "little")

    # -- paths ------------------------------------------------------------
    def joined(self) -> str:
        """All paths decoded like os.fsdecode, lowercased and joined with NUL.

        NUL cannot occur in a path, so it is a safe separator, and one decode
        and one lower() over the whole text are several times faster than per path.
        """
        if self._joined is None:
            self._joined = b"\0".join(self.t.paths).decode(_FS_ENCODING, _FS_ERRORS).lower()
        return self._joined

    def lower_paths(self) -> list[str]:
        """One lowercased string per path (``paths[j]`` is path ``j``), built once per query."""
        if self._lower_paths is None:
            self._lower_paths = self.joined().split("\0") if self.t.paths else []
        return self._lower_paths

    def _find_paths(self, needle: str) -> list[int] | None:
        """Indices of the paths containing ``needle`` when it is rare, else None.

        A selective word ("IMG_0123") is found with ``str.find`` over the joined
        text, skipping the 100k-string split and the per-path pass; each hit's
        path index is the number of separators before it, counted incrementally
        so the whole text is scanned once. Above n/_FIND_RATIO hits the per-hit
        Python loop would cost more than the C-level pass over split paths.
        """
        joined = self.joined()
        if joined.count(needle) * _FIND_RATIO > len(self.t.paths):
            return None
        found: list[int] = []
        index = prev = 0
        find, count = joined.find, joined.count
        at = find(needle)
        while at >= 0:
            index += count("\0", prev, at)
            prev = at
            if not found or found[-1] != index:
                found.append(index)
            at = find(needle, at + 1)
        return found

    def roots(self) -> tuple[str, ...] | None:
        """The distinct (lowercased) root names of all paths; None when there are many.

        Knowing them turns "the relative path starts with X" into a C-level
        ``str.startswith`` with the tuple of every "root/X". Found by counting
        NUL + "root/" in the NUL-joined paths, one ``str.count`` pass per root
        (a store has a handful of roots).
        """
        if self._roots is None:
            joined = self.joined()
            npaths = len(self.t.paths)
            roots: list[str] = []
            seen = 0  # paths whose root is in ``roots``
            while seen < npaths and len(roots) < _MAX_ROOTS:
                if not roots:
                    # the first path is not preceded by a NUL
                    root, slash, _ = joined.partition("\0")[0].partition("/")
                    if not slash:
                        break
                    seen = 1
                else:
                    known = "|".join(re.escape(r) for r in roots)
                    m = re.compile(f"\\0(?!(?:{known})/)([^/\\0]*)/").search(joined)
                    if m is None:
                        break
                    root = m.group(1)
                roots.append(root)
                seen += joined.count(f"\0{root}/")
            # a path without "/" has no root; then the root list is not trusted
            self._roots = (tuple(roots),) if seen == npaths else (None,)
        return self._roots[0]

    def identity_paths(self) -> bool:
        """Whether path ``j`` belongs to row ``j`` for all j (one path per row).

        The common case, where a path mask already is the row mask.
        """
        if self._identity_paths is None:
            t = self.t
            self._identity_paths = len(t.paths) == self.n and t.path_rows == array(
                t.path_rows.typecode, range(self.n)
            )
        return self._identity_paths

    def _path_bools_mask(self, path_hits: Iterable[bool]) -> int:
        """Row mask from one bool per path (a row matches if any of its paths does)."""
        if self.identity_paths():
            return int.from_bytes(bytes(path_hits), "little")
        return self._path_indices_mask(compress(range(len(self.t.paths)), path_hits))

    def _path_indices_mask(self, path_indices: Iterable[int]) -> int:
        """Row mask from the indices of the matching paths.

        Always maps through ``path_rows``: as cheap as skipping it, and it spares
        the identity check when only a few paths matched.
        """
        return self._rows_mask(map(self.t.path_rows.__getitem__, path_indices))

    def _path_term(self, value: str) -> int:
        """``path:`` — a glob, a directory prefix ("dir/"), or a substring of the relative path.

        A path is "root/relative": globs and prefixes may match either the
        relative or the full path. The general case is a regex per path, but the
        common shapes (``dir/*``, ``*.ext``, ``*word*``, substrings) reduce to
        ``str`` methods mapped over the paths, two to three times faster.
        """
        if not (_GLOB_CHARS & set(value) or value.endswith("/")):
            return self._path_substring(value)
        paths = self.lower_paths()
        # anchored at the start of the relative path, so a leading "/" adds nothing
        glob = value.lstrip("/")
        if glob.endswith("/") or not glob:
            glob += "*"  # "dir/": everything under it
        first = min((glob.find(c) for c in _GLOB_CHARS if c in glob), default=len(glob))
        literal, rest = glob[:first], glob[first:]
        if glob.startswith("*"):
            # whatever matches a relative path also matches the full one
            middle = rest[1:-1]
            if rest == "*":
                return self.all
            if not _GLOB_CHARS & set(rest[1:]):  # "*.heic"
                return self._path_bools_mask(map(str.endswith, paths, repeat(rest[1:])))
            if rest.endswith("*") and not _GLOB_CHARS & set(middle):  # "*word*"
                return self._path_bools_mask(map(str.__contains__, paths, repeat(middle)))
            rx = re.compile(fnmatch.translate(glob))
            return self._path_indices_mask(compress(range(len(paths)), map(rx.match, paths)))
        rx = re.compile(r"(?s:[^/]*/)?" + fnmatch.translate(glob))
        if not literal:  # "?..." or "[...]...": no cheap prefilter
            return self._path_indices_mask(compress(range(len(paths)), map(rx.match, paths)))
        roots = self.roots()
        if roots is not None:
            # exact: the full path or the relative path starts with the literal part
            starts = (literal, *(f"{r}/{literal}" for r in roots))
            candidates = bytes(map(str.startswith, paths, repeat(starts)))
            if rest == "*":
                return self._path_bools_mask(candidates)
        else:  # a superset
            candidates = bytes(map(str.__contains__, paths, repeat(literal)))
        matches = map(rx.match, compress(paths, candidates))
        return self._path_indices_mask(compress(compress(range(len(paths)), candidates), matches))

    def _path_substring(self, value: str) -> int:
        """Paths whose relative part (after the root's "/") contains ``value``.

        Tested on the full path; where an occurrence could overlap the
        "root/" prefix, the hits are re-checked with a regex.
        """
        roots = self.roots()
        if roots is not None and not any(_may_overlap(f"{r}/", value) for r in roots):
            # no occurrence can touch a "root/" prefix: the full path decides
            found = self._find_paths(value)
            if found is not None:
                return self._path_indices_mask(found)
            paths = self.lower_paths()
            return self._path_bools_mask(map(str.__contains__, paths, repeat(value)))
        paths = self.lower_paths()
        contains = bytes(map(str.__contains__, paths, repeat(value)))
        rx = re.compile(r"[^/]*/(?s:.*)" + re.escape(value))
        matches = map(rx.match, compress(paths, contains))
        return self._path_indices_mask(compress(compress(range(len(paths)), contains), matches))


def _may_overlap(prefix: str, value: str) -> bool:
    """Whether an occurrence of ``value`` in ``prefix + anything`` can start inside ``prefix``."""
    return any(
        value.startswith(prefix[i:]) or prefix.startswith(value, i) for i in range(len(prefix))
    )
