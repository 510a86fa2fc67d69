"""Defining collections: ``collection create / list / show / delete``.

A collection is a ``CollectionDefined`` record, the latest per name winning. A dynamic one
keeps its query and is re-evaluated whenever it is read (``collections.collection_units``),
so it follows the catalog; a frozen one keeps its members as an object (a msgpack list of
asset ids), so it never changes. Deleting writes a record with ``deleted = true``; the
name can be defined again later.
"""

from __future__ import annotations

import re

import msgspec

from mstore.errors import QueryError, UsageError
from mstore.model.records import CollectionDefined
from mstore.query.collections import collection_units, query_members
from mstore.store.store import Store

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
HEX_RE = re.compile(r"^[0-9a-fA-F]{4,64}$")


def check_name(name: str) -> str:
    """The name without a leading "@" (as ``run --on @name`` writes it), checked."""
    name = name[1:] if name.startswith("@") else name
    if not NAME_RE.match(name):
        raise UsageError(f"collection name '{name}': use letters, digits, '.', '_' and '-' "
                         "(at most 100, starting with a letter or digit)")
    return name


def get(store: Store, name: str) -> CollectionDefined:
    from mstore.services import resolve

    return resolve.collection(store, check_name(name))


def parse_asset_list(store: Store, text: str) -> list[str]:
    """Asset ids (or unique prefixes of 4+ hex digits), one per line; blank lines and
    ``#`` comments skipped; the first word of a line counts (so `find` output works).
    Duplicates are kept once, in first-seen order."""
    out: list[str] = []
    seen: set[str] = set()
    with store.reader() as r:
        for n, line in enumerate(text.splitlines(), 1):
            word = line.split("#", 1)[0].strip().split(maxsplit=1)
            if not word:
                continue
            w = word[0].lower()
            if not HEX_RE.match(w):
                raise UsageError(f"line {n}: '{word[0]}' is not an asset id")
            hits = r.asset_ids(w, limit=2)
            if not hits:
                raise UsageError(f"line {n}: no asset '{word[0]}'")
            if len(hits) > 1:
                raise UsageError(f"line {n}: ambiguous id prefix '{word[0]}'")
            if hits[0] not in seen:
                seen.add(hits[0])
                out.append(hits[0])
    return out


def create(store: Store, name: str, *, query: str | None = None,
           assets: list[str] | None = None, freeze: bool = False) -> CollectionDefined:
    """Define a collection from a query (dynamic, or frozen with ``freeze``) or from a list
    of asset ids (always frozen)."""

    name = check_name(name)
    if (query is None) == (assets is None):
        raise UsageError("give exactly one of --query and --assets")
    with store.reader() as r:
        if r.collection(name) is not None:
            raise UsageError(f"collection '{name}' exists; delete it first")
    members = assets if assets is not None else query_members(store, query or "")
    rec = CollectionDefined(hlc=0, name=name, query=query or "", count=len(members))
    if assets is not None or freeze:
        rec.members_object = store.objects.put(msgspec.msgpack.encode(members))
    store.write_records([rec])  # flushes the member list (an object) before the record
    return rec


def freeze(store: Store, name: str) -> CollectionDefined:
    """Turn dynamic collection NAME into a frozen one holding exactly its members now (the
    query is kept, to say where the members came from)."""

    c = get(store, name)
    if c.members_object:
        raise UsageError(f"collection '{c.name}' is frozen already")
    members = query_members(store, c.query)
    rec = CollectionDefined(hlc=0, name=c.name, query=c.query, count=len(members),
                            members_object=store.objects.put(msgspec.msgpack.encode(members)))
    store.write_records([rec])
    return rec


def delete(store: Store, name: str) -> None:

    c = get(store, name)
    store.write_records([CollectionDefined(hlc=0, name=c.name, deleted=True)])


def members(store: Store, c: CollectionDefined) -> list[str]:
    """Its members now: a frozen one's exact list, a dynamic one's query re-evaluated."""
    return collection_units(store, c.name)


def summary(c: CollectionDefined, count: int | None, error: str = "") -> dict:
    return {"name": c.name, "type": "frozen" if c.members_object else "dynamic",
            "query": c.query or None, "count": count, "defined_count": c.count,
            "members_object": c.members_object or None, "defined_ms": c.hlc >> 16,
            "error": error or None}


def all_collections(store: Store) -> list[tuple[CollectionDefined, int | None, str]]:
    """Every live collection with its member count now (dynamic ones re-evaluated) — or,
    for a dynamic one whose query fails now (it names a collection deleted since, or
    ``similar:`` an asset gone since), None and why: one such collection does not hide
    the others."""
    with store.reader() as r:
        cs = r.collections()
    out: list[tuple[CollectionDefined, int | None, str]] = []
    for c in sorted(cs, key=lambda c: c.name):
        if c.members_object:
            out.append((c, c.count, ""))
            continue
        try:
            out.append((c, len(query_members(store, c.query)), ""))
        except QueryError as e:
            out.append((c, None, f"its query fails now: {e.message}"))
    return out
