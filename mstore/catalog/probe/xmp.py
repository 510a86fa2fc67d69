"""An XMP packet's facts: the words people gave a picture, when it was taken, where, and
whether a video is appended to it (a motion photo).

One parse of the packet (an image's embedded one, or a whole ``.xmp`` sidecar file)
gives all three. Words are described in ``captions``. The rest is what photo managers
write when a person dates or places a picture that says nothing of it itself (a scan, a
picture from a messenger) — digiKam, Lightroom, darktable, Photoshop's File Info:

- capture time: ``exif:DateTimeOriginal`` and ``photoshop:DateCreated`` (when the
  picture was taken), else ``exif:DateTimeDigitized`` and ``xmp:CreateDate`` (when it was
  made digital: a scan's). XMP dates are ISO 8601, ``YYYY-MM-DD[Thh:mm[:ss[.s]][TZD]]``;
  a date with its day and no time is kept as that day (``YYYY-MM-DD``); a year or a
  month alone is not a capture time the catalog keeps (it orders by day).
- place: ``exif:GPSLatitude`` / ``exif:GPSLongitude`` as XMP writes them,
  ``"DDD,MM,SSk"`` or ``"DDD,MM.mmk"`` (k is N, S, E or W), and ``exif:GPSAltitude`` (a
  rational) with ``exif:GPSAltitudeRef`` (1: below sea level).

``xmp:ModifyDate`` and ``xmp:MetadataDate`` are never a capture time: every edit moves them.

A motion photo (Android's camera apps: ``PXL_…MP.jpg``, ``MVIMG_….jpg``, Samsung's) is a
picture with an MP4 video appended. Its packet says where the video starts, counted
from the end of the file: Motion Photo 1.0 with ``GCamera:MotionPhoto="1"`` and a
``Container:Directory`` whose ``Container:Item``s give each appended file's
``Item:Length`` (the video is the item whose ``Item:Semantic`` is ``MotionPhoto``; items
after it are counted too), the older format with ``GCamera:MicroVideo="1"`` and
``GCamera:MicroVideoOffset``. The prober checks that an MP4 box starts there.
Never raises for bad content: a packet that is not well-formed XML gives nothing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import NamedTuple

from mstore.catalog.probe import captions, format_taken

MAX_XMP = 1 << 20  # bytes of a packet or a sidecar file read at most

_RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_DC = "{http://purl.org/dc/elements/1.1/}"
_PS = "{http://ns.adobe.com/photoshop/1.0/}"
_IPTC = "{http://iptc.org/std/Iptc4xmpCore/1.0/xmlns/}"
_LR = "{http://ns.adobe.com/lightroom/1.0/}"
_EXIF = "{http://ns.adobe.com/exif/1.0/}"
_XMP = "{http://ns.adobe.com/xap/1.0/}"
_TITLES = (_DC + "title", _PS + "Headline")
_DESCRIPTIONS = (_DC + "description", _IPTC + "AltTextAccessibility",
                 _IPTC + "ExtDescrAccessibility")
_KEYWORDS = (_DC + "subject", _LR + "hierarchicalSubject")
# capture time, best first: when the picture was taken, then when it was made digital
TAKEN_TAGS = (_EXIF + "DateTimeOriginal", _PS + "DateCreated")
DIGITIZED_TAGS = (_EXIF + "DateTimeDigitized", _XMP + "CreateDate")
_LAT, _LON = _EXIF + "GPSLatitude", _EXIF + "GPSLongitude"
_ALT, _ALT_REF = _EXIF + "GPSAltitude", _EXIF + "GPSAltitudeRef"
_CAMERA = "{http://ns.google.com/photos/1.0/camera/}"
_MOTION, _MICRO, _MICRO_OFFSET = (_CAMERA + "MotionPhoto", _CAMERA + "MicroVideo",
                                  _CAMERA + "MicroVideoOffset")
_CONTAINER_ITEM = "{http://ns.google.com/photos/1.0/container/}Item"
_ITEM = "{http://ns.google.com/photos/1.0/container/item/}"
_WANTED = frozenset(_TITLES + _DESCRIPTIONS + _KEYWORDS + TAKEN_TAGS + DIGITIZED_TAGS
                    + (_LAT, _LON, _ALT, _ALT_REF, _MOTION, _MICRO, _MICRO_OFFSET))

_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?"
                   r"\s*(Z|[+-]\d{2}:?\d{2})?)?")
_DMS = re.compile(r"(\d{1,3})(?:,(\d{1,2}(?:\.\d+)?))?(?:,(\d{1,2}(?:\.\d+)?))?([NSEW])",
                  re.IGNORECASE)


class Facts(NamedTuple):
    words: captions.Words = captions.Words()
    taken: str | None = None  # as Meta.taken: when the picture was taken
    digitized: str | None = None  # ... when it was made digital (scanned), as Meta.taken
    gps: tuple[float, float, float | None] | None = None  # latitude, longitude, altitude
    video_from_end: int | None = None  # a motion photo's video starts this far from the end


NOTHING = Facts()


def read(data: bytes | str | None) -> Facts:
    """The facts of an XMP packet (the packet alone, or a whole sidecar file)."""
    found = _properties(data)
    if not found:
        return NOTHING
    return Facts(_words(found), _first_date(found, TAKEN_TAGS),
                 _first_date(found, DIGITIZED_TAGS), _place(found), _video_from_end(found))


def _properties(data: bytes | str | None) -> dict[str, list[str]]:
    """The wanted properties' values, by expanded name ({namespace}name)."""
    if not data or len(data) > MAX_XMP:
        return {}
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    start = data.find(b"<x:xmpmeta")
    if start < 0:
        start = data.find(b"<rdf:RDF")
    if start < 0:
        return {}
    end_tag = b"</x:xmpmeta>" if data.startswith(b"<x:xmpmeta", start) else b"</rdf:RDF>"
    end = data.find(end_tag, start)
    if end < 0:
        return {}
    try:
        root = ET.fromstring(data[start:end + len(end_tag)])
    except (ET.ParseError, ValueError):
        return {}
    found: dict[str, list[str]] = {}
    for el in root.iter():
        if el.tag == _RDF + "Description":
            for name, value in el.attrib.items():  # simple properties written as attributes
                if name in _WANTED:
                    found.setdefault(name, []).append(value)
        elif el.tag in _WANTED:
            found.setdefault(el.tag, []).extend(_values(el))
        elif el.tag == _CONTAINER_ITEM:  # in directory order
            found.setdefault(_CONTAINER_ITEM, []).append(
                f"{_field(el, 'Semantic')}:{_field(el, 'Length')}")
    return found


def _field(item: ET.Element, name: str) -> str:
    """A container item's field: an attribute, as writers mostly put it, or an element."""
    value = item.get(_ITEM + name)
    if value is None:
        child = item.find(_ITEM + name)
        value = child.text if child is not None else None
    return (value or "").strip()


def _values(el: ET.Element) -> list[str]:
    """An XMP property's values: the ``rdf:li`` of its Alt/Bag/Seq (an Alt's
    ``x-default`` first), else its own text."""
    items = [li for li in el.iter(_RDF + "li")]
    if not items:
        return [el.text] if el.text and el.text.strip() else []
    items.sort(key=lambda li: li.get(_XML_LANG) != "x-default")
    return [li.text for li in items if li.text]


def _words(found: dict[str, list[str]]) -> captions.Words:
    clean, keyword = captions.clean, captions.keyword
    title = next((t for tag in _TITLES for v in found.get(tag, ()) if (t := clean(v))), None)
    description = next((t for tag in _DESCRIPTIONS for v in found.get(tag, ())
                        if (t := clean(v))), None)
    keywords = [k for v in found.get(_DC + "subject", ()) if (k := keyword(v))]
    keywords += [k for v in found.get(_LR + "hierarchicalSubject", ())
                 if (k := keyword(v.rsplit("|", 1)[-1]))]
    return captions.merge(captions.Words(title, description, tuple(keywords)))


def _first_date(found: dict[str, list[str]], tags: tuple[str, ...]) -> str | None:
    return next((t for tag in tags for v in found.get(tag, ()) if (t := xmp_date(v))), None)


def xmp_date(text: str) -> str | None:
    """An XMP date as ``Meta.taken``: ``"2019-05-12T13:45:01.25+02:00"`` ->
    ``"2019-05-12T13:45:01+02:00"``, ``"2019-05-12"`` -> ``"2019-05-12"``; None for a
    year or month alone, an impossible date and anything else."""
    m = _DATE.fullmatch(text.strip())
    if m is None:
        return None
    y, mo, d = int(m[1]), int(m[2]), int(m[3])
    if m[4] is None:
        full = format_taken((y, mo, d, 0, 0, 0))
        return full[:10] if full is not None else None
    zone = m[7]
    offset = None
    if zone == "Z":
        offset = ("+", 0, 0)
    elif zone:
        offset = (zone[0], int(zone[1:3]), int(zone[-2:]))
    return format_taken((y, mo, d, int(m[4]), int(m[5]), int(m[6] or 0)), offset)


def _video_from_end(found: dict[str, list[str]]) -> int | None:
    """Where a motion photo's video starts, in bytes before the end of the file."""
    def flag(tag: str) -> bool:
        return any(v.strip() == "1" for v in found.get(tag, ()))

    if flag(_MOTION):
        items = [item.partition(":") for item in found.get(_CONTAINER_ITEM, ())]
        at = next((i for i, (semantic, _, _) in enumerate(items) if semantic == "MotionPhoto"),
                  None)
        if at is None:
            return None
        lengths = [length.strip() for _, _, length in items[at:]]
        if all(n.isdigit() for n in lengths):
            total = sum(map(int, lengths))
            return total or None
        return None
    if flag(_MICRO):
        offset = (found.get(_MICRO_OFFSET) or [""])[0].strip()
        return int(offset) or None if offset.isdigit() else None
    return None


def video_starts(box: bytes, back: int) -> bool:
    """Whether ``box``, the 8 bytes ``back`` bytes before a file's end, begin an MP4 of at
    most that length (its ``ftyp`` box): where a motion photo's video is said to start.
    The prober checks it, and the UI again before it serves the video."""
    return (len(box) >= 8 and box[4:8] == b"ftyp"
            and 8 <= int.from_bytes(box[:4], "big") <= back)


def _place(found: dict[str, list[str]]) -> tuple[float, float, float | None] | None:
    lat = _coordinate(found.get(_LAT), "N", "S", 90.0)
    lon = _coordinate(found.get(_LON), "E", "W", 180.0)
    if lat is None or lon is None or (lat == 0.0 and lon == 0.0):
        return None  # 0,0 is what receivers without a fix write
    alt = _rational((found.get(_ALT) or [""])[0])
    if alt is not None and abs(alt) > 100_000:
        alt = None
    if alt is not None and (found.get(_ALT_REF) or [""])[0].strip() == "1":
        alt = -alt
    return round(lat, 7), round(lon, 7), None if alt is None else round(alt, 3)


def _coordinate(values: list[str] | None, pos: str, neg: str, limit: float) -> float | None:
    """``"48,51.4996N"`` / ``"48,51,29.97N"`` (XMP's GPSCoordinate) or a signed decimal."""
    if not values:
        return None
    text = values[0].strip().replace(" ", "")
    m = _DMS.fullmatch(text)
    if m is not None:
        minutes, seconds = float(m[2] or 0), float(m[3] or 0)
        if minutes >= 60 or seconds >= 60 or (m[2] and "." in m[2] and m[3]):
            return None
        ref = m[4].upper()
        if ref not in (pos, neg):
            return None  # a latitude given as east, say
        deg = int(m[1]) + minutes / 60 + seconds / 3600
        deg = -deg if ref == neg else deg
    else:
        try:
            deg = float(text)
        except ValueError:
            return None
    return deg if abs(deg) <= limit and deg == deg else None


def _rational(text: str) -> float | None:
    """``"1234/10"`` or ``"123.4"`` as a finite float."""
    num, _, den = text.strip().partition("/")
    try:
        value = float(num) / float(den) if den else float(num)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None
    return value if value == value and abs(value) != float("inf") else None
