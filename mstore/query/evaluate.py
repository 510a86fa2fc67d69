"""Evaluate a query over a :class:`CatalogTable` (or a :class:`MergedTable`), column-wise.

Speed is the point of this module (``mstore find`` over 100k assets must stay
under 100 ms including interpreter start-up), so nothing here builds a per-row
Python object or runs a per-row Python statement:

* every term becomes a *mask*: a ``bytes`` with one 0/1 byte per row, built by
  C-level passes (``bytes.translate`` on byte columns, ``bytes(map(f, column))``
  with ``f`` a builtin bound method on integer columns);
* masks are combined as big integers (``int.from_bytes(mask, "little")``, so row
  ``i`` is bit ``8 * i``): AND/OR are ``&``/``|`` and NOT is ``^`` with the
  all-rows integer — each a single C loop over ~n/8 machine words;
* the result is turned back into row indices with ``itertools.compress``.

Path terms run one compiled regex over the table's lower-cased NUL-joined path
text (``CatalogTable.lower_text``, NUL before every path) with ``finditer``:
wildcards are ``[^\\0]`` so a match never leaves its path, and every pattern
ends at its path's end (``[^\\0]*`` or a lookahead for the NUL), so each path
gives at most one match and its end maps to the path index by ``bisect`` over
``path_after``. No per-path string is built; only rare shapes (a glob starting
with ``?``/``[``, many roots, a substring that may overlap "root/") fall back to
a regex per path over the split text.

A MergedTable (snapshot plus delta) is evaluated part by part; every term is
row-local, so joining the parts' final masks by segment gives the merged answer.
"""

from __future__ import annotations

import fnmatch
import re
import sys
from array import array
from bisect import bisect_left
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import chain, compress, repeat
from operator import floordiv, mod
from typing import TYPE_CHECKING

from mstore.errors import QueryError
from mstore.query.lexer import (
    BOOL_VALUES,
    HAS_FLAGS,
    KEYS,
    KINDS,
    month_day_range,
    normalize_ext,
    normalize_id,
    size_range,
    taken_range,
)
from mstore.query.parser import FREE, And, Node, Not, Or, Term, parse
from mstore.query.table import (
    F_ERROR,
    F_MISSING,
    KIND_CODES,
    CatalogTable,
    MergedTable,
    fold_accents,
)

if TYPE_CHECKING:
    from mstore.query.terms import TermContext

__all__ = ["count", "evaluate", "parse"]

_GLOB_CHARS = frozenset("*?[")
CHUNK_ROWS = 1 << 16  # rows a limited query evaluates at a time

# relative cost of computing a term's mask; AND evaluates cheap terms first and
# stops as soon as the result is empty
_COST = {"kind": 0, "has": 0, "missing": 0, "id": 0, "error": 1, "camera": 1}
_COST_DEFAULT = 2  # size/taken: one map() over an integer column
_COST_PATH = 3  # path/ext/free words: one or two passes over the path text
_PATH_KEYS = frozenset({"path", "ext", FREE})
# a substring is searched with one regex scan when it occurs in at most
# 1/_FIND_RATIO of the paths; above that, the per-hit bisect costs more than
# splitting the text once and testing every path with a C-level map()
_FIND_RATIO = 4
_END = r"(?=\0|\Z)"  # the end of a path in the NUL-joined text
_STAR = r"[^\0]*"


def evaluate(query: str, table: CatalogTable | MergedTable,
             context: TermContext | None = None, limit: int | None = None) -> list[int]:
    """Indices of the rows matching ``query``: in table order, or best first when the
    query is ranked (its top level is a ranked provider term, alone or ANDed).

    ``limit``: at most that many (the first ones). An unranked query over a stored
    table is then evaluated CHUNK_ROWS rows at a time and stops once it has them, so
    ``find --limit 20`` reads the rows it needs, not whole columns.

    ``context``: the store's term providers (mstore/query/terms.py), for terms such as
    ``label:`` (without it such a term is a QueryError).

    Error-only rows (paths that could not be hashed) are only returned when the
    query asks for them with a non-negated ``error:`` term; an empty query
    returns every asset row. Raises QueryError for a bad query.
    """
    node = parse(query)
    _bind(context, table)
    ranked = ranking_term(node)
    if limit is not None and ranked is not None and context is not None:
        first = _ranked_first(node, ranked, table, context, limit)
        if first is not None:
            return first
    if limit is not None and ranked is None and table.n > CHUNK_ROWS:
        first = _first_rows(node, table, context, limit)
        if first is not None:
            return first
    rows = list(compress(range(table.n), _node_mask(node, table, context)))
    if ranked is not None and context is not None and len(rows) > 1:
        order = context.match(ranked.key, ranked.value.lower()).order or []
        place = {aid: k for k, aid in enumerate(order)}
        last = len(place)
        id_of = table.id_bytes  # 32 raw bytes: no hex round trip, no copy of every id

        def rank(i: int) -> int:
            return place.get(id_of(i), last)  # an error row's id is in no order

        rows.sort(key=rank)  # stable: ties keep table order
    return rows if limit is None else rows[:limit]


def count(query: str, table: CatalogTable | MergedTable,
          context: TermContext | None = None) -> int:
    """How many rows :func:`evaluate` answers, without listing them."""
    node = parse(query)
    _bind(context, table)
    return _node_mask(node, table, context).count(1)


def _bind(context: TermContext | None, table: CatalogTable | MergedTable) -> None:
    """Give the providers the table the query runs against (query/places.py reads its
    columns; a collection's query is evaluated against it too)."""
    if context is not None:
        context.table = table


def _first_rows(node: Node, table: CatalogTable | MergedTable, context: TermContext | None,
                limit: int) -> list[int] | None:
    """The first ``limit`` matching rows, chunk by chunk; None for a table held in memory."""
    errors_too = wants_error_rows(node)
    if isinstance(table, MergedTable):
        base, delta = table.parts
        segments = table.segments
    else:
        base, delta, segments = table, None, [(0, 0, table.n)]
    if base._src is None:
        return None
    out: list[int] = []
    delta_mask = None
    skip = _skipper(node, base)
    pos = 0  # the table's row where the segment starts
    for part, a, b in segments:
        if part == 1:
            assert delta is not None
            if delta_mask is None:
                delta_mask = _mask(node, delta, errors_too, context)
            out.extend(compress(range(pos, pos + b - a), delta_mask[a:b]))
        else:
            c, size = a, max(CHUNK_ROWS // 16, 1)
            while c < b:  # chunks that double: a common answer costs a small first chunk
                if skip is not None:  # on to the next row that may match
                    c = skip(c)
                    if c >= b:
                        break
                e = min(b, c + size)
                mask = _mask(node, base.row_slice(c, e), errors_too, context)
                out.extend(compress(range(pos + c - a, pos + e - a), mask))
                if len(out) >= limit:
                    return out[:limit]
                c, size = e, min(2 * size, CHUNK_ROWS)
        pos += b - a
        if len(out) >= limit:
            break
    return out[:limit]


def _ranked_first(node: Node, ranked: Term, table: CatalogTable | MergedTable,
                  context: TermContext, limit: int) -> list[int] | None:
    """The first ``limit`` rows of a query led by a ranked term, best first, read from the
    term's stream (``TermSpec.stream``) until that many rows pass the query's other
    top-level terms; None when the term's provider does not stream.

    The other terms are one mask over the table; the ranked term's hits are only read
    as far as needed (a common word in most of the archive: its best few), each hit's row
    found by its id. Same rows, in the same order, as the whole answer's first ones."""
    if table.n == 0 or limit <= 0:
        return None
    try:
        hits = context.stream(ranked.key, ranked.value.lower())
    except LookupError as e:
        raise QueryError(str(e), ranked.value, 0, ranked.value) from None
    if hits is None:
        return None
    rest = tuple(i for i in node.items if i is not ranked) if isinstance(node, And) else ()
    errors_too = wants_error_rows(node)
    allowed: bytes | None = None  # None: every row a hit's id finds (an asset's own row)
    if rest:
        if isinstance(table, MergedTable):
            base, delta = table.parts
            allowed = table.merge_masks((_mask(And(rest), base, errors_too, context),
                                         _mask(And(rest), delta, errors_too, context)))
        else:
            allowed = _mask(And(rest), table, errors_too, context)
    out: list[int] = []
    row_of = table.row_of_id
    try:
        for aid in hits:
            row = row_of(aid)
            if row >= 0 and (allowed is None or allowed[row]):
                out.append(row)
                if len(out) >= limit:
                    break
    finally:
        hits.close()
    return out


def _skipper(node: Node, table: CatalogTable) -> Callable[[int], int] | None:
    """For a query that only rows whose paths hold some string can match (a path glob's
    literal part, a free word, an extension, ANDed at the top level): the function from a
    row to the first row at or after it with a path holding that string, found by one
    search in the stored path text — so a limited query whose first answer is deep in the
    table skips the chunks before it instead of evaluating them. None for other queries."""
    literal = _required_literal(node)
    head, src = table._head, table._src
    if not literal or src is None or head is None or (head.ascii and not literal.isascii()):
        return None
    if head.ascii:  # the stored bytes are the text: searched in place, not decoded
        search = re.compile(re.escape(literal.encode())).search

        def find(pos: int) -> int:
            found = search(src.get("lower") or b"", pos)  # type: ignore[call-overload]
            return -1 if found is None else found.start()
    else:
        text = table.lower_text()

        def find(pos: int) -> int:
            return text.find(literal, pos)

    def next_row(row: int) -> int:
        after = table.after_view()
        j = table.first_path(row)
        at = find(after[j - 1] if j else 0)
        if at < 0:
            return table.n
        j = bisect_left(after, at)  # the path the string is in (a path holds no NUL)
        return table.path_rows[j] if j < table.npaths else table.n

    return next_row


def _required_literal(node: Node) -> str | None:
    """The longest string that every row ``node`` matches has in one of its lowercased
    paths, from its positive path terms at the top level (and nested ANDs); or None."""
    best = None
    for item in node.items if isinstance(node, And) else (node,):
        found = (_required_literal(item) if isinstance(item, And)
                 else _term_literal(item) if isinstance(item, Term) else None)
        if found and (best is None or len(found) > len(best)):
            best = found
    return best


def _term_literal(term: Term) -> str | None:
    value = fold_accents(term.value.lower())
    if term.key == FREE:
        return value
    if term.key == "ext":
        return normalize_ext(value)
    if term.key != "path":
        return None
    if not (_GLOB_CHARS & set(value) or value.endswith("/")):
        return value  # a substring of the relative path
    # a glob: its literal runs (up to a bracket expression, whose syntax is left alone)
    runs = re.split(r"[*?]", value.lstrip("/").split("[", 1)[0])
    return max(runs, key=len) or None


def ranking_term(node: Node) -> Term | None:
    """The term whose order a query's answer takes: a ranked provider term at the top
    level, alone or as an item of a top-level AND (the first one)."""
    from mstore.query.terms import lookup

    for item in node.items if isinstance(node, And) else (node,):
        # the catalog's own keys are never ranked: looking them up would import every
        # provider module for a query that has no provider term
        if (isinstance(item, Term) and item.key and item.key not in KEYS
                and (spec := lookup(item.key)) and spec.ranked):
            return item
    return None


def evaluate_mask(query: str, table: CatalogTable | MergedTable,
                  context: TermContext | None = None) -> bytes:
    """Which rows :func:`evaluate` answers, as one 0/1 byte per row of ``table``."""
    node = parse(query)
    _bind(context, table)
    return _node_mask(node, table, context)


def _node_mask(node: Node, table: CatalogTable | MergedTable, context: TermContext | None
               ) -> bytes:
    if table.n == 0:
        return b""
    errors_too = wants_error_rows(node)
    if isinstance(table, MergedTable):
        base, delta = table.parts
        return table.merge_masks((_mask(node, base, errors_too, context),
                                  _mask(node, delta, errors_too, context)))
    return _mask(node, table, errors_too, context)


def flag_mask(table: CatalogTable | MergedTable, bit: int) -> bytes:
    """One 0/1 byte per row of ``table``: whether its ``flags`` have ``bit``."""
    if isinstance(table, MergedTable):
        base, delta = table.parts
        return table.merge_masks((flag_mask(base, bit), flag_mask(delta, bit)))
    return _Evaluator(table)._flag_mask(bit).to_bytes(table.n, "little")


def _mask(node: Node, table: CatalogTable, errors_too: bool, context: TermContext | None
          ) -> bytes:
    """One 0/1 byte per row of ``table``: whether it is in the answer."""
    if table.n == 0:
        return b""
    ev = _Evaluator(table, context)
    mask = ev.eval(node)
    if not errors_too:
        mask &= ev.asset_rows()
    return mask.to_bytes(table.n, "little")


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


def _glob_rx(glob: str) -> str:
    """An fnmatch-style glob as a regex over the NUL-joined path text.

    Like ``fnmatch.translate`` (whose class syntax it reuses), except that no
    wildcard matches NUL, so a match stays inside one path, and the regex ends
    at the end of the path (a trailing ``*`` consumes the rest, otherwise a
    lookahead requires the NUL or the end of the text).
    """
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        c = glob[i]
        i += 1
        if c == "*":
            if not out or out[-1] != _STAR:
                out.append(_STAR)
        elif c == "?":
            out.append(r"[^\0]")
        elif c == "[":
            # the class extent exactly as fnmatch.translate finds it
            j = i
            if j < n and glob[j] == "!":
                j += 1
            if j < n and glob[j] == "]":
                j += 1
            while j < n and glob[j] != "]":
                j += 1
            if j >= n:
                out.append("\\[")
            else:
                cls = fnmatch.translate(glob[i - 1 : j + 1])  # "(?s:[...])\\Z"
                assert cls.endswith("\\Z"), cls
                out.append(r"(?!\0)" + cls[:-2])
                i = j + 1
        else:
            out.append(re.escape(c))
    return "".join(out) if out and out[-1] == _STAR else "".join(out) + _END


class _Evaluator:
    def __init__(self, table: CatalogTable, context: TermContext | None = None) -> None:
        self.t = table
        self.context = context
        self.n = table.n
        self.npaths = table.npaths
        self.all = int.from_bytes(b"\x01" * self.n, "little")
        self._cache: dict[tuple[str, str], int] = {}
        self._text: str | None = None
        self._after: Sequence[int] | None = None
        self._lower_paths: list[str] | None = None
        self._identity_paths: bool | None = None
        self._roots: tuple[tuple[str, ...] | None] | None = None

    # -- tree -------------------------------------------------------------
    def eval(self, node: Node) -> int:
        if isinstance(node, Term):
            value = node.value.lower()
            # path terms as the path text is kept: without accents (table.fold_accents)
            key = (node.key, fold_accents(value) if node.key in _PATH_KEYS else value)
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
            # each distinct error string is tested once, then one pass over the rows
            names, codes = t.error_codes()
            wanted = {k for k, name in enumerate(names) if name and value in name.lower()}
            if not wanted:
                return 0
            test = next(iter(wanted)).__eq__ if len(wanted) == 1 else wanted.__contains__
            return int.from_bytes(bytes(map(test, codes)), "little")
        if key == "size":
            return self._range_mask(t.sizes, *size_range(value))
        if key == "taken":
            days = month_day_range(value)
            if days is not None:
                return self._month_day_mask(*days)
            return self._range_mask(t.taken, *taken_range(value))
        if key == "camera":
            return self._camera_mask(value)
        if key == "id":
            return self._id_mask(normalize_id(value))
        if key == "ext":
            ext = normalize_ext(value)  # ".heic" at the end of a path
            if self._dense(ext):
                return self._path_bools_mask(map(str.endswith, self.lower_paths(), repeat(ext)))
            return self._scan_mask(re.escape(ext) + _END)
        if key == "path":
            return self._path_term(value)
        if key == FREE:
            return self._substring_mask(value)
        return self._provider_mask(key, value)  # the lexer rejected unknown keys

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

    def _month_day_mask(self, lo: int, hi: int) -> int:
        """Rows whose capture date falls on MMDD ``lo``..``hi`` of any year (``lo > hi``:
        over the new year). ``taken`` is YYYYMMDDhhmmss, 0 when unknown (never matched)."""
        days = array("q", map(mod, map(floordiv, self.t.taken, repeat(10**6)), repeat(10**4)))
        if lo <= hi:
            return self._range_mask(days, lo, hi)
        return self._range_mask(days, lo, 1231) | self._range_mask(days, 101, hi)

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

    def _provider_mask(self, key: str, value: str) -> int:
        if self.context is None:
            raise QueryError(f"{key}: terms need the store here", value, 0, value)
        try:
            wanted = self.context.match(key, value).ids
        except LookupError as e:
            raise QueryError(str(e), value, 0, value) from None
        if not wanted:
            return 0
        t = self.t
        if t._src is not None and len(wanted) * 64 < self.n:
            # a few ids (a phrase's documents, 500 similar photos, one person): each looked
            # up in the stored table's id order instead of a pass over every row's id
            return self._rows_mask(r for r in map(t.row_of_id, wanted) if r >= 0)
        ids = t.ids
        return int.from_bytes(bytes(map(wanted.__contains__, (
            ids[i:i + 32] for i in range(0, 32 * self.n, 32)))), "little")

    def _rows_mask(self, rows: Iterable[int]) -> int:
        mask = bytearray(self.n)
        # C-level loop: mask[i] = 1 for every i
        deque(map(mask.__setitem__, rows, repeat(1)), maxlen=0)
        return int.from_bytes(mask, "little")

    # -- paths ------------------------------------------------------------
    def text(self) -> str:
        """NUL + all paths lowercased and joined with NUL (CatalogTable.lower_text)."""
        if self._text is None:
            self._text = self.t.lower_text()
        return self._text

    def after(self) -> Sequence[int]:
        if self._after is None:
            self._after = self.t.path_after()
        return self._after

    def lower_paths(self) -> list[str]:
        """One lowercased string per path (``paths[j]`` is path ``j``), for the
        per-path fallbacks; built once per query."""
        if self._lower_paths is None:
            self._lower_paths = self.text()[1:].split("\0") if self.npaths else []
        return self._lower_paths

    def roots(self) -> tuple[str, ...] | None:
        """The distinct (lowercased) root names of all paths; None when there are many.

        Knowing them turns "the relative path starts with X" into a scan for
        NUL + "root/X" per root, and tells when a substring can only occur in the
        relative part of a path.
        """
        if self._roots is None:
            self._roots = (self.t.root_names(),)
        return self._roots[0]

    def identity_paths(self) -> bool:
        """Whether path ``j`` belongs to row ``j`` for all j: a path mask is the row mask."""
        if self._identity_paths is None:
            self._identity_paths = self.t.paths_are_rows()
        return self._identity_paths

    def _dense(self, needle: str) -> bool:
        """Whether ``needle`` occurs in more than 1/_FIND_RATIO of the paths (counted
        with one ``str.count``): then a map over split paths beats a scan."""
        return self.text().count(needle) * _FIND_RATIO > self.npaths

    def _scan(self, pattern: str) -> Iterator[int]:
        """Indices of the paths where the regex ``pattern`` matches.

        The pattern must not match NUL and must end at its path's end (see the
        module docstring), so a match's end is the position of the NUL after its
        path: ``bisect_left`` over ``after`` gives the path's index.
        """
        ends = map(re.Match.end, re.compile(pattern).finditer(self.text()))
        return map(bisect_left, repeat(self.after()), ends)

    def _scan_mask(self, *patterns: str) -> int:
        return self._path_indices_mask(chain.from_iterable(map(self._scan, patterns)))

    def _substring_mask(self, value: str) -> int:
        """Rows with a path (full, root included) containing ``value``."""
        if self._dense(value):
            paths = self.lower_paths()
            return self._path_bools_mask(map(str.__contains__, paths, repeat(value)))
        # the match runs on to the end of the path: a path yields one match at most
        return self._scan_mask(re.escape(value) + _STAR)

    def _path_bools_mask(self, path_hits: Iterable[bool]) -> int:
        """Row mask from one bool per path (a row matches if any of its paths does)."""
        if self.identity_paths():
            return int.from_bytes(bytes(path_hits), "little")
        return self._path_indices_mask(compress(range(self.npaths), path_hits))

    def _path_indices_mask(self, path_indices: Iterable[int]) -> int:
        """Row mask from the indices of the matching paths (repeats are harmless)."""
        if self.identity_paths():
            return self._rows_mask(path_indices)
        return self._rows_mask(map(self.t.path_rows.__getitem__, path_indices))

    def _path_term(self, value: str) -> int:
        """``path:`` — a glob, a directory prefix ("dir/"), or a substring of the relative path.

        A path is "root/relative": globs and prefixes may match either the
        relative or the full path. A glob starting with ``*`` matches anywhere in
        the full path (whatever matches a relative path also matches the full
        one): one unanchored scan. Otherwise it is anchored at the start of the
        path, after NUL, or after NUL + "root/": one scan per anchor, each with
        a literal prefix the regex engine searches for quickly.
        """
        if not (_GLOB_CHARS & set(value) or value.endswith("/")):
            return self._path_substring(value)
        # anchored at the start of the relative path, so a leading "/" adds nothing
        glob = value.lstrip("/")
        if glob.endswith("/") or not glob:
            glob += "*"  # "dir/": everything under it
        first = min((glob.find(c) for c in _GLOB_CHARS if c in glob), default=len(glob))
        literal, rest = glob[:first], glob[first:]
        if glob.startswith("*"):
            body = glob.lstrip("*")
            if not body:
                return self.all
            if body[0] not in "?[":  # starts with a literal: a fast scan
                return self._scan_mask(_glob_rx(body))
            rx = re.compile(fnmatch.translate(glob))
            paths = self.lower_paths()
            return self._path_indices_mask(compress(range(len(paths)), map(rx.match, paths)))
        roots = self.roots()
        if literal and roots is not None:
            tail = _glob_rx(rest)
            anchors = ("", *(f"{r}/" for r in roots))
            return self._scan_mask(*("\0" + re.escape(a + literal) + tail for a in anchors))
        # "?..." or "[...]..." (no literal to search for), or unknown roots
        paths = self.lower_paths()
        rx = re.compile(r"(?s:[^/]*/)?" + fnmatch.translate(glob))
        if not literal:
            return self._path_indices_mask(compress(range(len(paths)), map(rx.match, paths)))
        candidates = bytes(map(str.__contains__, paths, repeat(literal)))  # a superset
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
            return self._substring_mask(value)
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
