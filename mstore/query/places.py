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
them (the catalog table's ``lat`` and ``lon`` columns).
"""

from __future__ import annotations

import math
import re
from itertools import compress
from operator import and_

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


def _match(ctx: TermContext, value: str) -> TermHits:
    place, radius = parse(value)
    table = ctx.catalog()
    lat, lon = table.lat, table.lon
    itself = b""
    if isinstance(place, str):
        aid = named_asset(ctx, "near", place)
        itself = bytes.fromhex(aid)
        row = table.row_of_id(itself)
        if row < 0 or math.isnan(lat[row]):
            raise LookupError(f"near: asset {aid[:12]} has no GPS position")
        place = (lat[row], lon[row])
    # a cheap band first, in C-level passes over the column: a degree of latitude is
    # ~111 km everywhere (nan, no position, is in no band)
    span = math.degrees(radius / EARTH_RADIUS_M)
    band = bytes(map(and_, map((place[0] - span).__le__, lat),
                     map((place[0] + span).__ge__, lat)))
    hits = []
    for i in compress(range(len(band)), band):
        d = distance_m(place, (lat[i], lon[i]))
        if d <= radius and (aid_i := table.id_bytes(i)) != itself:
            hits.append((d, aid_i))
    hits.sort()
    order = [aid for _, aid in hits]
    return TermHits(ids=set(order), order=order,
                    detail={aid: {"distance_m": round(d)} for d, aid in hits})


register(TermSpec(
    key="near",
    summary="near:48.85,2.29     taken within 1 km of there (GPS), nearest first; a radius:\n"
            "near:3fa9c1,2km     ... or of where that asset was taken (near:LAT,LON,500m)",
    match=_match, check=_check, ranked=True))
