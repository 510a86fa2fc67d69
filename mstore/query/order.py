"""The orders matches can be listed in besides the catalog's own: ``find --sort`` and the
web UI grid's "order" choice.

A key is a column, ascending, or descending with a leading ``-`` (as ``git for-each-ref
--sort=-committerdate``). Rows the key says nothing about (no capture time) come last
in both directions, so "newest first" does not open with every undated file. Ties keep
the catalog's order (by path), so every order is stable from one call to the next.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable

from mstore.errors import UsageError
from mstore.query.table import CatalogTable, MergedTable

# path: the catalog's order (for a ranked query too, instead of best first); taken: oldest
# capture time first; size: smallest first; "-" before a key: the other way round
SORTS = ("path", "taken", "-taken", "size", "-size")
_LAST = 1 << 62  # above any capture time (YYYYmmddHHMMSS) and any size


def check_sort(sort: str, unknown: str = "unknown sort") -> None:
    """A usage error, ``unknown`` (how the caller words it) then ``sort`` and the keys,
    when ``sort`` is none of them: callers check before they open the store."""
    if sort not in SORTS:
        raise UsageError(f"{unknown} '{sort}' (one of: {', '.join(SORTS)})")


def sort_key(table: CatalogTable | MergedTable, sort: str) -> Callable[[int], int]:
    """A row's place in order ``sort``: smaller first (ties go by row, the caller's
    sort being stable over rows in catalog order)."""
    check_sort(sort)
    if sort == "path":
        return int
    if sort in ("taken", "-taken"):
        taken = table.taken
        if sort == "taken":
            return lambda i: taken[i] or _LAST
        return lambda i: -taken[i] if taken[i] else _LAST
    sizes = table.sizes  # "size" or "-size"
    return sizes.__getitem__ if sort == "size" else (lambda i: -sizes[i])


def sort_rows(rows: list[int], table: CatalogTable | MergedTable, sort: str,
              limit: int | None = None) -> list[int]:
    """``rows`` (any order) in order ``sort``; with ``limit``, only the first that many
    (without sorting the rest)."""
    key = sort_key(table, sort)
    rows = sorted(rows)  # catalog order first: the ties' order
    if limit is not None and limit < len(rows):
        return heapq.nsmallest(limit, rows, key=key)  # stable, as sorted() is
    rows.sort(key=key)
    return rows
