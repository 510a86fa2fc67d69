"""phash: a 64-bit DCT perceptual hash and a 64-bit difference hash per image.

Hashed from the upstream ``thumbnail`` artifact when there is one (~2.5 ms, two
thirds of it decoding the WebP, instead of 60-160 ms from the original; the hashes
agree within 0-2 bits, see
../shared/MEASUREMENTS.md), else from the image decoded in draft mode. Both paths
hash the *upright* picture, so a rotated copy of a photo still matches.

Pure Python on purpose: the DCT only needs the 8x8 lowest frequencies of a 32x32
block, ~10k multiply-adds in C-level dot products, a few tenths of a millisecond --
not worth a numpy dependency.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from mstore.tools.api import (
    BadInput,
    OutputArtifact,
    Progress,
    ToolRequest,
    ToolResult,
    decoding,
    fit,
    load_image,
)

N = 32  # the DCT block
K = 8  # hashed frequencies per axis (64 bits)
# COS[k][n] = cos(pi * (2n + 1) * k / 2N), the DCT-II basis, for k = 1..K (DC skipped).
# Normalisation factors are left out: one scale for every k >= 1 does not move a median.
COS = [[math.cos(math.pi * (2 * n + 1) * k / (2 * N)) for n in range(N)]
       for k in range(1, K + 1)]


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    if len(req.inputs) != 1:
        raise BadInput(f"phash is per-asset: expected 1 input, got {len(req.inputs)}")
    inp = req.inputs[0]
    thumb = inp.artifacts.get("thumbnail")
    if thumb is not None and thumb.path:
        img, source = load_image(thumb.path), "thumbnail"
    elif inp.kind == "image":
        img, source = fit(load_image(inp.path, size=256, mode="L"), 256), "original"
    else:
        raise BadInput(f"phash needs an image or a thumbnail artifact, got a {inp.kind}")
    with decoding("image"):
        if img.mode == "LAB":  # Pillow turns CIE L*a*b* into RGB, not into grey
            img = img.convert("RGB")
        grey = img.convert("L")  # once for both hashes
        ph, dh = phash(grey), dhash(grey)
    progress(1.0, "done")
    return ToolResult(artifacts=[OutputArtifact(
        kind="phash", asset=inp.asset, data={"phash": f"{ph:016x}", "dhash": f"{dh:016x}"},
        meta={"source": source})])


def _gray(img: Any, w: int, h: int) -> list[int]:
    from PIL import Image

    if img.mode != "L":
        img = img.convert("L")
    # Lanczos (antialiased) so the small grid averages areas instead of sampling points
    small = img.resize((w, h), Image.Resampling.LANCZOS)
    return list(small.tobytes())


def phash(img: Any) -> int:
    """pHash: 32x32 grey -> 2-D DCT-II -> the 8x8 lowest AC frequencies -> bit = above median.

    The block is rows/columns 1..8 of the DCT (as phash.org does): row and column 0
    hold the DC term and the pure horizontal/vertical averages that mostly track
    overall brightness, which re-encoding and exposure tweaks shift.
    """
    px = _gray(img, N, N)
    rows = [px[r * N:(r + 1) * N] for r in range(N)]
    # separable DCT: first along each row (only the K frequencies we keep) ...
    row_freq = [[sum(map(operator.mul, row, c)) for c in COS] for row in rows]
    # ... then down each of those K columns (transposed: one C-level dot product each)
    columns = list(zip(*row_freq, strict=True))
    coeffs = [sum(map(operator.mul, cu, col)) for cu in COS for col in columns]
    ordered = sorted(coeffs)
    median = (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
    return _bits(c > median for c in coeffs)


def dhash(img: Any) -> int:
    """dHash: 9x8 grey, bit = pixel brighter than its left neighbour (row-major)."""
    px = _gray(img, K + 1, K)
    return _bits(px[r * (K + 1) + c + 1] > px[r * (K + 1) + c] for r in range(K) for c in range(K))


def _bits(flags: Any) -> int:
    value = 0
    for f in flags:
        value = (value << 1) | int(f)  # first flag = most significant bit
    return value
