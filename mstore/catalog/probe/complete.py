"""Is the whole file there? Structural checks for files cut short, without decoding.

A copy that died half way leaves a file whose headers are intact: Pillow and
FFmpeg read them and report the original's size, frame count or duration. Each
check here follows the format's own length fields to the end of the file, reading
a few bytes per block (the blocks are skipped, never decoded):

- GIF: the block structure (extensions, images and their data sub-blocks) must
  reach the trailer byte;
- RIFF (WebP, WAV, AVI) and AIFF: the container's declared size must fit in the file;
- ISO-BMFF (HEIC, AVIF, MP4, MOV, M4A): no top-level box may claim bytes past the end;
- MP3: whether a Xing/Info/VBRI header declares the length (then FFmpeg reports
  the header's duration, which ``media`` checks against the packets that exist).

Every function takes a seekable source and its size, and never raises for bad
content (a check that cannot tell says "complete").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mstore.catalog.probe import Source

_WINDOW = 1 << 20
_MAX_BOXES = 10_000
_UNKNOWN_SIZE = 0xFFFFFFFF  # RIFF/RF64 writers that did not know the size yet


class _Window:
    """Byte access to a file at increasing positions, one 1 MiB read at a time."""

    __slots__ = ("_f", "_size", "_base", "_buf")

    def __init__(self, f: Source, size: int) -> None:
        self._f, self._size, self._base, self._buf = f, size, 0, b""

    def byte(self, pos: int) -> int | None:
        if pos >= self._size:
            return None
        off = pos - self._base
        if not 0 <= off < len(self._buf):
            self._f.seek(pos)
            self._buf, self._base, off = self._f.read(_WINDOW), pos, 0
            if not self._buf:
                return None
        return self._buf[off]


def gif_complete(f: Source, size: int) -> bool:
    """Whether the GIF's blocks run to its trailer (0x3B) inside the file.

    Bytes that start no known block end the walk as complete: junk after the last
    image is not a truncation, and decoders stop there too.
    """
    w = _Window(f, size)
    packed = w.byte(10)
    if packed is None:
        return False
    pos = 13 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0)  # header, screen, palette
    while True:
        b = w.byte(pos)
        if b is None:
            return False
        if b == 0x3B:  # trailer
            return True
        if b == 0x21:  # extension: introducer, label, data sub-blocks
            pos += 2
        elif b == 0x2C:  # image descriptor (10 bytes), local palette, LZW size, sub-blocks
            packed = w.byte(pos + 9)
            if packed is None:
                return False
            pos += 10 + (3 << ((packed & 7) + 1) if packed & 0x80 else 0) + 1
        else:
            return True
        while True:  # data sub-blocks: a length byte, then that many bytes; 0 ends them
            n = w.byte(pos)
            if n is None:
                return False
            pos += 1 + n
            if n == 0:
                break
            if pos > size:
                return False


def chunked_truncated(f: Source, size: int) -> bool:
    """A RIFF (little-endian) or AIFF ``FORM`` (big-endian) file declaring more bytes than
    it has. One byte of slack: some writers leave out the pad byte of an odd last chunk."""
    f.seek(0)
    head = f.read(12)
    if len(head) < 12:
        return True
    order = "big" if head[:4] == b"FORM" else "little"
    declared = int.from_bytes(head[4:8], order)
    if declared in (0, _UNKNOWN_SIZE):
        return False  # a streaming writer's placeholder: nothing to compare
    return 8 + declared > size + 1


def iso_truncated(f: Source, size: int) -> bool:
    """True if a top-level ISO-BMFF box claims to extend past the end of the file."""
    pos = 0
    for _ in range(_MAX_BOXES):
        if pos + 8 > size:
            return False
        f.seek(pos)
        hdr = f.read(16)
        box_size, hlen = int.from_bytes(hdr[:4], "big"), 8
        if box_size == 1 and len(hdr) == 16:
            box_size, hlen = int.from_bytes(hdr[8:16], "big"), 16
        elif box_size == 0:
            return False  # runs to the end of the file by definition
        if box_size < hlen:
            return False  # not a box structure we understand
        if pos + box_size > size:
            return True
        pos += box_size
    return False


def mp3_declares_length(f: Source, size: int) -> bool:
    """Whether the first MPEG audio frame carries a Xing/Info or VBRI header with a frame
    count, from which FFmpeg takes the duration (otherwise it estimates the duration
    from the file's size, which a cut file cannot contradict)."""
    f.seek(0)
    head = f.read(10)
    start = 0
    if head[:3] == b"ID3" and len(head) == 10:
        tag = 0
        for b in head[6:10]:
            tag = (tag << 7) | (b & 0x7F)
        start = 10 + tag + (10 if head[5] & 0x10 else 0)
    f.seek(start)
    data = f.read(4096)
    i = next((k for k in range(len(data) - 3)
              if data[k] == 0xFF and data[k + 1] & 0xE0 == 0xE0), -1)
    if i < 0:
        return False
    b1, b3 = data[i + 1], data[i + 3]
    mpeg1 = (b1 >> 3) & 3 == 3
    mono = b3 >> 6 == 3
    side = (17 if mono else 32) if mpeg1 else (9 if mono else 17)
    xing = i + 4 + side
    if data[xing:xing + 4] in (b"Xing", b"Info") and len(data) >= xing + 12:
        return bool(int.from_bytes(data[xing + 4:xing + 8], "big") & 1)  # frames field present
    return data[i + 36:i + 40] == b"VBRI"
