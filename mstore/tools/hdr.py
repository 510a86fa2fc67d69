"""HDR video frames as a viewer shows them on an ordinary screen.

Phones film HDR by default (an iPhone since the 12: HEVC, 10 bits, BT.2020 primaries,
the HLG transfer; others PQ, as HDR10 does). Converted to RGB as they are and shown as
sRGB, such frames come out grey and washed out: HLG puts the white of a sheet of
paper at 75 % of its signal, and BT.2020's colours are wider than sRGB's. Here a frame
whose transfer is HLG or PQ is mapped to sRGB the way BT.2408 describes: its signal
to display light (HLG's OOTF for a 1000-nit display; PQ is absolute), HDR reference
white (203 nits) to SDR white, highlights above 80 % of it rolled off towards white
instead of clipped, BT.2020 primaries to BT.709's. The mapping is a 3D table (33 points
a side, made once per process, applied by Pillow with trilinear interpolation) over
the frame's 8-bit R'G'B', which the HDR transfers spread evenly enough for a preview.
"""

from __future__ import annotations

import functools
import math
from typing import Any

# transfer characteristics (ISO/IEC 23091-2, FFmpeg's AVColorTransferCharacteristic)
PQ, HLG = 16, 18
HDR_TRANSFERS = (PQ, HLG)
SDR_WHITE_NITS = 203.0  # HDR reference white, shown as SDR white (ITU-R BT.2408)
HLG_PEAK_NITS = 1000.0  # the display HLG's OOTF (system gamma 1.2) is defined for
KNEE = 0.8  # of SDR white: luminance below is kept, above rolled off towards 1.0
LUT_POINTS = 33
# BT.2020 -> BT.709 primaries in linear light (ITU-R BT.2087), and BT.2020's luminance
_TO_709 = ((1.6605, -0.5876, -0.0728), (-0.1246, 1.1329, -0.0083), (-0.0182, -0.1006, 1.1187))
_LUMA = (0.2627, 0.6780, 0.0593)


def to_sdr(img: Any, transfer: int) -> Any:
    """``img`` (a frame's R'G'B' with BT.2020 primaries and an HDR ``transfer``) as sRGB."""
    return img.filter(_table(transfer))


@functools.cache
def _table(transfer: int) -> Any:
    from PIL import ImageFilter

    return ImageFilter.Color3DLUT.generate(LUT_POINTS, functools.partial(sdr, transfer))


def sdr(transfer: int, r: float, g: float, b: float) -> tuple[float, float, float]:
    """One colour of signal (0..1 a channel) in ``transfer`` -> sRGB (0..1 a channel)."""
    if transfer == HLG:
        light = _hlg_display(r, g, b)
    else:
        light = (_pq(r), _pq(g), _pq(b))
    rgb = [v / SDR_WHITE_NITS for v in light]
    y = sum(k * v for k, v in zip(_LUMA, rgb, strict=True))
    if y > KNEE:
        rolled = KNEE + (1 - KNEE) * (1 - math.exp(-(y - KNEE) / (1 - KNEE)))
        rgb = [v * rolled / y for v in rgb]
    r7, g7, b7 = (sum(m * v for m, v in zip(row, rgb, strict=True)) for row in _TO_709)
    return _srgb(r7), _srgb(g7), _srgb(b7)


def _hlg_display(r: float, g: float, b: float) -> tuple[float, float, float]:
    """HLG signal -> nits on a 1000-nit display: scene light, then the OOTF (BT.2100)."""
    rs, gs, bs = _hlg_scene(r), _hlg_scene(g), _hlg_scene(b)
    ys = _LUMA[0] * rs + _LUMA[1] * gs + _LUMA[2] * bs
    gain = HLG_PEAK_NITS * ys ** 0.2 if ys > 0 else 0.0  # system gamma 1.2
    return rs * gain, gs * gain, bs * gain


@functools.cache
def _hlg_scene(e: float) -> float:
    """HLG signal -> scene light, 0..1 (BT.2100's inverse OETF)."""
    a, b, c = 0.17883277, 0.28466892, 0.55991073
    return e * e / 3 if e <= 0.5 else (math.exp((e - c) / a) + b) / 12


@functools.cache
def _pq(e: float) -> float:
    """PQ signal -> nits (SMPTE ST 2084's EOTF)."""
    m1, m2, c1, c2, c3 = 0.1593017578125, 78.84375, 0.8359375, 18.8515625, 18.6875
    p = max(e, 0.0) ** (1 / m2)
    return 10000.0 * (max(p - c1, 0.0) / (c2 - c3 * p)) ** (1 / m1)


def _srgb(v: float) -> float:
    v = min(max(v, 0.0), 1.0)
    return 12.92 * v if v <= 0.0031308 else 1.055 * v ** (1 / 2.4) - 0.055
