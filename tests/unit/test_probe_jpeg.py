"""probe/jpeg.py reads a JPEG's headers and EXIF without Pillow: what it reads must be what
the prober finds through Pillow, and whatever it cannot read exactly must go to Pillow.

The oracle is the same ``probe`` with the reader switched off. The files are generated:
JPEGs Pillow writes, with EXIF directories built here byte by byte (both byte orders,
every TIFF type, odd counts, repeated tags, values and pointers outside the block, unknown
types), XMP packets, ICC and comment segments, and cut files.
"""

from __future__ import annotations

import io
import random
import struct

import pytest
from PIL import Image

from mstore.catalog.probe import image as image_mod
from mstore.catalog.probe import jpeg
from mstore.model.meta import Meta
from tests.unit.test_probe import probe_bytes

_BASE = io.BytesIO()
Image.new("RGB", (64, 48), (200, 120, 40)).save(_BASE, "JPEG", quality=80)
BASE = _BASE.getvalue()  # SOI, JFIF APP0, tables, frame, scan, EOI


via_reader = probe_bytes  # the prober as it runs


def via_pillow(data: bytes, monkeypatch: pytest.MonkeyPatch) -> Meta:
    with monkeypatch.context() as m:
        m.setattr(jpeg, "read_headers", lambda *_: None)
        return probe_bytes(data)


def segment(marker: int, body: bytes) -> bytes:
    return bytes((0xFF, marker)) + (len(body) + 2).to_bytes(2, "big") + body


def with_segments(*segments: bytes, base: bytes = BASE) -> bytes:
    """``base`` with ``segments`` right after its SOI."""
    return base[:2] + b"".join(segments) + base[2:]


# -- EXIF built byte by byte ---------------------------------------------------------------

Entry = tuple[int, int, int, bytes]  # tag, type, count, value bytes (any length)


def tiff(endian: str, ifd0: list[Entry], exif: list[Entry] | None = None,
         gps: list[Entry] | None = None, *, bad_offset: int | None = None,
         exif_pointer: tuple[int, int, bytes] | None = None) -> bytes:
    """A TIFF block: IFD0 (with pointers to the EXIF and GPS directories when given), the
    directories, then every value longer than four bytes. ``bad_offset``: the offset
    written for the long values of entry number ``bad_offset`` (counted over all
    directories) is past the end of the block. ``exif_pointer``: (type, count, field)
    written for the EXIF directory's pointer instead of a LONG offset to it."""
    mark = b"II*\x00" if endian == "<" else b"MM\x00*"
    dirs: list[list[Entry]] = [list(ifd0)]
    pointers = []
    for tag, entries in ((0x8769, exif), (0x8825, gps)):
        if entries is not None:
            dirs[0].append((tag, 4, 1, b""))  # offset filled below
            pointers.append((tag, len(dirs)))
            dirs.append(list(entries))
    starts = []
    pos = 8
    for d in dirs:
        starts.append(pos)
        pos += 2 + 12 * len(d) + 4
    data_at = pos
    out_dirs = []
    blob = b""
    k = 0
    for d in dirs:
        raw = struct.pack(endian + "H", len(d))
        for tag, typ, count, value in d:
            pointer = next((starts[i] for t, i in pointers if t == tag and d is dirs[0]), None)
            if pointer is not None and tag == 0x8769 and exif_pointer is not None:
                typ, count, field = exif_pointer
            elif pointer is not None:
                field = struct.pack(endian + "L", pointer)
            elif len(value) > 4:
                offset = data_at + len(blob)
                if k == bad_offset:
                    offset = 1 << 20
                field = struct.pack(endian + "L", offset)
                blob += value + (b"\x00" if len(value) % 2 else b"")
            else:
                field = value.ljust(4, b"\x00")
            raw += struct.pack(endian + "HHL", tag, typ, count) + field
            k += 1
        out_dirs.append(raw + b"\x00\x00\x00\x00")
    return mark + struct.pack(endian + "L", 8) + b"".join(out_dirs) + blob


def value(endian: str, typ: int, items: list) -> bytes:
    if typ in (1, 7):
        return bytes(items)
    if typ == 2:
        return b"".join(items)
    if typ in (5, 10):
        fmt = "L" if typ == 5 else "l"
        return b"".join(struct.pack(endian + fmt * 2, a, b) for a, b in items)
    fmt = {3: "H", 4: "L", 6: "b", 8: "h", 9: "l", 11: "f", 12: "d", 13: "L", 16: "Q"}[typ]
    return struct.pack(endian + fmt * len(items), *items)


def ascii_entry(endian: str, tag: int, text: bytes) -> Entry:
    return (tag, 2, len(text), text)


def random_entry(rng: random.Random, endian: str, tag: int) -> Entry:
    """One entry of a random type and count, with values a camera or a broken tool writes."""
    typ = rng.choice([1, 2, 2, 2, 3, 4, 5, 5, 6, 7, 8, 9, 10, 11, 12, 99])
    if typ == 99:  # a type TIFF does not have
        return (tag, 99, 1, b"\x01\x00\x00\x00")
    if typ == 2:
        text = rng.choice([b"2021:06:05 14:03:02", b"+02:00", b"Canon", b" EOS R5 \x00\x00",
                           b"OLYMPUS DIGITAL CAMERA", b"A caption", b"N", b"S", b"W",
                           b"0000:00:00 00:00:00", b"caf\xe9\x00", b"", b"2019-01-02T03:04:05"])
        if rng.random() < 0.7:
            text += b"\x00"
        return (tag, 2, len(text), text)
    count = rng.choice([1, 1, 1, 2, 3, 3, 4, 9])
    if typ in (1, 7):
        items = list("Hé, wörld".encode("utf-16-le")) if rng.random() < 0.5 else [
            rng.randrange(256) for _ in range(count)]
        if rng.random() < 0.3:
            items = list(b"UNICODE\x00" + "hi there".encode("utf-16-be"))
        elif rng.random() < 0.3:
            items = list(b"ASCII\x00\x00\x00a comment\x00")
        return (tag, typ, len(items), value(endian, typ, items))
    if typ in (5, 10):
        items = [(rng.choice([0, 1, 7, 45, 3599, 4_000_000_000 if typ == 5 else -30]),
                  rng.choice([0, 1, 1, 60, 100])) for _ in range(count)]
    elif typ in (11, 12):
        items = [rng.choice([0.0, 1.5, -2.25, 45.0]) for _ in range(count)]
    elif typ in (6, 8, 9):
        items = [rng.choice([-3, 0, 1, 6, 8]) for _ in range(count)]
    else:
        items = [rng.choice([0, 1, 3, 6, 8, 9, 300, 65535]) for _ in range(count)]
    return (tag, typ, count, value(endian, typ, items))


IFD0_TAGS = [0x0112, 0x010F, 0x0110, 0x0132, 0x010E, 0x9C9B, 0x9C9C, 0x9C9E, 0x9C9F,
             0x011A, 0x0128, 0x0131]  # the last three are read by nobody
EXIF_TAGS = [0x9003, 0x9004, 0x9010, 0x9011, 0x9012, 0x9286, 0x829A, 0x927C]
GPS_TAGS = [1, 2, 3, 4, 5, 6, 0, 7]


def random_exif(rng: random.Random) -> tuple[bytes, bool]:
    """A random EXIF block, and whether it may hold what the reader leaves to Pillow."""
    endian = rng.choice("<>")
    odd = False

    def entries(tags: list[int]) -> list[Entry]:
        nonlocal odd
        chosen = rng.sample(tags, rng.randrange(len(tags) + 1))
        out = [random_entry(rng, endian, t) for t in sorted(chosen)]
        if out and rng.random() < 0.1:  # a repeated tag
            out.append(out[0])
            odd = True
        if rng.random() < 0.1:  # no value at all
            out.append((tags[0], 3, 0, b""))
        return out

    exif = entries(EXIF_TAGS) if rng.random() < 0.8 else None
    gps = entries(GPS_TAGS) if rng.random() < 0.5 else None
    bad = None
    if rng.random() < 0.15:
        bad = rng.randrange(12)
        odd = True
    pointer = None
    if exif is not None and rng.random() < 0.1:  # a pointer that is not a LONG offset
        pointer = rng.choice([(9, 1, struct.pack(endian + "l", -6)), (3, 1, bytes(4)),
                              (4, 1, struct.pack(endian + "L", 1 << 20)), (2, 4, b"abc\x00"),
                              (4, 2, bytes(4)), (8, 1, struct.pack(endian + "hh", -2, 0))])
        odd = True
    block = tiff(endian, entries(IFD0_TAGS), exif, gps, bad_offset=bad, exif_pointer=pointer)
    if rng.random() < 0.05:
        block = block[:rng.randrange(8, len(block))]  # cut short
        odd = True
    return block, odd


def xmp_packet(rng: random.Random) -> bytes:
    parts = ['<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
             '"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
             'xmlns:dc="http://purl.org/dc/elements/1.1/" '
             'xmlns:tiff="http://ns.adobe.com/tiff/1.0/"']
    if rng.random() < 0.5:
        parts.append(f' tiff:Orientation="{rng.choice([1, 3, 6, 8, 9])}"')
    parts.append("><dc:title><rdf:Alt><rdf:li xml:lang=\"x-default\">Sunset</rdf:li></rdf:Alt>"
                 "</dc:title><dc:subject><rdf:Bag><rdf:li>beach</rdf:li></rdf:Bag></dc:subject>")
    parts.append("</rdf:Description></rdf:RDF></x:xmpmeta>")
    return b"http://ns.adobe.com/xap/1.0/\x00" + "".join(parts).encode()


# -- the comparisons -----------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(400))
def test_generated_jpegs_read_as_pillow_reads_them(seed: int,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(seed)
    block, odd = random_exif(rng)
    segments = [segment(0xE1, b"Exif\x00\x00" + block)]
    if rng.random() < 0.4:
        segments.append(segment(0xE1, xmp_packet(rng)))
    if rng.random() < 0.2:
        segments.append(segment(0xFE, b"a comment"))
    if rng.random() < 0.2:
        segments.append(segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + bytes(40)))
    rng.shuffle(segments)
    data = with_segments(*segments)
    if rng.random() < 0.1:
        data = data[:-rng.randrange(2, 60)]  # cut in its scan, or in the headers before it
        odd = True
    expected = via_pillow(data, monkeypatch)
    assert via_reader(data) == expected
    if not odd and expected.error is None:  # nothing Pillow stumbled on: read without it
        assert jpeg.read_headers(data, image_mod.MAX_PIXELS) is not None


def test_most_generated_jpegs_are_read_without_pillow() -> None:
    """The comparison above is only worth something if the reader answers for most."""
    read = 0
    for seed in range(400):
        rng = random.Random(seed)
        block, _ = random_exif(rng)
        data = with_segments(segment(0xE1, b"Exif\x00\x00" + block))
        read += jpeg.read_headers(data, image_mod.MAX_PIXELS) is not None
    assert read > 300


@pytest.mark.parametrize("endian", "<>")
def test_a_camera_jpeg_gives_its_facts(endian: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ifd0 = [(0x010F, 2, 6, b"Canon\x00"), (0x0110, 2, 7, b"EOS R5\x00"),
            (0x0112, 3, 1, value(endian, 3, [6]))]
    exif = [ascii_entry(endian, 0x9003, b"2021:06:05 14:03:02\x00"),
            ascii_entry(endian, 0x9011, b"+02:00\x00")]
    gps = [(1, 2, 2, b"N\x00"), (2, 5, 3, value(endian, 5, [(48, 1), (51, 1), (2997, 100)])),
           (3, 2, 2, b"E\x00"), (4, 5, 3, value(endian, 5, [(2, 1), (17, 1), (4026, 100)])),
           (5, 1, 1, b"\x00"), (6, 5, 1, value(endian, 5, [(35, 1)]))]
    data = with_segments(segment(0xE1, b"Exif\x00\x00" + tiff(endian, ifd0, exif, gps)))
    assert jpeg.read_headers(data, image_mod.MAX_PIXELS) is not None
    m = via_reader(data)
    assert m == via_pillow(data, monkeypatch)
    assert (m.width, m.height, m.orientation) == (48, 64, 6)
    assert (m.camera_make, m.camera_model, m.taken) == ("Canon", "EOS R5",
                                                        "2021-06-05T14:03:02+02:00")
    lat, lon = 48 + 51 / 60 + 29.97 / 3600, 2 + 17 / 60 + 40.26 / 3600
    assert (m.gps_lat, m.gps_lon, m.gps_alt) == (round(lat, 7), round(lon, 7), 35.0)


def test_orientation_from_xmp_when_exif_has_none(monkeypatch: pytest.MonkeyPatch) -> None:
    xmp = (b"http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">"
           b"<rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">"
           b"<rdf:Description xmlns:tiff=\"http://ns.adobe.com/tiff/1.0/\" "
           b"tiff:Orientation=\"8\"/></rdf:RDF></x:xmpmeta>")
    data = with_segments(segment(0xE1, xmp))
    assert jpeg.read_headers(data, image_mod.MAX_PIXELS) is not None
    m = via_reader(data)
    assert m == via_pillow(data, monkeypatch)
    assert (m.orientation, m.width, m.height) == (8, 48, 64)


@pytest.mark.parametrize("mode", ["L", "CMYK"])
@pytest.mark.parametrize("progressive", [False, True])
def test_grey_cmyk_and_progressive_jpegs(mode: str, progressive: bool,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.BytesIO()
    Image.new(mode, (33, 17)).save(buf, "JPEG", progressive=progressive)
    data = buf.getvalue()
    assert jpeg.read_headers(data, image_mod.MAX_PIXELS) is not None
    m = via_reader(data)
    assert m == via_pillow(data, monkeypatch)
    assert (m.width, m.height, m.error) == (33, 17, None)


def _two_frames() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (20, 10)).save(buf, "MPO", save_all=True,
                                    append_images=[Image.new("RGB", (20, 10))])
    return buf.getvalue()


@pytest.mark.parametrize("make", [
    lambda: with_segments(segment(0xED, b"Photoshop 3.0\x008BIM\x04\x04\x00\x00\x00\x00\x00\x00")),
    _two_frames,  # an MPO
    lambda: BASE[:2] + b"\x00\x17" + BASE[2:],  # junk before the first segment
    lambda: BASE[:2] + b"\xff\xff" + BASE[2:],  # a fill byte
    lambda: with_segments(segment(0xE1, b"Exif\x00\x00II*\x00\x08\x00\x00\x00\x00\x00"),
                          segment(0xE1, b"Exif\x00\x00\x00\x00")),  # EXIF in two segments
    lambda: with_segments(segment(0xE0, b"JFIF\x00")),  # Pillow fails on a short JFIF
    lambda: with_segments(segment(0xE2, b"ICC_PROFILE\x00\x01")),  # ... and a short ICC
    lambda: with_segments(segment(0xE1, b"Exif\x00\x00MM\x2a\x00\x00\x00\x00\x08")),
    lambda: BASE[:40],  # cut before its first scan
])
def test_what_the_reader_leaves_to_pillow(make, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    data = make()
    assert jpeg.read_headers(data, image_mod.MAX_PIXELS) is None
    assert via_reader(data) == via_pillow(data, monkeypatch)


def test_a_picture_over_the_bomb_limit_is_left_to_pillow(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    sof = BASE.index(b"\xff\xc0")
    big = BASE[:sof + 5] + (30000).to_bytes(2, "big") + (30000).to_bytes(2, "big") + BASE[sof + 9:]
    assert jpeg.read_headers(big, image_mod.MAX_PIXELS) is None
    m = via_reader(big)
    assert m == via_pillow(big, monkeypatch)
    assert m.error is not None and "decompression bomb" in m.error
