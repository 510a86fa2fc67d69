"""The bare loops the catalog's benchmarks compare with, run as whole processes.

    python -m tests.benchmarks.bare {hash_and_header,same_reads,walk} ROOT

Each is timed the way ``mstore add`` is: a command from start to exit (interpreter
start and its imports included on both sides), so a ratio says how the whole job
compares, not how mstore's command compares with a loop that started warm. This module
imports nothing beyond what its loops use (the benchmark package imports media
libraries a bare loop would not).
"""

from __future__ import annotations

import io
import os
import sys


def hash_and_header(root: str, probe_reads: bool = False) -> int:
    """Read each file, BLAKE3 it, read the image header with Pillow."""
    import blake3
    from PIL import Image

    n = 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            with open(os.path.join(dirpath, name), "rb") as f:
                data = f.read()
            blake3.blake3(data).digest()
            if data[:3] == b"\xff\xd8\xff" or data[:4] == b"\x89PNG":
                with Image.open(io.BytesIO(data)) as im:
                    im.size  # noqa: B018 - the header read is the point
                    if probe_reads:
                        _probe_reads(im, data)
            n += 1
    return n


def _probe_reads(im: object, data: bytes) -> None:
    """What mstore's probe reads of an image on top of its header: the EXIF with its EXIF
    and GPS directories (capture time, camera, place) and, for a JPEG, the search for an
    EOI marker after its first scan (a whole file from one cut short: docs/catalog.md)."""
    exif = im.getexif()  # type: ignore[attr-defined]
    exif.get_ifd(0x8769)
    exif.get_ifd(0x8825)
    sos = data.find(b"\xff\xda")
    if data[:2] == b"\xff\xd8" and sos > 0:
        data.rfind(b"\xff\xd9", sos + 2 + int.from_bytes(data[sos + 2:sos + 4], "big"))


def same_reads(root: str) -> int:
    """``hash_and_header`` doing the reads mstore's probe does on top of it. The original
    loop stays the baseline the targets are set against; this one says how much of the
    gap is that work."""
    return hash_and_header(root, probe_reads=True)


def walk(root: str) -> int:
    """scandir + lstat of every entry: what an unchanged rescan cannot do without."""
    n = 0
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as it:
            for e in it:
                st = e.stat(follow_symlinks=False)
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                elif st.st_size >= 0:
                    n += 1
    return n


LOOPS = {"hash_and_header": hash_and_header, "same_reads": same_reads, "walk": walk}

if __name__ == "__main__":
    loop, root = sys.argv[1:3]
    LOOPS[loop](root)
