"""What an asset's own facts put in its row of the catalog table, from its Meta alone.

The snapshot's full build derives them from the index, and the hashing workers of
``add`` derive them while they hold the Meta they probed, so the rows of the files an
add finds new cost the process that writes the catalog nothing but their assembly
(query/snapshot.py). What depends on other files (sidecar and Live Photo flags, the
facts a Takeout JSON or an XMP sidecar lends, path errors, missing) is added when a row
is made.
"""

from __future__ import annotations

from math import nan
from typing import TYPE_CHECKING

import msgspec

from mstore.model.meta import TAKEOUT_FORMAT, Meta, SidecarFacts
from mstore.query.table import (
    F_ANIMATED,
    F_ERROR,
    F_GPS,
    F_LIVE,
    F_PROBE_ERROR,
    F_TAKEN,
    KIND_CODES,
)

if TYPE_CHECKING:
    from mstore.store.reader import Reader

_OTHER = KIND_CODES["other"]


class RowFacts(msgspec.Struct, array_like=True, gc=False, frozen=True):
    kind: int  # KIND_CODES
    taken: int  # taken_int of the capture time
    flags: int  # F_GPS, F_TAKEN, F_ANIMATED, and F_PROBE_ERROR | F_ERROR for a probe error
    camera: str  # camera_name
    error: str  # the probe's error, or ""
    lends: bool  # a sidecar whose facts may be lent to a file next to it (lender_facts)
    lat: float  # the capture position in degrees (north, east positive); nan when unknown
    lon: float


def taken_int(taken: str | None) -> int:
    """ "2019-06-01T12:30:00+02:00" -> 20190601123000 (local time; 0 when unknown)."""
    if not taken:
        return 0
    digits = "".join(c for c in taken[:19] if c.isdigit())
    return int(digits.ljust(14, "0")) if len(digits) >= 4 else 0


def camera_name(meta: Meta) -> str:
    make, model = meta.camera_make, meta.camera_model
    if make and model:
        # "Apple iPhone 12", but "Canon EOS 5D" rather than "Canon Canon EOS 5D"
        return model if model.lower().startswith(make.lower()) else f"{make} {model}"
    return make or model or ""


def takeout_of(r: Reader, aid: str) -> SidecarFacts | None:
    """The Takeout facts asset ``aid`` holds (when it is such a JSON); what ``dir_extras``
    asks of a directory's members."""
    info = r.asset(aid)
    return takeout_facts(info.meta) if info is not None else None


def takeout_facts(meta: Meta) -> SidecarFacts | None:
    """What a Google Takeout JSON says about the file it describes (None: not one)."""
    sc = meta.sidecar
    return sc if sc is not None and sc.format == TAKEOUT_FORMAT else None


def lender_facts(meta: Meta) -> SidecarFacts | None:
    """What a sidecar may lend the file it describes: a Google Takeout JSON's facts, an
    XMP file's when they hold a capture time or a place (None: it lends nothing)."""
    sc = meta.sidecar
    if sc is None:
        return None
    if sc.format == TAKEOUT_FORMAT or sc.taken or sc.gps_lat is not None:
        return sc
    return None


def lender_of(r: Reader, aid: str) -> SidecarFacts | None:
    """``lender_facts`` of asset ``aid``."""
    info = r.asset(aid)
    return lender_facts(info.meta) if info is not None else None


def row_facts(meta: Meta) -> RowFacts:
    flags = 0
    if meta.error:
        flags |= F_PROBE_ERROR | F_ERROR
    lat = lon = nan
    if meta.gps_lat is not None and meta.gps_lon is not None:
        flags |= F_GPS
        lat, lon = meta.gps_lat, meta.gps_lon
    if meta.taken:
        flags |= F_TAKEN
    if meta.frames and meta.frames > 1:
        flags |= F_ANIMATED
    if meta.motion_video:
        flags |= F_LIVE  # a motion photo: a picture and its moment, as a Live Photo pair
    return RowFacts(KIND_CODES.get(meta.kind, _OTHER), taken_int(meta.taken), flags,
                    camera_name(meta), meta.error or "", lender_facts(meta) is not None,
                    lat, lon)
