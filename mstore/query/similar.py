"""``similar:ASSET`` terms: the assets that look most like one asset, nearest first.

ASSET is an asset id or a unique prefix of one (at least 4 hex digits). The term matches
the asset's ``NEAREST`` nearest neighbours in the vector index of image embeddings
(mstore/query/vectors.py; the ``embed`` tool makes them, the ``similar`` pipeline runs
it) -- the asset itself left out. It is a ranked term: alone or ANDed with other terms
(``similar:ab12 kind:image taken:2020``) the answer comes nearest first, so ``--limit 10``
gives the ten closest that also match the rest. ``find --json`` shows each hit's cosine
distance under ``"match"``.
"""

from __future__ import annotations

from mstore.query.terms import (
    ASSET_PREFIX,
    TermContext,
    TermHits,
    TermSpec,
    named_asset,
    register,
)

NEAREST = 500  # neighbours a term matches: the candidates other terms then narrow


def _check(value: str) -> None:
    if not ASSET_PREFIX.fullmatch(value):
        raise ValueError("similar: needs an asset id or a prefix of at least 4 hex digits "
                         "(similar:ab12cd)")


def _match(ctx: TermContext, value: str) -> TermHits:
    asset = named_asset(ctx, "similar", value)
    try:
        from mstore.query.vectors import similar_to

        near = similar_to(ctx.store, asset, NEAREST)
    except ImportError as e:
        raise LookupError(f"similar: needs the 'similar' extra: pip install 'mstore[similar]' "
                          f"({e.name} is missing)") from None
    order = [bytes.fromhex(a) for a, _ in near]
    return TermHits(ids=set(order), order=order,
                    detail={bytes.fromhex(a): {"distance": round(d, 4)} for a, d in near})


register(TermSpec(
    key="similar",
    summary="similar:ab12cd      looks like that asset (id or prefix): nearest first, "
            f"its {NEAREST} nearest (run the 'similar' pipeline first)",
    match=_match, check=_check, ranked=True))
