"""Finding a camera raw's JPEG preview (mstore/tools/rawpreview.py) in raws written byte by
byte as cameras lay them out (tests/fixtures/raws.py), and in damaged ones."""

from __future__ import annotations

import io
import random

import pytest

from mstore.tools.rawpreview import Preview, exif_tiffs, raw_preview
from tests.fixtures import raws


def find(data: bytes) -> Preview | None:
    return raw_preview(io.BytesIO(data), len(data))


@pytest.mark.parametrize("make", ["nef", "cr2", "arw", "dng", "cr3", "rw2", "orf", "raf"])
def test_the_preview_is_found_where_each_camera_puts_it(make: str) -> None:
    data = getattr(raws, make)(preview=(1200, 800), orientation=8)
    found = find(data)
    assert found is not None
    # a RAF's JPEG is the camera's own: its EXIF gives the orientation (0: ask it)
    assert (found.width, found.height, found.orientation) == (1200, 800,
                                                               0 if make == "raf" else 8)
    jpeg = data[found.offset:found.offset + found.length]
    assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"  # the whole JPEG


def test_no_preview_when_none_is_larger_than_the_own_picture() -> None:
    assert find(raws.dng(None)) is None  # only the raw data beside IFD0: a lossless JPEG
    assert find(raws.tiff_with_thumbnail()) is None  # a scan with a smaller JPEG
    assert find(b"\xff\xd8\xff\xe0 not a tiff") is None
    assert find(b"II*\x00") is None
    assert find(raws.cr3(preview=(120, 80))) is not None  # the 160x120 THMB then
    assert find(b"\x00\x00\x00\x18ftypcrx " + bytes(8)) is None
    assert find(b"FUJIFILMCCD-RAW " + bytes(80)) is None


def test_the_exif_of_a_raw_is_found_where_each_camera_keeps_it() -> None:
    """CR3: three TIFF structures (IFD0, EXIF, GPS directories); RAF: the EXIF segment
    of its JPEG; ORF, RW2: the file, its magic number made TIFF's; ARW: the file."""
    from PIL import Image

    def read(data: bytes) -> dict[str, Image.Exif]:
        out = {}
        for name, tiff in exif_tiffs(io.BytesIO(data), len(data)).items():
            out[name] = Image.Exif()
            out[name].load(tiff)
        return out

    cr3 = read(raws.cr3(orientation=3))
    assert (cr3["IFD0"][0x010F], cr3["IFD0"][0x0112]) == ("Canon", 3)
    assert cr3["Exif"][0x9003] == "2024:02:10 16:45:30" and cr3["GPS"][1] == "N"
    for make, camera in (("raf", "FUJIFILM"), ("rw2", "Panasonic"),
                         ("orf", "OLYMPUS CORPORATION"), ("arw", "SONY")):
        got = read(getattr(raws, make)())
        assert list(got) == ["IFD0"] and got["IFD0"][0x010F] == camera, make
        assert got["IFD0"].get_ifd(0x8769)[0x9003], make
    assert read(b"\xff\xd8\xff\xe0 a jpeg") == {}


def test_a_damaged_raw_gives_a_preview_inside_it_or_none() -> None:
    """Bytes flipped, runs set to extremes, cut out, or the file cut short, mostly in the
    directories: never an exception, and a preview found lies inside the file."""
    rng = random.Random(11)
    made = [raws.nef(), raws.cr2(), raws.arw(), raws.dng(), raws.dng(None), raws.cr3(),
            raws.raf(), raws.rw2(), raws.orf()]
    for _ in range(3000):
        data = bytearray(rng.choice(made))
        for _ in range(rng.randint(1, 8)):
            if len(data) < 2:
                break
            at = rng.randrange(min(len(data), 600) if rng.random() < 0.8 else len(data))
            what = rng.random()
            if what < 0.5:
                data[at] = rng.randrange(256)
            elif what < 0.7:
                data[at:at + 4] = rng.choice([b"\xff" * 4, bytes(4), b"\x7f\xff\xff\xff"])
            elif what < 0.85:
                del data[at:at + rng.randint(1, 50)]
            else:
                del data[at:]
        found = find(bytes(data))
        if found is not None:
            assert 0 <= found.offset and found.offset + found.length <= len(data)
            assert found.width > 0 and found.height > 0
