"""Search terms answered outside the catalog table: a registry of term providers.

The catalog table answers ``kind:``, ``path:``, ``size:`` and the other built-in keys
from its columns. Some questions need other data: a person's marks (``label:``), the
people in a photo, the words in a document, the photos that look alike. Each of those
is a *term provider*: a :class:`TermSpec` registered under its key, which turns a value
into the set of matching asset ids (:class:`TermHits`). The lexer validates a provider's
values with its ``check``; the evaluator asks ``match`` once per distinct value per query.

Built-in providers register exactly like any other: each module in :data:`PROVIDERS`
calls :func:`register` when imported. A module is imported on the first lookup of a key
it provides, so a query without such a term imports none of them and a ``text:`` query
only the text provider; a provider module keeps its heavy imports inside ``match``.

A *ranked* provider (``ranked=True``) also orders its hits, best first. When a query's
top level is that term, or an AND whose items include it, the answer comes out in that
order (``find``, collections, run selections) instead of catalog order; the first ranked
term wins. A ranked provider may also ``stream`` its hits best first: a query led by it
with a limit (``find text:invoice --limit 20``) then reads hits until it has enough rows
instead of asking for all of them.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from mstore.query.table import CatalogTable, MergedTable
    from mstore.store.store import Store

# the keys of the built-in providers and the module whose import registers each (a new
# built-in provider adds its own); a key is looked up by importing its module only
PROVIDERS = {"label": "mstore.query.labels", "text": "mstore.query.text",
             "person": "mstore.query.people", "faces": "mstore.query.people",
             "similar": "mstore.query.similar", "collection": "mstore.query.collections",
             "near": "mstore.query.places"}


class TermHits(msgspec.Struct):
    """What one term value matches."""

    ids: set[bytes]  # 32-byte asset ids
    order: list[bytes] | None = None  # a ranked term's ids, best first
    detail: dict[bytes, dict[str, Any]] = {}  # per asset, shown by `find --json` as "match"


class TermStream(msgspec.Struct):
    """A ranked term's hits read lazily, best first (``TermSpec.stream``): ``ids`` yields
    asset ids (each once); ``detail`` holds the detail of each one yielded so far. Close
    ``ids`` (a generator) when done with it early."""

    ids: Generator[bytes, None, None]
    detail: dict[bytes, dict[str, Any]] = msgspec.field(default_factory=dict)


class TermContext:
    """One query evaluation's access to the store; providers keep loaded data in ``cache``
    (keyed by their own names) so that two terms of one query read it once."""

    def __init__(self, store: Store | None,
                 progress: Callable[[int, int], None] | None = None) -> None:
        self.store = store
        # told (done, total) by a provider whose index must catch up on much before it
        # answers (the text index's first build); ``find`` draws it on a terminal
        self.progress = progress
        self.cache: dict[str, Any] = {}
        # the catalog table the query is evaluated against (evaluate() sets it), for the
        # providers that read its columns
        self.table: CatalogTable | MergedTable | None = None
        self.hits: dict[tuple[str, str], TermHits] = {}
        self._streamed: dict[tuple[str, str], dict[bytes, dict[str, Any]]] = {}

    def catalog(self) -> CatalogTable | MergedTable:
        """The catalog table the query runs against; the store's as of now when no
        evaluation gave one."""
        if self.table is None:
            if self.store is None:
                raise LookupError("this term needs the store here")
            from mstore.query.snapshot import load_table

            self.table = load_table(self.store)
        return self.table

    def match(self, key: str, value: str) -> TermHits:
        found = self.hits.get((key, value))
        if found is None:
            spec = lookup(key)
            assert spec is not None, key  # the lexer rejects unknown keys
            found = self.hits[(key, value)] = spec.match(self, value)
        return found

    def stream(self, key: str, value: str) -> Generator[bytes, None, None] | None:
        """A ranked term's hits best first, read lazily (see TermStream); None when its
        provider has no ``stream`` or the whole answer is already known."""
        spec = lookup(key)
        if spec is None or spec.stream is None or (key, value) in self.hits:
            return None
        found = spec.stream(self, value)
        self._streamed[(key, value)] = found.detail
        return found.ids

    def details(self, asset_id: bytes) -> dict[str, Any]:
        """What each matched provider term says about ``asset_id`` ({"key:value": detail})."""
        out: dict[str, Any] = {}
        for (k, v), detail in [*((key, h.detail) for key, h in self.hits.items()),
                               *self._streamed.items()]:
            found = detail.get(asset_id)
            if found is not None and f"{k}:{v}" not in out:
                out[f"{k}:{v}"] = found
        return out


class TermSpec(msgspec.Struct, frozen=True):
    key: str
    summary: str  # "label:KEY[=VALUE]  a person's mark": one line of `mstore help-query`
    # value lowercased and already checked; raises LookupError (shown as a query error)
    # when what it needs is not there
    match: Callable[[TermContext, str], TermHits]
    empty_ok: bool = False
    check: Callable[[str], None] | None = None  # raises ValueError with one clear line
    ranked: bool = False
    # a ranked provider's hits read lazily, best first: a limited query led by the term
    # reads only as many as it shows (``find text:invoice --limit 20``); optional
    stream: Callable[[TermContext, str], TermStream] | None = None


_registry: dict[str, TermSpec] = {}
_loaded = False


def register(spec: TermSpec) -> None:
    if spec.key in _registry and _registry[spec.key] is not spec:
        raise ValueError(f"a term provider for '{spec.key}:' is registered twice")
    _registry[spec.key] = spec


# what a term's value that names an asset looks like: an id or a prefix of 4+ hex digits
ASSET_PREFIX = re.compile(r"[0-9a-f]{4,64}")


def named_asset(ctx: TermContext, key: str, prefix: str) -> str:
    """The asset a term's value names by its id or a unique prefix of it (``similar:``,
    ``near:``); LookupError (a query error) when none or several start so."""
    if ctx.store is None:
        raise LookupError(f"{key}: terms need the store here")
    with ctx.store.reader() as r:
        found = r.asset_ids(prefix, limit=2)
    if not found:
        raise LookupError(f"{key}: no asset starts with '{prefix}'")
    if len(found) > 1:
        raise LookupError(f"{key}: '{prefix}' is ambiguous (give more digits)")
    return found[0]


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for name in dict.fromkeys(PROVIDERS.values()):
            importlib.import_module(name)


def lookup(key: str) -> TermSpec | None:
    spec = _registry.get(key)
    if spec is None and key in PROVIDERS:  # only its module: text: need not load people
        importlib.import_module(PROVIDERS[key])
        spec = _registry.get(key)
    if spec is None:
        _load()
        spec = _registry.get(key)
    return spec


def specs() -> list[TermSpec]:
    _load()
    return sorted(_registry.values(), key=lambda s: s.key)
