"""quality: sharpness, exposure and noise of a photo, and one score to compare shots.

Measured on a small decode (the upstream ``thumbnail`` when the pipeline made one, else
the original in draft mode), greyscale, longest side ``size``: a few milliseconds with
numpy. All three are classic, cheap and explainable; ``score`` is what ``best`` compares,
so only its order between shots of one scene matters:

* ``sharpness``: the variance of the Laplacian (edges respond strongly, a blur flattens
  them); ``sharp`` = 1 - exp(-variance / 150) maps it to 0..1.
* ``exposure``: mean brightness (0..1) and the share of pixels crushed to black or blown
  to white; ``exposed`` = 1 - 2 * |mean - 0.5| minus the clipped shares, at least 0.
* ``noise``: Immerkær's estimate of the noise's standard deviation (a 3x3 kernel blind
  to edges and gradients, in grey levels); ``clean`` = exp(-sigma / 8).

``score`` = 0.6 sharp + 0.25 exposed + 0.15 clean: a missed focus is the commonest way
one frame of a burst is worse than its neighbours, exposure next.
"""

from __future__ import annotations

import math
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


def measure(img: Any) -> dict[str, float]:
    """The measures of a PIL image (any mode)."""
    import numpy as np

    with decoding("image"):
        g = np.asarray(img.convert("L"), dtype=np.float32)
    if g.shape[0] < 3 or g.shape[1] < 3:
        raise BadInput(f"image too small to measure ({g.shape[1]}x{g.shape[0]})")
    lap = (g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1])
    sharpness = float(lap.var())
    mean = float(g.mean()) / 255.0
    dark = float((g <= 5).mean())
    bright = float((g >= 250).mean())
    # Immerkær (1996): convolve with [[1,-2,1],[-2,4,-2],[1,-2,1]]
    n = (g[:-2, :-2] - 2 * g[:-2, 1:-1] + g[:-2, 2:]
         - 2 * g[1:-1, :-2] + 4 * g[1:-1, 1:-1] - 2 * g[1:-1, 2:]
         + g[2:, :-2] - 2 * g[2:, 1:-1] + g[2:, 2:])
    h, w = g.shape
    noise = float(math.sqrt(math.pi / 2) * np.abs(n).sum() / (6 * (w - 2) * (h - 2)))
    sharp = 1 - math.exp(-sharpness / 150)
    exposed = max(0.0, 1 - 2 * abs(mean - 0.5) - dark - bright)
    clean = math.exp(-noise / 8)
    return {"sharpness": round(sharpness, 3), "brightness": round(mean, 4),
            "dark": round(dark, 4), "bright": round(bright, 4), "noise": round(noise, 3),
            "sharp": round(sharp, 4), "exposed": round(exposed, 4), "clean": round(clean, 4),
            "score": round(0.6 * sharp + 0.25 * exposed + 0.15 * clean, 4)}


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    if len(req.inputs) != 1:
        raise BadInput(f"quality is per-asset: expected 1 input, got {len(req.inputs)}")
    inp = req.inputs[0]
    size = int(req.params.get("size", 256))
    try:
        import numpy  # noqa: F401
    except ImportError:
        raise BadInput("quality needs the 'similar' extra: pip install 'mstore[similar]'"
                       ) from None
    thumb = inp.artifacts.get("thumbnail")
    if thumb is not None and thumb.path:
        img, source = fit(load_image(thumb.path), size), "thumbnail"
    elif inp.kind == "image":
        img, source = fit(load_image(inp.path, size=size, mode="L"), size), "original"
    else:
        raise BadInput(f"quality needs an image or its thumbnail, got a {inp.kind}")
    data = measure(img)
    progress(1.0, "done")
    return ToolResult(artifacts=[OutputArtifact(
        kind="quality", asset=inp.asset, data=data,
        meta={"source": source, "width": img.width, "height": img.height})])
