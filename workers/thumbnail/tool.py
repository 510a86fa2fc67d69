"""thumbnail: a small upright preview, ``thumb.webp`` (or ``thumb.jpeg``), per asset.

Images are decoded in draft mode (a JPEG at 1/2, 1/4 or 1/8 scale, a HEIC at its
embedded preview) -- the one decision that matters for speed: for a 12 MP JPEG
~50 ms CPU and 30 MB instead of ~200 ms and 110 MB without it (measured here).
Videos use the upstream ``keyframe`` artifact when the pipeline made one, else the
first keyframe decoded now.

Since version 3: a camera raw built on TIFF (CR2, NEF, ARW, PEF, DNG) is shown by the
largest JPEG preview it carries (before, the 160x120 picture of its IFD0, or a
failure); a picture with an ICC profile (a phone's Display P3, Adobe RGB, ProPhoto)
is converted to sRGB (before, its numbers were kept and shown as sRGB: washed-out
colours); a floating-point picture's range is stretched to 0..255 (before, clipped);
video frames of HDR (HLG, PQ) are mapped for an ordinary screen (mstore.tools.hdr).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mstore.tools.api import (
    BadInput,
    OutputArtifact,
    Progress,
    ToolInput,
    ToolRequest,
    ToolResult,
    decoding,
    fit,
    frame_source,
    load_image,
    to_srgb,
)

FORMATS = {"webp": "WEBP", "jpeg": "JPEG"}
# WebP effort ("method"; libwebp's and Pillow's default is 4). Measured on 256 px
# thumbnails of natural photos at quality 80: effort 4 encodes in ~5 ms, a seventh of
# a photo's whole thumbnail; effort 2 in ~2.5 ms, for files ~3% larger and 0.3 dB
# PSNR lower (efforts 3-6 add the rate-distortion search; 0-1 are faster still, but
# ~12% larger). For a library of 12 MP photos that is ~10% of the CPU of the photos
# pipeline.
EFFORT = 2


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    if len(req.inputs) != 1:
        raise BadInput(f"thumbnail is per-asset: expected 1 input, got {len(req.inputs)}")
    inp = req.inputs[0]
    size = int(req.params.get("size", 256))
    fmt = str(req.params.get("format", "webp"))
    quality = int(req.params.get("quality", 80))
    effort = int(req.params.get("effort", EFFORT))
    if size <= 0 or fmt not in FORMATS or not 1 <= quality <= 100 or not 0 <= effort <= 6:
        raise BadInput(f"thumbnail: bad params size={size} format={fmt} quality={quality} "
                       f"effort={effort}")

    progress(0.0, "decoding")
    source = "original"
    if inp.kind == "video":
        img, source = _video_frame(req, inp, size)
    else:
        img = load_image(inp.path, size=size, preview=True)  # a camera raw: its preview
    # in sRGB: the thumbnail carries no profile, and a browser shows one without as sRGB
    img = _displayable(to_srgb(fit(img, size)), fmt)

    progress(0.8, "encoding")
    name = f"thumb.{fmt}"
    opts: dict[str, Any] = {"quality": quality}
    if fmt == "jpeg":
        opts["optimize"] = True  # a few % smaller for ~nothing at this size
    else:
        opts["method"] = effort
    with decoding("thumbnail"):  # an encoder refusing the pixels is about the content
        img.save(Path(req.out_dir) / name, FORMATS[fmt], **opts)
    progress(1.0, "done")
    return ToolResult(artifacts=[OutputArtifact(
        kind="thumbnail", asset=inp.asset, file=name,
        meta={"width": img.width, "height": img.height, "format": fmt, "source": source})])


def _video_frame(req: ToolRequest, inp: ToolInput, size: int) -> tuple[Any, str]:
    upstream = inp.artifacts.get("keyframe")
    if upstream is not None and upstream.path:
        # the keyframes step already decoded and oriented it; reuse instead of decoding
        return load_image(upstream.path, size=size), "keyframe"
    frames = frame_source(req, inp, size=size, max_frames=1, keyframes_only=True)
    for _t, img in frames:
        return img, "decoded" if frames.policy.mode == "decode" else "materialized"
    raise BadInput("no decodable video frame")


def _displayable(img: Any, fmt: str) -> Any:
    """Pixels the encoder takes: RGB, or RGBA for WebP when the image has transparency."""
    from PIL import Image

    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # 16-bit greyscale (scans, PNGs from scientific tools): scale to 8 bits instead
        # of letting convert() clip everything above 255 to white
        img = img.convert("I").point(lambda v: v / 256).convert("L")
    elif img.mode == "F":
        # floating point (HDR and scientific TIFFs): no range is standard (0..1 came out
        # black, 0..1000 white), so the picture's own range is stretched to 0..255, as
        # image viewers for such data do
        low, high = img.getextrema()
        scale = 255 / (high - low) if high > low else 0.0
        img = img.point(lambda v: (v - low) * scale).convert("L")
    has_alpha = img.mode in ("RGBA", "LA", "PA") or (
        img.mode == "P" and "transparency" in img.info)
    if has_alpha and fmt == "webp":
        return img.convert("RGBA")
    if has_alpha:
        # JPEG has no alpha: flatten on white, as viewers show transparent areas
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("RGB")
