"""Photo-like scenes drawn with Pillow, and the copies a real archive holds of a photo
(resized, recompressed, cropped, blurred): test media for the similarity and quality
tools, made by the tests (nothing downloaded)."""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter


def scene(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    """A landscape-ish picture: a sky gradient, a horizon, a sun, hills, houses and trees,
    fine texture, then a slight blur as a lens gives. Different seeds differ in colours,
    layout and objects."""
    rng = random.Random(seed)
    w, h = size
    top = tuple(rng.randrange(256) for _ in range(3))
    bottom = tuple(rng.randrange(256) for _ in range(3))
    horizon = int(h * rng.uniform(0.35, 0.65))
    img = Image.new("RGB", size)
    d = ImageDraw.Draw(img)
    for y in range(horizon):  # the sky: a vertical gradient
        t = y / max(horizon - 1, 1)
        d.line((0, y, w, y), fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom,
                                                                             strict=True)))
    ground = tuple(rng.randrange(256) for _ in range(3))
    d.rectangle((0, horizon, w, h), fill=ground)
    r = rng.randrange(h // 14, h // 6)
    sx, sy = rng.randrange(w), rng.randrange(max(horizon - r, 1))
    d.ellipse((sx - r, sy - r, sx + r, sy + r), fill=tuple(rng.randrange(128, 256)
                                                            for _ in range(3)))
    for _ in range(rng.randrange(2, 5)):  # hills
        cx, hw = rng.randrange(w), rng.randrange(w // 6, w // 2)
        d.polygon([(cx - hw, horizon), (cx, horizon - rng.randrange(h // 10, h // 3)),
                   (cx + hw, horizon)], fill=tuple(rng.randrange(256) for _ in range(3)))
    for _ in range(rng.randrange(3, 9)):  # houses and trees
        x = rng.randrange(w)
        y = rng.randrange(horizon, h)
        s = rng.randrange(h // 16, h // 5)
        if rng.random() < 0.5:
            c = tuple(rng.randrange(256) for _ in range(3))
            d.rectangle((x, y - s, x + s, y), fill=c)
            d.polygon([(x - s // 5, y - s), (x + s // 2, y - s - s // 2), (x + s + s // 5, y - s)],
                      fill=tuple(rng.randrange(256) for _ in range(3)))
        else:
            d.rectangle((x, y - s, x + s // 6, y), fill=(90, 60, 30))
            d.ellipse((x - s // 2, y - s - s // 2, x + s // 2 + s // 6, y - s // 3),
                      fill=(rng.randrange(20, 90), rng.randrange(100, 200), rng.randrange(20, 90)))
    # texture at a few pixels' scale (grass, foliage, film grain), which JPEG keeps
    small = (w // 3, h // 3)
    grain = Image.frombytes("L", small, rng.randbytes(small[0] * small[1])).resize(
        size, Image.Resampling.BILINEAR)
    img = Image.blend(img, Image.merge("RGB", (grain, grain, grain)), 0.15)
    return img.filter(ImageFilter.GaussianBlur(0.6))


def jpeg(img: Image.Image, quality: int = 90) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def variants(img: Image.Image) -> dict[str, Image.Image]:
    """The copies of one photo an archive ends up with."""
    w, h = img.size
    return {
        "resized": img.resize((w // 2, h // 2), Image.Resampling.LANCZOS),
        "recompressed": Image.open(io.BytesIO(jpeg(img, 50))).convert("RGB"),
        "cropped": img.crop((w // 10, h // 10, w - w // 10, h - h // 10)),
    }


def write_with_variants(img: Image.Image, original: Path,
                        variant_path: Callable[[str], Path]) -> dict[str, Path]:
    """``img`` as a JPEG at ``original`` and each of its ``variants`` at ``variant_path(name)``
    (folders made as needed); returns the paths by variant name, "" for the original."""
    out = {}
    for name, copy in {"": img, **variants(img)}.items():
        path = out[name] = variant_path(name) if name else original
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(jpeg(copy))
    return out


def blurred(img: Image.Image, radius: float = 4.0) -> Image.Image:
    """The same shot, out of focus (a burst's missed frame)."""
    return img.filter(ImageFilter.GaussianBlur(radius))
