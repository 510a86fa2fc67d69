"""Collections: a named dynamic query, or a frozen list of assets — and the
``collection:NAME`` term, which selects a collection's members inside any query
(``find collection:trip kind:video``, the UI's search box, a run's selection).

A dynamic collection's query is evaluated when it is used, against the same catalog as
the query that names it; it may name other collections, but never itself (through any
chain of them): that is a query error, as is a name no collection has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from mstore.errors import QueryError, StoreDamagedError, UsageError
from mstore.query.terms import TermContext, TermHits, TermSpec, register
from mstore.store.store import Store

if TYPE_CHECKING:
    from mstore.model.records import CollectionDefined

_OPEN = "collection:open"  # TermContext.cache: the dynamic collections being evaluated


def collection_units(store: Store, name: str) -> list[str]:
    """The asset ids of a collection now: a frozen one's exact members, a dynamic one's
    query evaluated against the current catalog."""
    with store.reader() as r:
        c = r.collection(name)
    if c is None:
        raise UsageError(f"no collection '{name}'")
    if c.members_object:
        return frozen_members(store, c)
    try:
        return query_members(store, c.query)
    except QueryError as e:  # it names what is gone now (a collection, a similar: asset)
        raise UsageError(f"collection '{c.name}': its query ({c.query}) fails now: "
                         f"{e.message}") from None


def query_members(store: Store, query: str) -> list[str]:
    """The asset ids a query matches now, in catalog order (error-only rows have no id)."""
    from mstore.query.evaluate import evaluate
    from mstore.query.snapshot import load_table

    table = load_table(store)
    return [rid for i in evaluate(query, table, TermContext(store)) if (rid := table.row_id(i))]


def frozen_members(store: Store, c: CollectionDefined) -> list[str]:
    """A frozen collection's members (asset ids), as stored. Its member list is an object:
    one this copy lacks (lost with a damaged pack) or cannot decode is damage (exit 5)."""
    try:
        members = msgspec.msgpack.decode(store.objects.get(c.members_object), type=list[str])
    except (KeyError, OSError, msgspec.DecodeError) as e:
        why = "missing from this copy" if isinstance(e, KeyError) else "damaged"
        raise StoreDamagedError(f"collection '{c.name}': its member list "
                                f"{c.members_object[:12]} cannot be read: {why} "
                                "(mstore fsck)") from None
    return members


def at_names(store: Store, query: str) -> list[str]:
    """The collections ``query`` names as free words written ``@NAME`` (as ``run --on``
    takes them): such a word searches the paths, so a query that finds nothing says
    which term was meant (``collection:NAME``)."""
    from mstore.query.lexer import WORD, tokenize

    words = [t.value[1:].lower() for t in tokenize(query)
             if t.type == WORD and not t.key and t.value.startswith("@")]
    if not words:
        return []
    with store.reader() as r:
        names = {c.name.lower(): c.name for c in r.collections()}
    return [names[w] for w in dict.fromkeys(words) if w in names]


def _named(store: Store, value: str) -> CollectionDefined:
    """The collection a term names: names compare case-insensitively, like every term."""
    with store.reader() as r:
        c = r.collection(value)
        if c is not None:
            return c
        same = [x for x in r.collections() if x.name.lower() == value]
    if len(same) > 1:
        raise LookupError(f"collection:{value} is ambiguous: "
                          + ", ".join(sorted(x.name for x in same)))
    if not same:
        raise LookupError(f"no collection '{value}' (mstore collection list)")
    return same[0]


def _match(ctx: TermContext, value: str) -> TermHits:
    if ctx.store is None:
        raise LookupError("collection: terms need the store here")
    c = _named(ctx.store, value)
    if c.members_object:
        ids = set()
        for m in frozen_members(ctx.store, c):
            try:
                ids.add(bytes.fromhex(m))
            except ValueError:  # not an asset id: it matches no row
                continue
        return TermHits(ids)
    from mstore.query.evaluate import evaluate
    from mstore.query.table import NO_ID

    open_now: set[str] = ctx.cache.setdefault(_OPEN, set())
    if c.name in open_now:
        raise LookupError(f"collection '{c.name}' names itself through its query")
    table = ctx.catalog()
    open_now.add(c.name)
    try:
        rows = evaluate(c.query, table, ctx)
    except QueryError as e:  # a collection it names is gone, or names this one
        raise LookupError(f"collection '{c.name}' ({c.query}): {e.message}") from None
    finally:
        open_now.discard(c.name)
    return TermHits({raw for i in rows if (raw := table.id_bytes(i)) != NO_ID})


register(TermSpec(
    key="collection",
    summary="collection:trip     in that collection now (a dynamic one's query evaluated)",
    match=_match))
