"""Finding a camera raw's JPEG preview (mstore/tools/rawpreview.py) in raws written byte by
byte as cameras lay them out (tests/fixtures/raws.py), and in damaged ones."""

from __future__ import annotations

import io
import random

import pytest

from mstore.tools.rawpreview import Preview, raw_preview
from tests.fixtures import raws


def find(data: bytes) -> Preview | None:
    return raw_preview(io.BytesIO(data), len(data))


@pytest.mark.parametrize("make", ["nef", "cr2", "arw", "dng"])
def test_the_preview_is_found_where_each_camera_puts_it(make: str) -> None:
    data = getattr(raws, make)(preview=(1200, 800), orientation=8)
    found = find(data)
    assert found is not None
    assert (found.width, found.height, found.orientation) == (1200, 800, 8)
    jpeg = data[found.offset:found.offset + found.length]
    assert jpeg[:2] == b"\xff\xd8" and jpeg[-2:] == b"\xff\xd9"  # the whole JPEG


def test_no_preview_when_none_is_larger_than_the_own_picture() -> None:
    assert find(raws.dng(None)) is None  # only the raw data beside IFD0: a lossless JPEG
    assert find(raws.tiff_with_thumbnail()) is None  # a scan with a smaller JPEG
    assert find(b"\xff\xd8\xff\xe0 not a tiff") is None
    assert find(b"II*\x00") is None


def test_a_damaged_raw_gives_a_preview_inside_it_or_none() -> None:
    """Bytes flipped, runs set to extremes, cut out, or the file cut short, mostly in the
    directories: never an exception, and a preview found lies inside the file."""
    rng = random.Random(11)
    made = [raws.nef(), raws.cr2(), raws.arw(), raws.dng(), raws.dng(None)]
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
