"""Google Takeout metadata JSON: the capture time and place it gives its photo or video.

Takeout (Google Photos export) strips or never had EXIF in many files and puts
what Google knew next to each one as JSON::

    {"title": "IMG_1234.jpg", "photoTakenTime": {"timestamp": "1600596727", ...},
     "geoData": {"latitude": 48.85, "longitude": 2.29, "altitude": 35.0, ...},
     "geoDataExif": {...}, ...}

``title`` (the file name as uploaded, or what it was renamed to in Google Photos) and
``description`` (the caption written there) are kept as words for ``text:`` search.
``photoTakenTime.timestamp`` is UTC epoch seconds, recorded as UTC
("...+00:00"). ``geoData`` is the place as Google Photos shows it (it may have
been set by hand); ``geoDataExif`` the camera's; the first that is not 0,0 (what
Takeout writes for "unknown") is used. Which file a JSON describes is decided by
the names (mstore/query/related.py), when the catalog is read.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import msgspec

from mstore.catalog.probe import captions, format_taken
from mstore.model.meta import TAKEOUT_FORMAT, SidecarFacts

MAX_BYTES = 1 << 20  # Takeout's files are a few kB; larger JSON is something else
_MARKERS = ("photoTakenTime", "geoData", "geoDataExif")


def takeout_facts(data: bytes) -> SidecarFacts | None:
    """The facts of a Takeout media JSON, or None if ``data`` is not one."""
    try:
        doc = msgspec.json.decode(data.removeprefix(b"\xef\xbb\xbf"))
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or not any(isinstance(doc.get(k), dict) for k in _MARKERS):
        return None
    facts = SidecarFacts(format=TAKEOUT_FORMAT, taken=_taken(doc.get("photoTakenTime")),
                         title=captions.clean(doc.get("title")),
                         description=captions.clean(doc.get("description")))
    for key in ("geoData", "geoDataExif"):
        place = _place(doc.get(key))
        if place is not None:
            facts.gps_lat, facts.gps_lon, facts.gps_alt = place
            break
    return facts


def _taken(value: Any) -> str | None:
    ts = value.get("timestamp") if isinstance(value, dict) else None
    try:
        secs = int(ts)  # a string in every export seen, an int would do as well
    except (TypeError, ValueError):
        return None
    if secs <= 0:
        return None  # 0: no date
    try:
        t = datetime.fromtimestamp(secs, UTC)
    except (OverflowError, OSError, ValueError):
        return None
    return format_taken((t.year, t.month, t.day, t.hour, t.minute, t.second), ("+", 0, 0))


def _place(value: Any) -> tuple[float, float, float | None] | None:
    if not isinstance(value, dict):
        return None
    lat, lon, alt = (_finite(value.get(k)) for k in ("latitude", "longitude", "altitude"))
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    if lat == 0 and lon == 0:
        return None  # Takeout's "unknown"
    if alt is not None and (alt == 0 or abs(alt) > 100_000):
        alt = None  # exports write 0.0 where the altitude is unknown
    return round(lat, 7), round(lon, 7), (round(alt, 3) if alt is not None else None)


def _finite(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return None
    return float(v) if math.isfinite(v) else None
