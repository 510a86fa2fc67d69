"""The largest JPEG preview a camera raw carries, and where its EXIF lies.

A raw file's own picture is the sensor's data, which nothing here decodes; what a
viewer shows is the JPEG the camera rendered and stored beside it. Where it sits:

- Nikon NEF, Pentax PEF: IFD0 is a 160x120 RGB picture; a SubIFD holds the preview as
  ``JPEGInterchangeFormat`` / ``JPEGInterchangeFormatLength`` (0x0201 / 0x0202).
- Sony ARW: the same pair in IFD0 (a 1616x1080 preview).
- Canon CR2: IFD0 is the full-size preview itself, one strip of JPEG (compression 6).
- DNG (Adobe's, and phones' "ProRAW"): IFD0 is a 256x171 RGB picture; a SubIFD may hold
  a larger preview as a strip of JPEG (compression 7), beside the raw data, which is a
  *lossless* JPEG of the sensor's mosaic (SOF3) and is passed over.

- Panasonic RW2 (a TIFF whose magic number is 0x55, not 42): IFD0's ``JpgFromRaw``
  (0x002E), a JPEG as large as the picture, with the camera's EXIF inside.
- Olympus ORF (magic "RO" or "RS"): the preview sits in the maker note (EXIF 0x927C),
  in its ``CameraSettings`` directory (0x2020) as ``PreviewImageStart`` /
  ``PreviewImageLength`` (0x0101 / 0x0102), offsets counted from the maker note.

So every IFD (IFD0's chain and the SubIFDs, 0x014A) is read for those shapes, each
candidate's JPEG frame header gives its size, and the largest baseline or progressive
one wins if it is larger than the picture IFD0 holds (a raw Pillow does not open has
none). Only the directories and the first bytes of each candidate are read, not the file.

Two raws are not TIFF at all:

- Fujifilm RAF: a header ("FUJIFILMCCD-RAW") giving the offset and length of a JPEG
  (bytes 84-91, big-endian), the camera's own rendering with its EXIF.
- Canon CR3: an ISO base media file (brand "crx "). Canon's ``uuid`` box
  85c0b687-820f-11e0-8111-f4ce462b6a48 inside ``moov`` holds the EXIF as three TIFF
  structures (CMT1 IFD0, CMT2 the EXIF directory, CMT4 the GPS one) and a 160x120
  thumbnail (THMB); the top-level ``uuid`` box eaf42b5e-1c98-4b88-b9fb-b7dc406e4d16
  holds a 1620x1080 preview (PRVW). Each is a small header and then a JPEG.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

MAX_IFDS = 64  # a raw has a handful; a loop of offsets or a hostile file stops here
MAX_TAGS = 1000
_SOF_PICTURE = {0xC0, 0xC1, 0xC2}  # baseline, extended, progressive: what Pillow decodes
_SOF_OTHER = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # lossless, ...


# the TIFF headers of raws: little- or big-endian TIFF, Olympus ORF, Panasonic RW2
_TIFF_ORDER = {b"II*\x00": "<", b"MM\x00*": ">", b"IIRO": "<", b"IIRS": "<", b"MMOR": ">",
               b"IIU\x00": "<"}
_RAF = b"FUJIFILMCCD-RAW"
_CANON_META = bytes.fromhex("85c0b687820f11e08111f4ce462b6a48")  # CR3's CMT1..4, THMB
_CANON_PREVIEW = bytes.fromhex("eaf42b5e1c984b88b9fbb7dc406e4d16")  # CR3's PRVW
MAX_BOXES = 256
# where a TIFF raw's EXIF directories and their values lie: its first megabytes (the
# preview and the sensor data come after them)
RAW_HEAD = 4 << 20
EXIF_MAX = 1 << 20  # an EXIF block read from elsewhere in a raw: more than any holds
_SOI = b"\xff\xd8\xff"


@dataclass(frozen=True)
class Preview:
    offset: int  # where the JPEG starts in the file
    length: int
    width: int
    height: int
    # the raw's (cameras do not turn the preview itself); 0: the JPEG's own EXIF says
    # (a RAF's preview is the camera's whole JPEG)
    orientation: int


def raw_preview(f: BinaryIO, size: int) -> Preview | None:
    """The largest JPEG preview of the camera raw ``f`` (``size`` bytes long) when it is
    larger than the picture Pillow finds in it; None for anything else."""
    head = f.read(16)
    if head.startswith(_RAF):
        return _raf(f, size)
    if head[4:12] == b"ftypcrx ":
        return _cr3(f, size)
    return _tiff(f, size, head)


def exif_tiffs(f: BinaryIO, size: int) -> dict[str, bytes]:
    """The EXIF of a camera raw as the TIFF structures EXIF readers take (Pillow's
    ``Exif.load``, the probe's): "IFD0" a whole EXIF block, whose EXIF and GPS
    directories IFD0 points at; "Exif" and "GPS", where a raw keeps those apart (CR3),
    structures whose first directory is that one. Empty for a file that is not a raw of
    these shapes."""
    f.seek(0)
    head = f.read(16)
    out: dict[str, bytes] = {}
    if head.startswith(_RAF):  # the camera's JPEG: its EXIF segment
        where = raf_jpeg(f, size)
        if where is not None:
            f.seek(where[0])
            tiff = _exif_segment(f.read(min(where[1], EXIF_MAX)))
            if tiff:
                out["IFD0"] = tiff
    elif head[4:12] == b"ftypcrx ":
        boxes = cr3_boxes(f, size)
        for name, box in ((b"CMT1", "IFD0"), (b"CMT2", "Exif"), (b"CMT4", "GPS")):
            if name in boxes:
                f.seek(boxes[name][0])
                out[box] = f.read(min(boxes[name][1], EXIF_MAX))
    elif head[:4] in _TIFF_ORDER:  # TIFF (ORF's and RW2's magic numbers made TIFF's)
        f.seek(0)
        tiff = f.read(min(size, RAW_HEAD))
        out["IFD0"] = (b"II*\x00" if _TIFF_ORDER[head[:4]] == "<" else b"MM\x00*") + tiff[4:]
    return out


def _exif_segment(jpeg: bytes) -> bytes | None:
    """The TIFF structure of the first EXIF segment before the first scan of ``jpeg``."""
    if jpeg[:3] != _SOI:
        return None
    for marker, at, end in _segments(jpeg):
        if marker == 0xE1 and jpeg[at + 4:at + 10] == b"Exif\x00\x00":
            return jpeg[at + 10:end]
    return None


def raf_jpeg(f: BinaryIO, size: int) -> tuple[int, int] | None:
    """(offset, length) of the JPEG a Fujifilm RAF carries, if it lies inside the file."""
    f.seek(84)
    raw = f.read(8)
    if len(raw) < 8:
        return None
    offset, length = struct.unpack(">II", raw)
    return (offset, length) if 0 < offset and length > 0 and offset + length <= size else None


def cr3_boxes(f: BinaryIO, size: int) -> dict[bytes, tuple[int, int]]:
    """Where each of a CR3's Canon boxes (CMT1-CMT4, THMB, PRVW) holds its content:
    name -> (offset, length), boxes that run past the end of the file left out."""
    found: dict[bytes, tuple[int, int]] = {}
    budget = [MAX_BOXES]

    def boxes(start: int, end: int) -> list[tuple[bytes, int, int]]:
        out, at = [], start
        while at + 8 <= end and budget[0] > 0:
            budget[0] -= 1
            f.seek(at)
            raw = f.read(16)
            if len(raw) < 8:
                break
            length, kind = struct.unpack(">I4s", raw[:8])
            body = at + 8
            if length == 1 and len(raw) == 16:  # a 64-bit size follows the type
                length, body = struct.unpack(">Q", raw[8:16])[0], at + 16
            elif length == 0:  # to the end of the enclosing box
                length = end - at
            if length < body - at or at + length > end:
                break
            out.append((kind, body, at + length))
            at += length
        return out

    def uuid_of(body: int, end: int) -> bytes:
        f.seek(body)
        return f.read(16) if end - body >= 16 else b""

    for kind, body, end in boxes(0, size):
        if kind == b"moov":
            for inner, ibody, iend in boxes(body, end):
                if inner == b"uuid" and uuid_of(ibody, iend) == _CANON_META:
                    for name, nbody, nend in boxes(ibody + 16, iend):
                        found.setdefault(name, (nbody, nend - nbody))
        elif kind == b"uuid" and uuid_of(body, end) == _CANON_PREVIEW:
            # 8 bytes Canon does not explain, then the PRVW box
            for name, nbody, nend in boxes(body + 24, end):
                found.setdefault(name, (nbody, nend - nbody))
    return found


def _raf(f: BinaryIO, size: int) -> Preview | None:
    where = raf_jpeg(f, size)
    found = _jpeg_size(f, *where, size) if where else None
    return Preview(*where, *found, orientation=0) if where and found else None


def _cr3(f: BinaryIO, size: int) -> Preview | None:
    boxes = cr3_boxes(f, size)
    orientation = 1
    if b"CMT1" in boxes:
        offset, length = boxes[b"CMT1"]
        f.seek(offset)
        tiff = f.read(min(length, 65536))
        order = _TIFF_ORDER.get(tiff[:4])
        if order is not None and len(tiff) >= 8:
            tags, _ = _ifd(_Within(tiff), struct.unpack(order + "I", tiff[4:8])[0], order,
                           len(tiff))
            orientation = _first(tags, 0x0112) or 1
    best: tuple[int, int, int, int] | None = None
    for name in (b"PRVW", b"THMB"):  # each a header of a few numbers, then its JPEG
        if name not in boxes:
            continue
        offset, length = boxes[name]
        f.seek(offset)
        at = f.read(min(length, 64)).find(_SOI)
        if at >= 0:
            best = _larger(best, f, offset + at, length - at, size)
    return Preview(*best, orientation=orientation) if best else None


def _tiff(f: BinaryIO, size: int, head: bytes) -> Preview | None:
    order = _TIFF_ORDER.get(head[:4])
    if order is None or len(head) < 8:
        return None
    opens = head[:4] in (b"II*\x00", b"MM\x00*")  # Pillow opens it: IFD0's picture counts
    todo = [struct.unpack(order + "I", head[4:8])[0]]
    seen: set[int] = set()
    best: tuple[int, int, int, int] | None = None  # offset, length, width, height
    own, orientation = 0, 1  # IFD0's picture, in pixels, and its orientation
    while todo and len(seen) < MAX_IFDS:
        at = todo.pop(0)
        if at in seen or not 8 <= at < size:
            continue
        seen.add(at)
        tags, following = _ifd(f, at, order, size)
        if following:
            todo.append(following)
        todo.extend(tags.get(0x014A, ()))
        if len(seen) == 1:
            orientation = _first(tags, 0x0112) or 1
            if opens and _first(tags, 0x0103) != 6:
                # IFD0's picture, unless it is old-style JPEG (CR2's preview), which is
                # both a candidate and a compression Pillow does not decode
                own = _first(tags, 0x0100) * _first(tags, 0x0101)
            if 0x8769 in tags and head[:4] in (b"IIRO", b"IIRS", b"MMOR"):
                for offset, length in _olympus_preview(f, _first(tags, 0x8769), order, size):
                    best = _larger(best, f, offset, length, size)
        for offset, length in _candidates(tags):
            best = _larger(best, f, offset, length, size)
    if best is None or best[2] * best[3] <= own:
        return None
    return Preview(*best, orientation=orientation)


def _olympus_preview(f: BinaryIO, exif_at: int, order: str, size: int
                     ) -> list[tuple[int, int]]:
    """The preview an ORF's maker note names: its EXIF directory's 0x927C, a header
    ("OLYMPUS\\0" and a byte order) and a directory whose CameraSettings (0x2020) gives
    the preview's start and length, all counted from the maker note's start."""
    exif, _ = _ifd(f, exif_at, order, size, blobs=frozenset({0x927C}))
    if 0x927C not in exif:
        return []
    note, length = exif[0x927C]
    f.seek(note)
    header = f.read(16)
    if not header.startswith(b"OLYMPUS\x00") or length < 16:
        return []
    inner = {b"II": "<", b"MM": ">"}.get(header[8:10], order)
    tags, _ = _ifd(_Shifted(f, note), 12, inner, length)  # the directory follows the header
    settings = _first(tags, 0x2020)
    if not settings:
        return []
    cs, _ = _ifd(_Shifted(f, note), settings, inner, length)
    start, count = _first(cs, 0x0101), _first(cs, 0x0102)
    return [(note + start, count)] if start and count else []


class _Within:
    """Bytes read as the file ``_ifd`` walks."""

    def __init__(self, data: bytes) -> None:
        self._data, self._at = data, 0

    def seek(self, at: int) -> None:
        self._at = at

    def tell(self) -> int:
        return self._at

    def read(self, n: int) -> bytes:
        out = self._data[self._at:self._at + n]
        self._at += len(out)
        return out


class _Shifted:
    """A file read from ``base`` on: what a maker note's offsets count from."""

    def __init__(self, f: BinaryIO, base: int) -> None:
        self._f, self._base = f, base

    def seek(self, at: int) -> None:
        self._f.seek(self._base + at)

    def tell(self) -> int:
        return self._f.tell() - self._base

    def read(self, n: int) -> bytes:
        return self._f.read(n)


def _first(tags: dict[int, list[int]], tag: int) -> int:
    values = tags.get(tag)
    return values[0] if values else 0


def _candidates(tags: dict[int, list[int]]) -> list[tuple[int, int]]:
    out = []
    if 0x0201 in tags and 0x0202 in tags:
        out.append((_first(tags, 0x0201), _first(tags, 0x0202)))
    if 0x002E in tags:  # RW2's JpgFromRaw: (offset, length)
        out.append((tags[0x002E][0], tags[0x002E][1]))
    strips, counts = tags.get(0x0111), tags.get(0x0117)
    if _first(tags, 0x0103) in (6, 7) and strips and counts and len(strips) == len(counts) == 1:
        out.append((strips[0], counts[0]))
    return out


_BLOBS = frozenset({0x002E})  # RW2's JpgFromRaw
_UNIT = {1: 1, 2: 1, 3: 2, 4: 4, 5: 8, 6: 1, 7: 1, 8: 2, 9: 4, 10: 8, 11: 4, 12: 8, 13: 4}


def _ifd(f: Any, at: int, order: str, size: int, blobs: frozenset[int] = _BLOBS
         ) -> tuple[dict[int, list[int]], int]:
    """The SHORT and LONG values of one directory's tags (others are not needed), the
    [offset, length] of the values of the ``blobs`` tags, and the offset of the next
    directory (0 for none)."""
    f.seek(at)
    raw = f.read(2)
    if len(raw) < 2:
        return {}, 0
    n = struct.unpack(order + "H", raw)[0]
    if not 0 < n <= MAX_TAGS:
        return {}, 0
    body = f.read(12 * n + 4)
    if len(body) < 12 * n:
        return {}, 0
    tags: dict[int, list[int]] = {}
    for i in range(n):
        tag, typ, count = struct.unpack_from(order + "HHI", body, 12 * i)
        if tag in blobs:  # only ever [offset, length]
            if typ in _UNIT and count * _UNIT[typ] > 4:
                (off,) = struct.unpack_from(order + "I", body, 12 * i + 8)
                if off + count * _UNIT[typ] <= size:
                    tags[tag] = [off, count * _UNIT[typ]]
            continue
        if typ not in (3, 4, 13) or not 0 < count <= 64:  # SHORT, LONG, IFD
            continue
        width = 2 if typ == 3 else 4
        value = body[12 * i + 8: 12 * i + 12]
        if width * count > 4:
            (off,) = struct.unpack(order + "I", value)
            if off + width * count > size:
                continue
            here = f.tell()
            f.seek(off)
            value = f.read(width * count)
            f.seek(here)
        fmt = order + ("H" if typ == 3 else "I") * count
        tags[tag] = list(struct.unpack(fmt, value[: width * count]))
    tail = body[12 * n: 12 * n + 4]
    return tags, struct.unpack(order + "I", tail)[0] if len(tail) == 4 else 0


def _jpeg_size(f: BinaryIO, offset: int, length: int, size: int) -> tuple[int, int] | None:
    """(width, height) from the frame header of the JPEG at ``offset``, if it is one
    Pillow decodes (baseline or progressive) and lies inside the file."""
    if length < 4 or offset + length > size:
        return None
    f.seek(offset)
    data = f.read(min(length, 65536))
    if data[:2] != b"\xff\xd8":
        return None
    for marker, at, _end in _segments(data):
        if marker in _SOF_PICTURE and at + 9 <= len(data):
            height, width = struct.unpack(">HH", data[at + 5: at + 9])
            return (width, height) if width and height else None
        if marker in _SOF_OTHER:  # lossless (a DNG's sensor data)
            return None
    return None


def _segments(jpeg: bytes) -> Iterator[tuple[int, int, int]]:
    """(marker, start, end) of each whole segment of ``jpeg`` before its first scan:
    ``start`` at the segment's 0xFF, ``end`` after its data (past the end of ``jpeg``
    for a segment it cuts). Stops at the scan, at a byte that is not a marker and at the
    end of ``jpeg``."""
    at = 2
    while at + 4 <= len(jpeg) and jpeg[at] == 0xFF:
        marker = jpeg[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker == 0xDA:  # the first scan
            return
        end = at + 2 + struct.unpack(">H", jpeg[at + 2:at + 4])[0]
        yield marker, at, end
        at = end


def _larger(best: tuple[int, int, int, int] | None, f: BinaryIO, offset: int, length: int,
            size: int) -> tuple[int, int, int, int] | None:
    """``best`` (offset, length, width, height) or the JPEG at ``offset``, whichever has
    more pixels, among those Pillow decodes."""
    found = _jpeg_size(f, offset, length, size)
    if found and (best is None or found[0] * found[1] > best[2] * best[3]):
        return (offset, length, *found)
    return best
