"""Rows of the catalog table: the one derivation the snapshot's full build, its deltas
and an add's new files (query/fresh.py) all use."""

from __future__ import annotations

import re
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import chain, repeat
from math import nan
from operator import itemgetter
from typing import NamedTuple

import msgspec

from mstore.model.meta import TAKEOUT_FORMAT, Meta, SidecarFacts
from mstore.query.namedate import paths_taken
from mstore.query.related import (
    LIVE_VIDEO_EXTS,
    is_json_name,
    is_sidecar,
    splitext,
    stem_key,
    takeout_pairs,
)
from mstore.query.rowfacts import RowFacts, row_facts, taken_int
from mstore.query.table import (
    F_ATTACHED,
    F_ERROR,
    F_LIVE,
    F_MISSING,
    F_SIDECAR,
    F_TAKEN,
    KIND_CODES,
    NO_ID,
    CatalogTable,
)
from mstore.store.reader import AssetInfo

ERROR_KIND = KIND_CODES["error"]


class Row(NamedTuple):
    key: bytes  # primary path: output order is (key, id)
    id: bytes  # 32 bytes; NO_ID for an error-only row
    paths: list[bytes]
    kind: int
    size: int
    taken: int
    flags: int
    camera: str
    error: str
    lat: float  # nan when the asset has no position
    lon: float


def lend(meta: Meta, facts: SidecarFacts | None) -> Meta:
    """``meta`` with the capture time and place of a sidecar where the file has none of
    its own (a file's own EXIF or container tags always win)."""
    if facts is None:
        return meta
    taken = meta.taken if meta.taken else facts.taken
    own_gps = meta.gps_lat is not None and meta.gps_lon is not None
    if taken == meta.taken and (own_gps or facts.gps_lat is None):
        return meta
    return msgspec.structs.replace(
        meta, taken=taken,
        gps_lat=meta.gps_lat if own_gps else facts.gps_lat,
        gps_lon=meta.gps_lon if own_gps else facts.gps_lon,
        gps_alt=meta.gps_alt if own_gps else facts.gps_alt)


def asset_row(a: AssetInfo, current: Iterable[bytes], last: bytes, extra: int,
               error_of: Callable[[bytes], str | None] | None,
               lent: SidecarFacts | None = None) -> Row:
    """The row of asset ``a``: ``current`` are its present paths ("root/path"), ``last``
    where a missing asset was seen last, ``extra`` its sidecar/live flags, ``error_of``
    the recorded path error of a path, if any (None: no path has one), and ``lent`` the
    facts of a sidecar next to one of its paths (``DirExtras.lent``)."""
    return facts_row(bytes.fromhex(a.id), a.size, row_facts(lend(a.meta, lent)), current,
                      last, extra, error_of)


def facts_row(aid: bytes, size: int, facts: RowFacts, current: Iterable[bytes], last: bytes,
               extra: int, error_of: Callable[[bytes], str | None] | None) -> Row:
    """The row of an asset from its own facts and what its paths add (see asset_row)."""
    paths = sorted(current)
    flags = facts.flags | extra
    if not paths:
        flags |= F_MISSING
        paths = [last]
    err = facts.error
    if not err and error_of is not None:
        for p in paths:
            e = error_of(p)
            if e is not None:
                flags |= F_ERROR
                err = e
                break
    taken = facts.taken
    if not flags & F_TAKEN and facts.kind in NAME_DATED:
        taken, flags = _named(paths, taken, flags)
    return Row(paths[0], aid, paths, facts.kind, size, taken, flags, facts.camera, err,
               facts.lat, facts.lon)


# kinds whose files' names may give the capture time they do not carry (query/namedate.py)
NAME_DATED_KINDS = ("image", "video", "audio")
NAME_DATED = frozenset(KIND_CODES[k] for k in NAME_DATED_KINDS)


def _named(paths: list[bytes], taken: int, flags: int) -> tuple[int, int]:
    """The capture time and flags of a row whose asset has no capture time of its own
    (nor one lent by a sidecar): from its first path whose file name holds a date."""
    named = paths_taken(paths)
    return (taken_int(named[0]), flags | F_TAKEN) if named else (taken, flags)


def fresh_row(aid: bytes, size: int, facts: RowFacts, paths: list[bytes], extra: int) -> Row:
    """``facts_row`` for an asset an add just found new: its ``paths`` are all present and
    none has an error. Made once per new file of a bulk add, so it does no more: no sort of
    a single path, no error lookups."""
    if len(paths) > 1:
        paths = sorted(paths)
    flags, taken = facts.flags | extra, facts.taken
    if not flags & F_TAKEN and facts.kind in NAME_DATED:
        taken, flags = _named(paths, taken, flags)
    return Row(paths[0], aid, paths, facts.kind, size, taken, flags, facts.camera,
               facts.error, facts.lat, facts.lon)


def error_row(full: bytes, reason: str) -> Row:
    return Row(full, NO_ID, [full], ERROR_KIND, 0, 0, F_ERROR, "", reason, nan, nan)


class DirExtras(NamedTuple):
    flags: dict[str, int]  # asset -> F_SIDECAR / F_LIVE
    # media file name -> the facts its sidecar lends: its Takeout JSON's, else those of
    # the first XMP file of its stem group that has a capture time or place (to a photo,
    # video or audio file: XMP_LENT_KINDS)
    lent: dict[bytes, SidecarFacts]
    takeout: dict[bytes, bytes]  # media file name -> name of its Takeout JSON


def dir_extras(members: list[tuple[bytes, str]], kind_of: Callable[[str], str | None],
               lender_of: Callable[[str], SidecarFacts | None]) -> DirExtras:
    """Flags and lent facts of the assets in one directory, from its present paths
    ``members`` ((file name, asset id), in name order); ``lender_of`` gives a sidecar's
    ``rowfacts.lender_facts``."""
    flags: dict[str, int] = defaultdict(int)
    by_stem: dict[bytes, list[tuple[bytes, str]]] = defaultdict(list)
    for name, aid in members:
        by_stem[stem_key(name)].append((name, aid))
    for group in by_stem.values():
        for aid, fl in group_flags(group, kind_of).items():
            flags[aid] |= fl
    facts = {name: f for name, aid in members if is_json_name(name)
             and (f := lender_of(aid)) is not None and f.format == TAKEOUT_FORMAT}
    pairs: dict[bytes, bytes] = {}
    if facts:
        asset_of = dict(members)
        pairs = takeout_pairs(facts, (n for n, _ in members if not is_json_name(n)))
        for media, json in pairs.items():
            flags[asset_of[media]] |= F_SIDECAR
            flags[asset_of[json]] |= F_ATTACHED
    lent = {m: facts[j] for m, j in pairs.items()}
    for group in by_stem.values():
        if len(group) > 1:
            xmp = next((f for name, aid in group if is_sidecar(name)
                        and (f := lender_of(aid)) is not None and f.format != TAKEOUT_FORMAT),
                       None)
            if xmp is not None:
                for name, aid in group:
                    if not is_sidecar(name) and kind_of(aid) in XMP_LENT_KINDS:
                        lent.setdefault(name, xmp)
    return DirExtras(flags, lent, pairs)


# the kinds an XMP sidecar lends its capture time and place to (never a Takeout JSON or
# a note that shares the stem)
XMP_LENT_KINDS = frozenset(("image", "video", "audio"))


def group_flags(members: list[tuple[bytes, str]],
                 kind_of: Callable[[str], str | None]) -> dict[str, int]:
    """Sidecar/live flags within one group of present paths that share a directory and
    a stem: ``members`` are (file name, asset id)."""
    if len(members) < 2:
        return {}
    exts = [splitext(name)[1].lower() for name, _ in members]
    sidecar = [is_sidecar(name) for name, _ in members]
    out: dict[str, int] = defaultdict(int)
    if any(sidecar) and not all(sidecar):
        for side, (_, a) in zip(sidecar, members, strict=True):
            out[a] |= F_ATTACHED if side else F_SIDECAR
    images = [a for _, a in members if kind_of(a) == "image"]
    videos = [a for ext, (_, a) in zip(exts, members, strict=True)
              if ext in LIVE_VIDEO_EXTS and kind_of(a) == "video"]
    if images and videos:
        for a in images + videos:
            out[a] |= F_LIVE
    return out


def table_from_rows(rows: list[Row]) -> CatalogTable:
    """An in-memory table of ``rows`` (already in output order).

    Column-wise: one transposition, then C-level constructors (no per-row statement).
    """
    if not rows:
        return CatalogTable()
    _keys, ids, paths, kinds, sizes, taken, flags, cams, errors, lat, lon = zip(*rows, strict=True)
    cameras = list(dict.fromkeys(chain(("",), cams)))
    cam_index = {c: i for i, c in enumerate(cameras)}
    return CatalogTable(
        ids=b"".join(ids), kinds=bytes(kinds), sizes=array("q", sizes),
        taken=array("q", taken), flags=array("I", flags),
        camera=array("I", map(cam_index.__getitem__, cams)), cameras=cameras,
        paths=list(chain.from_iterable(paths)),
        path_rows=array("I", chain.from_iterable(map(repeat, range(len(rows)), map(len, paths)))),
        errors=list(errors), lat=array("d", lat), lon=array("d", lon),
    )


row_order: Callable[[Row], tuple[bytes, bytes]] = itemgetter(0, 1)  # (key, id)




_FIRST_PART = re.compile(rb"\0([^.\0]*)")  # NUL, then a name up to its first dot
_name: Callable[[tuple[bytes, str]], bytes] = itemgetter(0)


def stem_groups(members: list[tuple[bytes, str]]) -> list[list[tuple[bytes, str]]]:
    """The groups of two or more ``members`` ((name, asset) of one directory) that share
    a stem. Files sharing a stem share the part of their name before its first dot, so
    only those few have their stems computed."""
    if len(members) < 2:
        return []
    # each name's part before its first dot, lower-cased, found in one pass over the
    # names joined (a bulk add asks this of every directory it found new)
    parts = _FIRST_PART.findall(b"\0" + b"\0".join(map(_name, members)).lower())
    if len(set(parts)) == len(members):
        return []  # no two files share a stem: no sidecars, no Live Photos
    firsts: dict[bytes, list[tuple[bytes, str]]] = defaultdict(list)
    for part, member in zip(parts, members, strict=True):
        firsts[part].append(member)
    out: list[list[tuple[bytes, str]]] = []
    for candidates in firsts.values():
        if len(candidates) > 1:
            groups: dict[bytes, list[tuple[bytes, str]]] = defaultdict(list)
            for name, aid in candidates:
                groups[stem_key(name)].append((name, aid))
            out += [g for g in groups.values() if len(g) > 1]
    return out
