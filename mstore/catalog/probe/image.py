"""Images: size, orientation, capture time, camera and GPS, from headers and EXIF (Pillow),
and from an embedded XMP packet where EXIF says less (``xmp``); title, description and
keywords from EXIF, IPTC and XMP (``captions``).

Capture time, best first: EXIF DateTimeOriginal, XMP's (``exif:DateTimeOriginal``,
``photoshop:DateCreated``), EXIF DateTimeDigitized, XMP's (``exif:DateTimeDigitized``,
``xmp:CreateDate``), EXIF DateTime (IFD0's, which editors move). A position from EXIF's
GPS directory, else from XMP.

Nothing here decodes pixels. ``Image.open`` only parses headers; animated GIF/WebP
frame counts come from ``n_frames`` (which walks frames without decompressing).
The one thing Pillow cannot tell without decoding is whether the file is cut
short, so JPEG and PNG get a cheap structural check instead (marker / chunk walk),
and GIF, WebP and the ISO-BMFF formats (HEIC, HEIF, AVIF) those of ``complete``.

Decompression bombs: ``Image.MAX_IMAGE_PIXELS`` is set once to ``MAX_PIXELS``
and both the bomb error and the bomb warning become ``Meta.error``. The warning
filter uses ``warnings.catch_warnings``, which is process-global state: fine in
the catalog's worker processes, racy if probes ever run in threads.
"""

from __future__ import annotations

import io
import logging
import math
import re
import warnings
from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING, Any

from mstore.catalog.probe import captions, complete, describe_error, format_taken, jpeg, xmp
from mstore.model.meta import Meta

if TYPE_CHECKING:
    from PIL import Image as PILImage

    from mstore.catalog.probe import Source

    AnyExif = PILImage.Exif | jpeg.Exif  # what the EXIF readers below take

MAX_PIXELS = 200_000_000  # 200 MP: above any camera and most stitched panoramas

# Formats whose n_frames means animation. MPO (JPEG + depth map / gain map from
# phones), multi-page TIFF and HEIF collections also have n_frames > 1 but are not
# animations.
_ANIMATED = {"GIF", "PNG", "WEBP", "AVIF"}
_HEIF_MIMES = {"image/heic", "image/heif"}
_ISO_MIMES = _HEIF_MIMES | {"image/avif"}
_TRUNCATED = "image: truncated file"
# Camera raws built on TIFF: Pillow reads their EXIF, but IFD0's size is often a
# thumbnail's (NEF 160x120, DNG 256x171), so no width/height is recorded for them.
_TIFF_RAW = {
    "image/x-canon-cr2",
    "image/x-adobe-dng",
    "image/x-nikon-nef",
    "image/x-sony-arw",
    "image/x-pentax-pef",
}
# Camera raws Pillow does not open at all, whose EXIF lies in a structure of their own
# (mstore/tools/rawpreview.py describes each): read here, or nothing is recorded.
_OTHER_RAW = {
    "image/x-canon-cr3",
    "image/x-fuji-raf",
    "image/x-olympus-orf",
    "image/x-panasonic-rw2",
}
# Recognised, but nothing available here can parse them: kind/mime only, no error
# (flagging every file of a format in an archive as an error would bury the real problems).
_UNPARSED = {"image/jxl"}

# EXIF tags
_ORIENTATION, _MAKE, _MODEL, _DATETIME = 0x0112, 0x010F, 0x0110, 0x0132
_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_DT_ORIGINAL, _DT_DIGITIZED = 0x9003, 0x9004
_OFFSET, _OFFSET_ORIGINAL, _OFFSET_DIGITIZED = 0x9010, 0x9011, 0x9012

_EXIF_DATE = re.compile(r"(\d{4})[:\-/.](\d{2})[:\-/.](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"([+-])(\d{2}):?(\d{2})")
_BOMB_PIXELS = re.compile(r"\((\d+) pixels\)")
# End of JPEG entropy-coded data: 0xFF followed by anything but stuffing (00), a
# restart marker (D0-D7) or fill (FF).
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_SCAN = 1 << 20
_BAD_EXIF = "image: unreadable EXIF"

_pil_ready = False
_heif_ready = False


def probe_image(f: Source, size: int, mime: str) -> Meta:
    """Probe an image file; never raises for bad content (sets ``error`` instead)."""
    meta = Meta(kind="image", mime=mime)
    if mime in _UNPARSED:
        return meta
    if mime in _OTHER_RAW:
        return _raw_exif(meta, f, size)
    if mime == "image/jpeg" and isinstance(f, io.BytesIO):
        headers = jpeg.read_headers(f.getvalue(), MAX_PIXELS)  # in memory: not a copy
        if headers is not None:  # read as Pillow would, without it (probe/jpeg.py)
            return _from_jpeg_headers(meta, headers, f, size)
    Image = _pil(heif=mime in _HEIF_MIMES)
    raw = mime in _TIFF_RAW
    late_exif_wanted, packet = False, xmp.NOTHING
    with warnings.catch_warnings():
        # Pillow warns about oddities it reads through (corrupt EXIF, truncated
        # chunks); what matters is recorded, the rest would only flood the log.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(f) as im:
                late_exif_wanted, packet = _read(im, meta, raw)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
            m = _BOMB_PIXELS.search(str(e))
            meta.error = "image: decompression bomb" + (f" ({m[1]} pixels)" if m else "")
            return meta
        except Image.UnidentifiedImageError:
            if raw:
                return _raw_exif(meta, f, size)
            meta.error = "image: cannot identify image file"
            return meta
        except Exception as e:
            # keep whatever was read before; Pillow words truncation several ways, and a
            # cut WebP or HEIC often fails to open with a message that does not say so
            truncated = isinstance(e, (OSError, EOFError)) and "truncated" in str(e).lower()
            truncated = truncated or _cut_short(f, size, mime)
            meta.error = _TRUNCATED if truncated else describe_error("image", e)
            return meta

    # Pillow stopped at the headers; check the rest is there.
    if mime == "image/jpeg" and not _jpeg_complete(f, size):
        meta.error = _TRUNCATED
    elif _cut_short(f, size, mime):
        meta.error = _TRUNCATED
    elif mime == "image/png":
        complete, exif_data = _png_walk(f, size)
        if late_exif_wanted and exif_data:
            # eXIf after the image data: Pillow only finds it by decoding everything.
            exif = Image.Exif()
            try:
                exif.load(exif_data)
            except Exception:
                meta.error = _BAD_EXIF
            else:
                _apply_exif(meta, exif, transformed=False, raw=False, packet=packet)
        if not complete:
            meta.error = _TRUNCATED
    _fill_from_xmp(meta, packet)
    _motion_video(meta, f, size, packet)
    return meta


def _raw_exif(meta: Meta, f: Source, size: int) -> Meta:
    """A camera raw Pillow does not open (every ARW: its IFD0 gives no picture size; every
    CR3, RAF, ORF and RW2): the EXIF facts read from where its format keeps them
    (``rawpreview.exif_tiffs``) as from a JPEG's EXIF block, which they are. A raw is no
    error for what cannot be read there (a damaged one records no facts)."""
    from mstore.tools.rawpreview import exif_tiffs

    tiffs = exif_tiffs(f, size)
    if "IFD0" in tiffs:
        exif = jpeg.exif_of_directories(tiffs["IFD0"], tiffs.get("Exif"), tiffs.get("GPS"))
        if exif is not None:
            _apply_exif(meta, exif, transformed=False, raw=True)
    return meta


def _from_jpeg_headers(meta: Meta, headers: jpeg.Headers, f: Source, size: int) -> Meta:
    """What the Pillow path below finds in a JPEG, from the headers probe/jpeg.py read
    (``_jpeg_complete``'s walk to the first scan is the one jpeg.py made)."""
    meta.width, meta.height = headers.width, headers.height
    packet = _set_words(meta, headers.xmp, None, headers.exif)
    _apply_exif(meta, headers.exif, transformed=False, raw=False, packet=packet)
    _fill_from_xmp(meta, packet)
    _motion_video(meta, f, size, packet)
    if not _eoi_after(f, headers.scan, size):
        meta.error = _TRUNCATED
    return meta


def _cut_short(f: Source, size: int, mime: str) -> bool:
    """The structural checks of ``complete`` for the formats that have one here."""
    try:
        if mime == "image/gif":
            return not complete.gif_complete(f, size)
        if mime == "image/webp":
            return complete.chunked_truncated(f, size)
        if mime in _ISO_MIMES:
            return complete.iso_truncated(f, size)
    except Exception:
        return False  # an extra on top of Pillow: its own failure is no finding
    return False


def _pil(heif: bool) -> ModuleType:
    """Pillow's Image module, configured on first use (and the HEIF opener when needed)."""
    global _pil_ready, _heif_ready
    from PIL import Image

    if not _pil_ready:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        # Plugins log (at ERROR) what they then raise, e.g. a TIFF with absurd
        # SamplesPerPixel; with no handler configured that lands on stderr, in the
        # middle of the CLI's output. The failure is recorded in Meta.error instead.
        logging.getLogger("PIL").setLevel(logging.CRITICAL)
        _pil_ready = True
    if heif and not _heif_ready:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_ready = True
    return Image


def _read(im: PILImage.Image, meta: Meta, raw: bool) -> tuple[bool, xmp.Facts]:
    """Fill ``meta`` from an opened image. Returns whether EXIF must be looked for later,
    and the facts of its XMP packet."""
    if not raw:
        w, h = im.size
        if im.format == "TIFF":
            # Pillow (13 at least) reports a TIFF's size already turned by its Orientation
            # tag; start from the stored size so the turn below is applied exactly once.
            tw, th = im.tag_v2.get(256), im.tag_v2.get(257)
            if isinstance(tw, int) and isinstance(th, int) and tw > 0 and th > 0:
                w, h = tw, th
        meta.width, meta.height = w, h
    if im.format in _ANIMATED:
        n = getattr(im, "n_frames", 1)
        if isinstance(n, int) and n > 1:
            meta.frames = n
    if im.format == "PNG" and "exif" not in im.info and "Raw profile type exif" not in im.info:
        # PngImageFile.getexif() would decode the image to reach a late eXIf
        return True, _words(im, meta, None)
    try:
        exif = im.getexif()
    except Exception:
        meta.error = _BAD_EXIF  # Pillow's reasons quote raw header bytes; not worth keeping
        return False, _words(im, meta, None)
    packet = _words(im, meta, exif)
    # pillow_heif hands over images already rotated by the HEIF irot/imir boxes (and
    # resets the EXIF tag to 1, keeping the file's value in info["original_orientation"]).
    heif = im.format == "HEIF"
    if heif:
        orig = im.info.get("original_orientation")
        if isinstance(orig, int) and 1 <= orig <= 8:
            exif[_ORIENTATION] = orig
    _apply_exif(meta, exif, transformed=heif, raw=raw, packet=packet)
    return False, packet


def _words(im: PILImage.Image, meta: Meta, exif: AnyExif | None) -> xmp.Facts:
    """Title, description and keywords from the embedded XMP packet, IPTC and EXIF (read
    with the headers: nothing more of the file is read for them)."""
    try:
        from PIL import IptcImagePlugin

        iptc = IptcImagePlugin.getiptcinfo(im)
    except Exception:
        iptc = None
    return _set_words(meta, im.info.get("xmp"), iptc, exif)


def _set_words(meta: Meta, packet: bytes | str | None, iptc: dict | None,
               exif: AnyExif | None) -> xmp.Facts:
    """The words of an XMP packet, IPTC records (Pillow's ``getiptcinfo``) and EXIF, into
    ``meta``; the packet's facts are returned for ``_apply_exif`` and ``_fill_from_xmp``.
    A part that fails is left out; it is never an error of the image."""
    facts = xmp.read(packet)
    sources = [facts.words]
    try:
        sources.append(captions.from_iptc(iptc))
    except Exception:
        pass
    if exif is not None:
        try:
            sources.append(captions.from_exif(exif))
        except Exception:
            pass
    words = captions.merge(*sources)
    meta.title, meta.description = words.title, words.description
    meta.keywords = list(words.keywords) or None
    return facts


def _fill_from_xmp(meta: Meta, packet: xmp.Facts) -> None:
    """The capture time and place of an XMP packet where EXIF gave none (EXIF's own
    order with XMP's dates in it is ``_taken``'s)."""
    if not meta.taken and (packet.taken or packet.digitized):
        meta.taken, meta.taken_from = packet.taken or packet.digitized, "xmp"
    if packet.gps is not None and (meta.gps_lat is None or meta.gps_lon is None):
        meta.gps_lat, meta.gps_lon, meta.gps_alt = packet.gps
        meta.gps_from = "xmp"


def _motion_video(meta: Meta, f: Source, size: int, packet: xmp.Facts) -> None:
    """A motion photo's video, where its packet says one starts and an MP4 box does."""
    back = packet.video_from_end
    if back is None or not 8 <= back < size:
        return
    try:
        f.seek(size - back)
        box = f.read(8)
    except OSError:
        return
    if xmp.video_starts(box, back):
        meta.motion_video = back


def _apply_exif(meta: Meta, exif: AnyExif, *, transformed: bool, raw: bool,
                packet: xmp.Facts = xmp.NOTHING) -> None:
    """EXIF facts into ``meta``, the dates of the image's XMP ``packet`` ranked among
    EXIF's own. Each part is independent: a broken GPS IFD keeps the date."""
    parts: tuple[Callable[[Meta, AnyExif], None], ...] = (
        lambda m, e: _taken(m, e, packet), _camera, _gps)
    orientation = exif.get(_ORIENTATION)
    if isinstance(orientation, int) and 1 <= orientation <= 8:
        meta.orientation = orientation
        if orientation >= 5 and not transformed and not raw and meta.width is not None:
            meta.width, meta.height = meta.height, meta.width  # 5-8 turn the picture 90 degrees
    for part in parts:
        try:
            part(meta, exif)
        except Exception:
            meta.error = meta.error or _BAD_EXIF


def _taken(meta: Meta, exif: AnyExif, packet: xmp.Facts = xmp.NOTHING) -> None:
    """Capture time: DateTimeOriginal, else XMP's, else DateTimeDigitized, else XMP's, else
    DateTime; EXIF's each with its own OffsetTime* tag when that is present and sane."""
    sub = exif.get_ifd(_EXIF_IFD)
    candidates = (
        (None, lambda: exif_datetime(sub.get(_DT_ORIGINAL), sub.get(_OFFSET_ORIGINAL))),
        ("xmp", lambda: packet.taken),
        (None, lambda: exif_datetime(sub.get(_DT_DIGITIZED), sub.get(_OFFSET_DIGITIZED))),
        ("xmp", lambda: packet.digitized),
        (None, lambda: exif_datetime(exif.get(_DATETIME), sub.get(_OFFSET))),
    )
    for source, candidate in candidates:
        taken = candidate()
        if taken is not None:
            meta.taken, meta.taken_from = taken, source
            return


def exif_datetime(value: Any, offset: Any = None) -> str | None:
    """``"YYYY:MM:DD HH:MM:SS"`` (+ offset tag) as ``"YYYY-MM-DDTHH:MM:SS[+HH:MM]"``.

    None for the placeholders cameras write when their clock was never set
    ("0000:00:00 00:00:00", blanks), for years before 1800 and for impossible dates.
    """
    text = _as_text(value)
    if text is None:
        return None
    m = _EXIF_DATE.match(text.strip())
    if m is None:
        return None
    off = _as_text(offset)
    om = _EXIF_OFFSET.fullmatch(off.strip()) if off else None
    return format_taken(tuple(int(g) for g in m.groups()),
                        (om[1], int(om[2]), int(om[3])) if om is not None else None)


def _camera(meta: Meta, exif: AnyExif) -> None:
    meta.camera_make = _clean(exif.get(_MAKE))
    meta.camera_model = _clean(exif.get(_MODEL))


def _gps(meta: Meta, exif: AnyExif) -> None:
    gps = exif.get_ifd(_GPS_IFD)
    if not gps:
        return
    lat = _coordinate(gps.get(2), gps.get(1), "N", "S", 90.0)
    lon = _coordinate(gps.get(4), gps.get(3), "E", "W", 180.0)
    if lat is None or lon is None or (lat == 0.0 and lon == 0.0):
        return  # 0,0 is what receivers without a fix write
    meta.gps_lat, meta.gps_lon = round(lat, 7), round(lon, 7)
    alt = _number(gps.get(6))
    if alt is not None and abs(alt) <= 100_000:
        ref = gps.get(5)
        if isinstance(ref, bytes):
            ref = ref[0] if ref else 0
        meta.gps_alt = round(-alt if ref == 1 else alt, 3)  # ref 1: below sea level


def _coordinate(value: Any, ref: Any, pos: str, neg: str, limit: float) -> float | None:
    """Degrees/minutes/seconds rationals and an N/S (E/W) ref as signed decimal degrees."""
    if isinstance(value, (tuple, list)):
        parts = [_number(v) for v in value[:3]]
    else:
        parts = [_number(value)]
    nums = [p for p in parts if p is not None]
    if not nums or len(nums) != len(parts):
        return None
    d, m, s = (nums + [0.0, 0.0])[:3]
    if not (0 <= m <= 60 and 0 <= s <= 60):
        return None
    deg = abs(d) + m / 60 + s / 3600
    r = (_as_text(ref) or "").strip().upper()[:1]
    if r == neg or (r != pos and d < 0):  # no ref: trust the sign as written
        deg = -deg
    return deg if abs(deg) <= limit else None


def _number(value: Any) -> float | None:
    """A finite float from an EXIF rational/int, or None (x/0 rationals read as NaN)."""
    try:
        v = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return v if math.isfinite(v) else None


def _as_text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if not isinstance(value, str):
        return None
    return value.split("\x00", 1)[0]


def _clean(value: Any) -> str | None:
    """Make/Model: str only (odd writers store numbers or bytes), cut at NUL, trimmed."""
    if not isinstance(value, str):
        return None
    value = value.split("\x00", 1)[0].strip()
    return value[:100] or None


def _jpeg_complete(f: Source, size: int) -> bool:
    """Walk JPEG segments to the first scan, then look for an EOI marker after it.

    FF D9 never occurs inside entropy-coded data (an FF there is followed by 00 or a
    restart marker), so a file holding one after its first scan began was not cut
    before its end: it is looked for from the end of the file backwards, where it
    lies, instead of scanning every byte of every scan (a memory-speed search of a few
    bytes instead of a byte-by-byte one of megabytes). Data appended after the image
    (MPO second frames, vendor trailers) does not matter; a file cut anywhere before
    its EOI fails. Stray bytes before the first scan are skipped like libjpeg does.
    """
    pos = 2  # after SOI
    while pos < size:
        f.seek(pos)
        hdr = f.read(4)
        if len(hdr) < 2:
            return False
        marker = hdr[1]
        if hdr[0] != 0xFF or marker in (0x00, 0xFF) or 0xD0 <= marker <= 0xD7:
            # Not at a segment: stray bytes (libjpeg skips them with a warning).
            nxt = _next_marker(f, pos + 1, size)
            if nxt is None:
                return False
            pos = nxt
            continue
        if marker == 0xD9:  # EOI
            return True
        if marker in (0xD8, 0x01):  # standalone markers
            pos += 2
            continue
        if len(hdr) < 4:
            return False
        pos += 2 + max(int.from_bytes(hdr[2:4], "big"), 2)
        if marker == 0xDA:  # SOS: what follows is scans and their tables, then EOI
            return _eoi_after(f, pos, size)
    return False


def _eoi_after(f: Source, pos: int, size: int) -> bool:
    """Whether FF D9 occurs in the file at or after ``pos``, searched from its end."""
    if isinstance(f, io.BytesIO):  # the whole file in memory (getvalue: not a copy)
        return f.getvalue().rfind(b"\xff\xd9", pos, size) >= 0
    end = size
    while end > pos:
        start = max(pos, end - _SCAN)
        f.seek(start)
        chunk = f.read(end - start + (1 if end < size else 0))  # one byte over: a cut FF|D9
        if chunk.rfind(b"\xff\xd9") >= 0:
            return True
        end = start
    return False


def _next_marker(f: Source, pos: int, size: int) -> int | None:
    if isinstance(f, io.BytesIO):  # the whole file in memory (getvalue: not a copy)
        m = _JPEG_MARKER.search(f.getvalue(), pos, size)
        return m.start() if m is not None else None
    while pos < size:
        f.seek(pos)
        chunk = f.read(_SCAN)
        m = _JPEG_MARKER.search(chunk)
        if m is not None:
            return pos + m.start()
        if len(chunk) < _SCAN:
            return None
        pos += len(chunk) - 1  # a marker may straddle the boundary: keep the last byte
    return None


def _png_walk(f: Source, size: int) -> tuple[bool, bytes | None]:
    """(IEND reached, eXIf payload if any). Chunks are skipped by length, not read."""
    pos, exif = 8, None
    while pos + 12 <= size:
        f.seek(pos)
        hdr = f.read(8)
        if len(hdr) < 8:
            break
        length, ctype = int.from_bytes(hdr[:4], "big"), hdr[4:]
        if ctype == b"IEND":
            return True, exif
        if ctype == b"eXIf" and exif is None and length <= 1 << 24:
            exif = f.read(length)
        pos += 12 + length
    return False, exif
