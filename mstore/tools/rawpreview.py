"""The largest JPEG preview a camera raw built on TIFF carries.

A raw file's own picture is the sensor's data, which nothing here decodes; what a
viewer shows is the JPEG the camera rendered and stored beside it. Where it sits:

- Nikon NEF, Pentax PEF: IFD0 is a 160x120 RGB picture; a SubIFD holds the preview as
  ``JPEGInterchangeFormat`` / ``JPEGInterchangeFormatLength`` (0x0201 / 0x0202).
- Sony ARW: the same pair in IFD0 (a 1616x1080 preview).
- Canon CR2: IFD0 is the full-size preview itself, one strip of JPEG (compression 6).
- DNG (Adobe's, and phones' "ProRAW"): IFD0 is a 256x171 RGB picture; a SubIFD may hold
  a larger preview as a strip of JPEG (compression 7), beside the raw data, which is a
  *lossless* JPEG of the sensor's mosaic (SOF3) and is passed over.

So every IFD (IFD0's chain and the SubIFDs, 0x014A) is read for those two shapes, each
candidate's JPEG frame header gives its size, and the largest baseline or progressive
one wins if it is larger than the picture IFD0 holds. Only the directories and the
first bytes of each candidate are read, not the file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import BinaryIO

MAX_IFDS = 64  # a raw has a handful; a loop of offsets or a hostile file stops here
MAX_TAGS = 1000
_SOF_PICTURE = {0xC0, 0xC1, 0xC2}  # baseline, extended, progressive: what Pillow decodes
_SOF_OTHER = {0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}  # lossless, ...


@dataclass(frozen=True)
class Preview:
    offset: int  # where the JPEG starts in the file
    length: int
    width: int
    height: int
    orientation: int  # the raw's (IFD0's): cameras do not turn the preview itself


def raw_preview(f: BinaryIO, size: int) -> Preview | None:
    """The largest JPEG preview of the TIFF-structured file ``f`` (``size`` bytes long)
    when it is larger than IFD0's own picture; None for anything else."""
    head = f.read(8)
    order = {b"II*\x00": "<", b"MM\x00*": ">"}.get(head[:4])
    if order is None or len(head) < 8:
        return None
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
            if _first(tags, 0x0103) != 6:
                # IFD0's picture, unless it is old-style JPEG (CR2's preview), which is
                # both a candidate and a compression Pillow does not decode
                own = _first(tags, 0x0100) * _first(tags, 0x0101)
        for offset, length in _candidates(tags):
            found = _jpeg_size(f, offset, length, size)
            if found and (best is None or found[0] * found[1] > best[2] * best[3]):
                best = (offset, length, *found)
    if best is None or best[2] * best[3] <= own:
        return None
    return Preview(*best, orientation=orientation)


def _first(tags: dict[int, list[int]], tag: int) -> int:
    values = tags.get(tag)
    return values[0] if values else 0


def _candidates(tags: dict[int, list[int]]) -> list[tuple[int, int]]:
    out = []
    if 0x0201 in tags and 0x0202 in tags:
        out.append((_first(tags, 0x0201), _first(tags, 0x0202)))
    strips, counts = tags.get(0x0111), tags.get(0x0117)
    if _first(tags, 0x0103) in (6, 7) and strips and counts and len(strips) == len(counts) == 1:
        out.append((strips[0], counts[0]))
    return out


def _ifd(f: BinaryIO, at: int, order: str, size: int) -> tuple[dict[int, list[int]], int]:
    """The SHORT and LONG values of one directory's tags (others are not needed), and
    the offset of the next directory (0 for none)."""
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
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        seg = struct.unpack(">H", data[i + 2: i + 4])[0]
        if marker in _SOF_PICTURE and i + 9 <= len(data):
            height, width = struct.unpack(">HH", data[i + 5: i + 9])
            return (width, height) if width and height else None
        if marker in _SOF_OTHER or marker == 0xDA:  # lossless (a DNG's sensor data); scan
            return None
        i += 2 + seg
    return None
