"""``near:`` terms: assets taken near a place, nearest first.

The place is a position (``near:48.8584,2.2945``, decimal degrees, north and east
positive) or an asset's own (``near:3fa9c1``: an id or a prefix of at least 4 hex
digits, whose capture position its metadata holds), and an optional radius after a
comma (``near:48.8584,2.2945,500m``, ``near:3fa9c1,2km``; default 1 km, at most
20,000 km). The term matches the assets whose GPS position is within the radius —
great-circle distance on a sphere of the Earth's mean radius, good to a few metres a
kilometre — the asset named left out, as ``similar:`` leaves it out. It is a ranked
term: alone or ANDed with others the answer comes nearest first; ``find --json`` shows
each hit's ``distance_m`` under ``"match"``. Positions are the files' own (EXIF, a
video's container, a PDF's) or lent by a Google Takeout JSON, as ``has:gps`` counts
them, read once per query.
"""

from __future__ import annotations

import math
import re

from mstore.query.terms import (
    ASSET_PREFIX,
    TermContext,
    TermHits,
    TermSpec,
    named_asset,
    register,
)

EARTH_RADIUS_M = 6_371_008.8  # the mean radius (IUGG)
DEFAULT_RADIUS_M = 1000.0
MAX_RADIUS_M = 20_000_000.0  # half the circumference, and then some: everywhere
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)")
RADIUS = re.compile(r"(\d+(\.\d*)?|\.\d+)(m|km)")
HELP = ("near: takes LAT,LON or an asset id (4+ hex digits), then optionally a radius: "
        "near:48.8584,2.2945,500m or near:3fa9c1,2km")


def parse(value: str) -> tuple[tuple[float, float] | str, float]:
    """(the place: (lat, lon) or an asset id prefix, the radius in metres); ValueError
    with one clear line when the value is neither."""
    parts = [p.strip() for p in value.split(",")]
    radius = DEFAULT_RADIUS_M
    if len(parts) in (2, 3) and NUMBER.fullmatch(parts[0]) and NUMBER.fullmatch(parts[1]):
        lat, lon = float(parts[0]), float(parts[1])
        if not -90 <= lat <= 90 or not -180 <= lon <= 180:
            raise ValueError(f"near: latitude {parts[0]} or longitude {parts[1]} out of range "
                             "(-90..90, -180..180)")
        place: tuple[float, float] | str = (lat, lon)
        rest = parts[2:]
    elif parts and ASSET_PREFIX.fullmatch(parts[0]) and len(parts) <= 2:
        place, rest = parts[0], parts[1:]
    else:
        raise ValueError(HELP)
    if rest:
        m = RADIUS.fullmatch(rest[0])
        if m is None:
            raise ValueError(f"near: radius '{rest[0]}' is not a distance like 500m or 2km")
        radius = float(m.group(1)) * (1000 if m.group(3) == "km" else 1)
        if not 0 < radius <= MAX_RADIUS_M:
            raise ValueError(f"near: radius '{rest[0]}' must be above 0 and at most 20000km")
    return place, radius


def _check(value: str) -> None:
    parse(value)


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance (haversine) between two (lat, lon) in degrees."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (math.sin((lat2 - lat1) / 2) ** 2
         + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2)
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _positions(ctx: TermContext) -> dict[str, tuple[float, float]]:
    """asset id -> (lat, lon) of every asset with a position, read once per query: its
    own, or the one its Google Takeout JSON lends it (as ``has:gps`` and ``show`` count
    it: the JSON paired with it by name in its directory, query/rows.py dir_extras)."""
    found = ctx.cache.get("positions")
    if found is not None:
        return found
    if ctx.store is None:
        raise LookupError("near: terms need the store here")
    from functools import partial

    from mstore.query.related import split_dir
    from mstore.query.rowfacts import takeout_of
    from mstore.query.rows import dir_extras

    found, lenders = {}, set()
    with ctx.store.reader() as r:
        for aid, lat, lon, own in r.positions():
            if own:
                found[aid] = (lat, lon)
            else:
                lenders.add(aid)
        dirs = {(root, split_dir(rel)[0]) for aid in lenders for root, rel in r.asset_paths(aid)}
        for root, d in sorted(dirs):
            members = r.dir_members(root, d)
            asset_of = dict(members)
            # the flags dir_extras also works out need kinds; only the lent facts count
            lent = dir_extras(members, lambda _a: None, partial(takeout_of, r)).lent
            for name, facts in lent.items():
                media = asset_of[name]
                if media not in found and facts.gps_lat is not None and \
                        facts.gps_lon is not None:
                    found[media] = (facts.gps_lat, facts.gps_lon)
    ctx.cache["positions"] = found
    return found


def _match(ctx: TermContext, value: str) -> TermHits:
    place, radius = parse(value)
    positions = _positions(ctx)
    itself = ""
    if isinstance(place, str):
        itself = named_asset(ctx, "near", place)
        if itself not in positions:
            raise LookupError(f"near: asset {itself[:12]} has no GPS position")
        place = positions[itself]
    # a cheap box first: a degree of latitude is ~111 km everywhere
    span = math.degrees(radius / EARTH_RADIUS_M)
    hits = []
    for aid, pos in positions.items():
        if abs(pos[0] - place[0]) > span or aid == itself:
            continue
        d = distance_m(place, pos)
        if d <= radius:
            hits.append((d, aid))
    hits.sort()
    order = [bytes.fromhex(aid) for _, aid in hits]
    return TermHits(ids=set(order), order=order,
                    detail={bytes.fromhex(aid): {"distance_m": round(d)} for d, aid in hits})


register(TermSpec(
    key="near",
    summary="near:48.85,2.29     taken within 1 km of there (GPS), nearest first; a radius:\n"
            "near:3fa9c1,2km     ... or of where that asset was taken (near:LAT,LON,500m)",
    match=_match, check=_check, ranked=True))
