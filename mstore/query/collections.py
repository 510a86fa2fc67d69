"""Collections: a named dynamic query, or a frozen list of assets."""

from __future__ import annotations

import msgspec

from mstore.errors import UsageError
from mstore.store.store import Store


def collection_units(store: Store, name: str) -> list[str]:
    """The asset ids of a collection now: a frozen one's exact members, a dynamic one's
    query evaluated against the current catalog."""
    with store.reader() as r:
        c = r.collection(name)
    if c is None:
        raise UsageError(f"no collection '{name}'")
    if c.members_object:
        return list(msgspec.msgpack.decode(store.objects.get(c.members_object)))
    from mstore.query.evaluate import evaluate
    from mstore.query.snapshot import load_table
    from mstore.query.terms import TermContext

    table = load_table(store)
    labels = TermContext(store)
    return [rid for i in evaluate(c.query, table, labels) if (rid := table.row_id(i))]
