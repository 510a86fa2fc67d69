"""The common JPEG read without Pillow: its segments up to the first scan, and the EXIF
tags the image prober uses.

Nothing of a JPEG's pixels is decoded when it is probed, yet its probe cost several
times what hashing a small file does: Pillow's opener reads every segment into Python
objects and parses the whole EXIF directory (for the resolution), and the first
question about the EXIF sub-directory decodes every one of its tags (a camera writes
some forty). This reader walks the same segments and reads just the tags
``image._apply_exif`` and ``captions.from_exif`` ask for, and hands them the values
Pillow's ``Exif`` would: a str for ASCII (its one trailing NUL dropped, Latin-1), bytes
for BYTE and UNDEFINED, a number for a single value and a tuple for several (the first
one for a tag TIFF defines as single), a float for a rational (NaN for x/0).

It answers only for headers it reads exactly as Pillow does. Anything else returns None
and the prober opens the file with Pillow: bytes between segments that are not a
segment (junk, fill bytes, restart markers), a segment that runs past the end, a frame
Pillow refuses (not 8 bits, not 1, 3 or 4 components, a zero side) or a second frame
header, an MPO index, a Photoshop block (IPTC captions, which Pillow's IPTC reader
parses), a short JFIF, Adobe or ICC segment or an EXIF resolution of one byte or digit
(Pillow's opener fails on those), several EXIF segments, a picture over the
decompression-bomb limit, and EXIF that is not a plain little- or big-endian TIFF
directory whose values and sub-directories all lie inside it.
So a JPEG's facts never depend on which of the two read it; tests/unit/test_probe_jpeg.py
compares them over generated files.
"""

from __future__ import annotations

import math
import re
import struct
from typing import Any, NamedTuple

# the frame headers Pillow reads a size from (SOF0-3, 5-7, 9-11, 13-15; not DHP)
_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
# the other segments before the first scan, read and set aside: APP0-15, COM, DQT
# (checked as Pillow checks it), DHT, DAC, DNL, DRI, EXP
_SKIPPED = frozenset({*range(0xE0, 0xF0), 0xFE, 0xDB, 0xC4, 0xCC, 0xDC, 0xDD, 0xDF})
_SOS = 0xDA
_XMP = b"http://ns.adobe.com/xap/1.0/\x00"
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')

# EXIF: the tags read, per directory, and the pointers to the sub-directories
_EXIF_IFD, _GPS_IFD, _ORIENTATION = 0x8769, 0x8825, 0x0112
_X_RESOLUTION, _RESOLUTION_UNIT = 0x011A, 0x0128
_IFD0_TAGS = frozenset({_ORIENTATION, 0x010F, 0x0110, 0x0132, 0x010E,  # Make ... Description
                        0x9C9B, 0x9C9C, 0x9C9E, 0x9C9F,  # XPTitle, -Comment, -Keywords, -Subject
                        _EXIF_IFD, _GPS_IFD, _X_RESOLUTION, _RESOLUTION_UNIT})
_EXIF_TAGS = frozenset({0x9003, 0x9004, 0x9010, 0x9011, 0x9012, 0x9286})  # dates, offsets, comment
_GPS_TAGS = frozenset(range(1, 7))  # latitude, longitude, altitude and their refs
# tags TIFF defines as one value: Pillow keeps the first of several (TiffTags' length 1)
_SINGLE = {None: frozenset({_ORIENTATION, 0x010F, 0x0110, 0x0132, 0x010E, _EXIF_IFD, _GPS_IFD,
                            _X_RESOLUTION, _RESOLUTION_UNIT}),
           _EXIF_IFD: frozenset(), _GPS_IFD: frozenset({5, 6})}
# bytes per value of each TIFF type Pillow reads (13 IFD and 16 LONG8 included), and the
# struct codes of the numeric ones (a rational is two of its code)
_UNIT = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4, 16: 8}
_NUMBERS = {3: "H", 4: "L", 6: "b", 8: "h", 9: "l", 11: "f", 12: "d", 13: "L", 16: "Q"}
_RATIONALS = {5: "L", 10: "l"}


class Unreadable(Exception):
    """Headers this reader leaves to Pillow."""


class Headers(NamedTuple):
    width: int
    height: int
    exif: Exif
    xmp: bytes | None
    scan: int  # where the first scan's data begins (after its header)


class Exif:
    """What ``image._apply_exif`` and ``captions.from_exif`` read of a Pillow ``Exif``:
    ``get`` answers for the main directory, ``get_ifd`` for the EXIF and GPS ones."""

    def __init__(self, main: dict[int, Any], present: set[int],
                 subs: dict[int, dict[int, Any]]) -> None:
        self._main = main
        self._present = present  # every tag the main directory holds, read or not
        self._subs = subs

    def get(self, tag: int, default: Any = None) -> Any:
        return self._main.get(tag, default)

    def get_tag(self, tag: int) -> Any:
        """The main directory's ``tag``; KeyError when it has none (``Exif[tag]``)."""
        return self._main[tag]

    def get_ifd(self, tag: int) -> dict[int, Any]:
        return self._subs.get(tag, {})

    def __contains__(self, tag: object) -> bool:
        return tag in self._main or tag in self._present

    def __setitem__(self, tag: int, value: Any) -> None:
        self._main[tag] = value


def read_headers(data: bytes, max_pixels: int) -> Headers | None:
    """The size, EXIF, XMP and first-scan position of the JPEG ``data`` (the whole file),
    or None when Pillow must read it (see the module doc)."""
    try:
        return _read(data, max_pixels)
    except (Unreadable, struct.error, IndexError, ValueError):
        return None


def tiff_exif(tiff: bytes) -> Exif | None:
    """The same EXIF tags from a file that is a TIFF structure itself: a camera raw whose
    first directory Pillow does not open (Sony's ARW gives no size of its own there), so
    its EXIF directories are not Pillow's to read. None when ``tiff`` is not a TIFF
    structure whose directories and values all lie inside it."""
    if tiff[:4] not in (b"II*\x00", b"MM\x00*"):
        return None
    try:
        return _exif(b"Exif\x00\x00" + tiff)
    except (Unreadable, struct.error, IndexError, ValueError):
        return None


def exif_of_directories(ifd0: bytes, exif: bytes | None, gps: bytes | None) -> Exif | None:
    """The EXIF tags of the whole EXIF block ``ifd0`` (as ``tiff_exif``), its EXIF and GPS
    directories replaced by the first directories of ``exif`` and ``gps`` where given:
    a raw that keeps them as TIFF structures of their own (Canon's CR3); None when
    ``ifd0`` is not readable as one."""
    main = tiff_exif(ifd0)
    if main is None:
        return None
    for pointer, tiff, wanted in ((_EXIF_IFD, exif, _EXIF_TAGS), (_GPS_IFD, gps, _GPS_TAGS)):
        if tiff is None:
            continue
        try:
            endian, first = _first_directory(tiff)
            main._subs[pointer] = _ifd(tiff, first, endian, wanted, pointer)[0]
        except (Unreadable, struct.error, IndexError, ValueError):
            continue
    return main


def _read(data: bytes, max_pixels: int) -> Headers | None:
    if data[:3] != b"\xff\xd8\xff":
        return None
    n = len(data)
    pos = 2
    size: tuple[int, int] | None = None
    exif_block: bytes | None = None
    xmp: bytes | None = None
    jfif_dpi = False
    while True:
        if pos + 4 > n or data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        length = (data[pos + 2] << 8) | data[pos + 3]
        end = pos + 2 + length
        if length < 2 or end > n:
            return None
        if marker == _SOS:
            if size is None:
                return None
            w, h = size
            if max(1, w) * max(1, h) > max_pixels:
                return None  # Pillow's bomb check words the error
            exif = _exif(exif_block)
            if exif_block is not None and not jfif_dpi and _dpi_fails(exif):
                return None  # Pillow's opener fails reading it: let it say so
            if xmp and _ORIENTATION not in exif:  # Pillow reads it from XMP then
                m = _XMP_ORIENTATION.search(xmp)
                if m is not None:
                    exif[_ORIENTATION] = int(m[2])
            return Headers(w, h, exif, xmp, end)
        body = data[pos + 4:end]
        if marker in _SOF:
            if size is not None or len(body) < 6 or body[0] != 8 or body[5] not in (1, 3, 4):
                return None
            h, w = (body[1] << 8) | body[2], (body[3] << 8) | body[4]
            if not w or not h:
                return None
            size = (w, h)
        elif marker not in _SKIPPED:
            return None
        elif marker == 0xE1 and body.startswith(b"Exif\x00\x00"):
            if exif_block is not None:
                return None  # Pillow joins them
            exif_block = body
        elif marker == 0xE1 and body.startswith(_XMP):
            xmp = body[len(_XMP):]  # the last one, as Pillow keeps
        elif marker == 0xE0 and body.startswith(b"JFIF") and len(body) >= 12 and body[7] in (1, 2):
            jfif_dpi = True  # Pillow takes the resolution from here, not from EXIF
        elif not _segment_ok(marker, body):
            return None
        pos = end


def _segment_ok(marker: int, body: bytes) -> bool:
    """Whether Pillow reads this segment without failing, and it holds nothing the probe
    needs Pillow for."""
    if marker == 0xDB:  # quantization tables: Pillow refuses a short one
        while body:
            table = 1 + (64 if body[0] < 16 else 128)
            if len(body) < table:
                return False
            body = body[table:]
        return True
    if marker == 0xE0:
        return not body.startswith(b"JFIF") or len(body) >= 7
    if marker == 0xEE:
        return not body.startswith(b"Adobe") or len(body) >= 7
    if marker == 0xE2:
        if body.startswith(b"MPF\x00"):
            return False  # maybe an MPO: Pillow's opener decides
        return not body.startswith(b"ICC_PROFILE\x00") or len(body) >= 14
    if marker == 0xED:
        return not body.startswith(b"Photoshop 3.0\x00")
    return True


def _dpi_fails(exif: Exif) -> bool:
    """Whether Pillow's JPEG opener, reading the resolution from EXIF, meets an error it
    does not catch (an XResolution of one byte or one digit: an IndexError), which makes
    the file one Pillow cannot open. The same steps, on the same values."""
    try:
        unit, x = exif.get_tag(_RESOLUTION_UNIT), exif.get_tag(_X_RESOLUTION)
        try:
            dpi = float(x[0]) / x[1]
        except TypeError:
            dpi = x
        if math.isnan(dpi):
            raise ValueError
        if unit == 3:
            dpi *= 2.54
    except (struct.error, KeyError, SyntaxError, TypeError, ValueError, ZeroDivisionError):
        return False  # caught by Pillow: the resolution is just unknown
    except Exception:
        return True
    return False


def _exif(block: bytes | None) -> Exif:
    if block is None:
        return Exif({}, set(), {})
    tiff = block[6:]
    if tiff.startswith(b"Exif\x00\x00"):  # written twice by some tools; Pillow strips both
        tiff = tiff[6:]
    if not tiff:
        return Exif({}, set(), {})
    endian, first = _first_directory(tiff)
    main, present = _ifd(tiff, first, endian, _IFD0_TAGS, None)
    subs: dict[int, dict[int, Any]] = {}
    for pointer, wanted in ((_EXIF_IFD, _EXIF_TAGS), (_GPS_IFD, _GPS_TAGS)):
        if pointer in main:
            offset = main[pointer]
            if not isinstance(offset, int) or offset < 0:
                raise Unreadable  # Pillow fails (or finds nothing) seeking there
            subs[pointer] = _ifd(tiff, offset, endian, wanted, pointer)[0]
    return Exif(main, present, subs)


def _first_directory(tiff: bytes) -> tuple[str, int]:
    """The byte order of the TIFF structure ``tiff`` and where its first directory is."""
    if tiff[:4] == b"II*\x00":
        endian = "<"
    elif tiff[:4] == b"MM\x00*":
        endian = ">"
    else:
        raise Unreadable
    return endian, struct.unpack_from(endian + "L", tiff, 4)[0]


def _ifd(tiff: bytes, offset: int, endian: str, wanted: frozenset[int], group: int | None
         ) -> tuple[dict[int, Any], set[int]]:
    """(the wanted tags' values, every tag held) of the directory at ``offset``, skipping
    what Pillow skips: unknown types, empty values and, once the values read so far add up
    to more than the whole block, the rest. A value past the end of the block makes Pillow
    stop reading the directory: that one is left to it."""
    n = len(tiff)
    if offset < 0 or offset + 2 > n:
        raise Unreadable
    (count,) = struct.unpack_from(endian + "H", tiff, offset)
    if offset + 2 + 12 * count + 4 > n:
        raise Unreadable  # Pillow keeps the entries it could read: leave that to it
    entry = struct.Struct(endian + "HHL").unpack_from
    pointer = struct.Struct(endian + "L").unpack_from
    single = _SINGLE[group]
    values: dict[int, Any] = {}
    present: set[int] = set()
    total = 0
    for at in range(offset + 2, offset + 2 + 12 * count, 12):
        tag, typ, cnt = entry(tiff, at)
        if tag in present:
            continue  # a repeated tag: Pillow keeps the first it could read
        unit = _UNIT.get(typ)
        if unit is None:
            continue
        size = cnt * unit
        if size > 4:
            (where,) = pointer(tiff, at + 8)
            total += size
            if total > n:
                continue  # Pillow skips it
            if where + size > n:
                raise Unreadable  # Pillow stops reading the directory there
            raw = tiff[where:where + size]
        else:
            raw = tiff[at + 8:at + 8 + size]
        if not raw:
            continue
        present.add(tag)
        if tag in wanted:
            values[tag] = _value(typ, raw, endian, tag in single)
    return values, present


def _value(typ: int, raw: bytes, endian: str, single: bool) -> Any:
    if typ in (1, 7):  # BYTE, UNDEFINED
        return raw
    if typ == 2:  # ASCII
        return (raw[:-1] if raw.endswith(b"\x00") else raw).decode("latin-1")
    if typ in _RATIONALS:
        ints = struct.unpack(f"{endian}{len(raw) // 4}{_RATIONALS[typ]}", raw)
        values: tuple[Any, ...] = tuple(a / b if b else math.nan
                                        for a, b in zip(ints[::2], ints[1::2], strict=True))
    else:
        values = struct.unpack(f"{endian}{len(raw) // _UNIT[typ]}{_NUMBERS[typ]}", raw)
    return values[0] if single or len(values) == 1 else values
