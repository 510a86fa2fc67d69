"""``label:`` terms: assets by a person's marks (the index's labels table).

``label:KEY`` matches assets whose newest mark under KEY (whatever it was made
about) has a non-empty value; ``label:KEY=VALUE`` those whose newest value is VALUE.
Keys and values compare case-insensitively, like every term.

The built-in example of a term provider (mstore/query/terms.py).
"""

from __future__ import annotations

from mstore.query.terms import TermContext, TermHits, TermSpec, register


def _newest(ctx: TermContext) -> dict[tuple[bytes, str], tuple[tuple[int, str], str]]:
    """(asset id, key) -> ((hlc, lane), value) of the newest mark, read once per query."""
    newest = ctx.cache.get("labels")
    if newest is None:
        if ctx.store is None:
            raise LookupError("label: terms need the store's labels here")
        newest = {}
        with ctx.store.reader() as r:
            for order, lab in r.label_claims():
                k = (bytes.fromhex(lab.asset), lab.key.lower())
                if k not in newest or newest[k][0] < order:
                    newest[k] = (order, lab.value.lower())
        ctx.cache["labels"] = newest
    return newest


def _match(ctx: TermContext, value: str) -> TermHits:
    key, eq, want = value.partition("=")
    return TermHits({aid for (aid, k), (_, v) in _newest(ctx).items()
                     if k == key and v and (not eq or v == want)})


def _check(value: str) -> None:
    if value.startswith("="):
        raise ValueError("label: needs a key before '=' (label:keep=not-keep)")


register(TermSpec(
    key="label",
    summary="label:keep          a person marked it under that key (e.g. in duplicate review)\n"
            "label:keep=not-keep ... and the newest mark under the key has that value",
    match=_match, check=_check))
