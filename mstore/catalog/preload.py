"""Imported once by the forkserver that starts ``add``'s workers (pool.py): each worker is
forked with the hashing code and Pillow's common image plugins already loaded, instead
of importing them itself (some 50 ms of CPU per worker, on the way to its first file)."""

from __future__ import annotations

from PIL import Image

import mstore.catalog.fileinfo  # noqa: F401
import mstore.catalog.probe.image  # noqa: F401
import mstore.catalog.probe.text  # noqa: F401

Image.preinit()  # JPEG, PNG, GIF, BMP, PPM: the rest load when a file needs them
