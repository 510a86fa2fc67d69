"""duplicates: exact and near-duplicate groups over a whole selection (aggregate tool).

*Exact*: one content (one asset id) found at more than one path; the catalog
passes all current paths in ``inputs[i].meta["paths"]``. *Near*: connected
components of assets whose pHashes differ in at most ``max_distance`` of 64 bits.

Finding near pairs without comparing all n^2 pairs uses multi-index hashing: cut
the 64 bits into m bands; if two hashes differ in at most d bits, some band differs
in at most d // m bits (pigeonhole). So per band, bucket hashes by the band's
value and only compare a bucket with the buckets at most d // m bit flips away.
``_plan`` picks m from a cost estimate (for d = 6 and 100k hashes: 4 bands of 16
bits, one flip, ~10M comparisons on uniformly random hashes instead of 5 billion).
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterator
from math import comb
from typing import Any

from mstore.tools.api import BadInput, OutputArtifact, Progress, ToolRequest, ToolResult

BITS = 64
PAIR_CAP = 100  # pairs listed per near group (closest first); the count is always exact
EDGE_STORE = 200_000  # hash-level edges kept for listing pairs; beyond, groups are still right


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    d = int(req.params.get("max_distance", 6))
    if not 0 <= d < BITS:
        raise BadInput(f"duplicates: max_distance must be in 0..{BITS - 1}, not {d}")
    result = ToolResult()
    inputs = {inp.asset: inp for inp in req.inputs}  # an asset listed twice counts once

    # exact: the catalog already knows; just report assets with several paths
    for asset in sorted(inputs):
        paths = sorted({str(p) for p in inputs[asset].meta.get("paths") or []})
        if len(paths) > 1:
            result.artifacts.append(OutputArtifact(
                kind="duplicate-group", members=[asset],
                data={"type": "exact", "max_distance": d, "pairs": [], "paths": paths}))
    progress(0.1, f"{len(result.artifacts)} exact groups")

    # near: identical hashes first (resized or re-saved copies often hash the same),
    # so the search runs over distinct values only
    by_hash: dict[int, list[str]] = defaultdict(list)
    for asset, inp in inputs.items():
        art = inp.artifacts.get("phash")
        if art is None:
            continue  # no hash (a video, or the phash step failed): exact groups only
        value = _parse(art.data)
        if value is None:
            result.failed[asset] = "phash artifact has no valid 64-bit 'phash' hex value"
            continue
        by_hash[value].append(asset)
    values = list(by_hash)
    classes = [sorted(by_hash[v]) for v in values]

    parent = list(range(len(values)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees flat
            i = parent[i]
        return i

    pair_count = [len(c) * (len(c) - 1) // 2 for c in classes]  # per node, summed per group
    edges: list[tuple[int, int, int]] = []
    for i, j, dist in near_pairs(values, d, progress):
        ri, rj = find(i), find(j)
        if ri != rj:
            parent[ri] = rj
        pair_count[i] += len(classes[i]) * len(classes[j])
        if len(edges) < EDGE_STORE:
            edges.append((i, j, dist))

    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(values)):
        groups[find(i)].append(i)
    edges_by_root: dict[int, list[tuple[int, int, int]]] = defaultdict(list)
    for e in edges:
        edges_by_root[find(e[0])].append(e)
    near: list[OutputArtifact] = []
    for root, nodes in groups.items():
        members = sorted(a for i in nodes for a in classes[i])
        if len(members) < 2:
            continue
        pairs = _pairs(nodes, edges_by_root[root], classes)
        near.append(OutputArtifact(kind="duplicate-group", members=members, data={
            "type": "near", "max_distance": d, "pairs": pairs,
            "pair_count": sum(pair_count[i] for i in nodes)}))
    near.sort(key=lambda a: a.members)
    result.artifacts.extend(near)
    progress(1.0, f"{len(near)} near groups")
    return result


def _parse(data: Any) -> int | None:
    text = data.get("phash") if isinstance(data, dict) else None
    if not isinstance(text, str) or len(text) != BITS // 4:
        return None
    try:
        return int(text, 16)
    except ValueError:
        return None


def _pairs(nodes: list[int], edges: list[tuple[int, int, int]],
           classes: list[list[str]]) -> list[list[Any]]:
    """Up to PAIR_CAP [a, b, distance] of a group, closest first.

    Expanded lazily: a class of 10,000 identical hashes would otherwise mean 50
    million pairs to build only to keep 100.
    """
    out: list[tuple[int, str, str]] = []
    for i in nodes:  # same hash: distance 0
        for a, b in itertools.islice(itertools.combinations(classes[i], 2), PAIR_CAP):
            out.append((0, a, b))
    for i, j, dist in sorted(edges, key=lambda e: e[2]):
        if len(out) >= PAIR_CAP:
            break  # edges come closest first: the rest cannot displace these
        for a, b in itertools.islice(itertools.product(classes[i], classes[j]), PAIR_CAP):
            out.append((dist, min(a, b), max(a, b)))
    out.sort()
    return [[a, b, dist] for dist, a, b in out[:PAIR_CAP]]


# --------------------------------------------------------------------------- search


def _bands(m: int) -> list[tuple[int, int]]:
    """(shift, width) of m bands covering the 64 bits, widths differing by at most 1."""
    out, shift = [], 0
    for b in range(m):
        w = BITS // m + (1 if b < BITS % m else 0)
        out.append((shift, w))
        shift += w
    return out


def _plan(n: int, d: int) -> int:
    """The band count with the least estimated work for n distinct hashes at distance d.

    Per band of width w searched at radius r: one dict lookup per (occupied key,
    flip pattern), plus the comparisons, ~n^2 * flips / 2^(w+1) for uniform hashes.
    Few wide bands mean many flip patterns; many narrow bands mean crowded buckets.
    """
    best_m, best_cost = 1, float("inf")
    for m in range(1, min(d + 1, BITS) + 1):
        r = d // m
        cost = 0.0
        for _shift, w in _bands(m):
            flips = sum(comb(w, k) for k in range(r + 1))
            cost += min(n, 2 ** w) * flips + n * n * flips / 2 ** (w + 1)
        if cost < best_cost:
            best_m, best_cost = m, cost
    return best_m


def _flips(width: int, r: int) -> list[int]:
    """Every non-zero XOR mask of ``width`` bits with at most r bits set."""
    out = []
    for k in range(1, r + 1):
        for bits in itertools.combinations(range(width), k):
            out.append(sum(1 << b for b in bits))
    return out


def near_pairs(values: list[int], d: int,
               progress: Progress | None = None) -> Iterator[tuple[int, int, int]]:
    """Every pair (i, j, distance) of ``values`` within Hamming distance d, each once."""
    if len(values) < 2:
        return
    bands = _bands(_plan(len(values), d))
    r = d // len(bands)
    masks = [(shift, (1 << w) - 1) for shift, w in bands]
    for b, (shift, mask) in enumerate(masks):
        earlier = masks[:b]
        table: dict[int, list[int]] = defaultdict(list)
        for i, h in enumerate(values):
            table[(h >> shift) & mask].append(i)
        flips = _flips(bands[b][1], r)
        for key, bucket in table.items():
            others: list[list[int]] = [bucket]
            for f in flips:
                other_key = key ^ f
                if other_key > key and other_key in table:  # each bucket pair once
                    others.append(table[other_key])
            for k, other in enumerate(others):
                for x, i in enumerate(bucket):
                    hi = values[i]
                    # within one bucket only j after i; across buckets all of them
                    for j in (other[x + 1:] if k == 0 else other):
                        diff = hi ^ values[j]
                        dist = diff.bit_count()
                        if dist > d:
                            continue
                        # found in an earlier band already? (band within radius there)
                        if any(((diff >> s) & mk).bit_count() <= r for s, mk in earlier):
                            continue
                        yield (i, j, dist) if i < j else (j, i, dist)
        if progress is not None:
            progress(0.1 + 0.8 * (b + 1) / len(masks), f"band {b + 1}/{len(masks)}")
