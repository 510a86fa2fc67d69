"""metadata: every embedded metadata field of an image, video or audio file, as JSON.

Images: all EXIF IFDs (IFD0, Exif, GPS, Interop, IFD1, a parsed MakerNote where
Pillow understands it) keyed by tag name, the XMP packet as text, and the basic
image facts. Video/audio: container and per-stream tags and technical fields.

The catalog already extracts the handful of facts it queries (date, camera, GPS);
this tool keeps *everything*, for the cases nobody anticipated.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

from mstore.tools.api import (
    BadInput,
    OutputArtifact,
    Progress,
    ToolInput,
    ToolRequest,
    ToolResult,
    decoding,
    raw_exif,
    register_heif,
)

MAX_BYTES = 4096  # binary blobs longer than this (MakerNote, embedded JPEGs) are only sized
MAX_ITEMS = 256  # long numeric arrays (TIFF strip offsets) likewise
# pointer tags: structure, not data (their IFDs are dumped under their own names)
_POINTERS = {0x8769, 0x8825, 0xA005, 0x014A}
_XMP_TAG = 700  # TIFF XMLPacket: reported as "xmp" text instead of an EXIF blob


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    if len(req.inputs) != 1:
        raise BadInput(f"metadata is per-asset: expected 1 input, got {len(req.inputs)}")
    inp = req.inputs[0]
    progress(0.0, "reading metadata")
    if inp.kind == "image":
        data = _image(inp)
    elif inp.kind in ("video", "audio"):
        data = _media(inp)
    else:
        raise BadInput(f"metadata does not read {inp.kind} assets")
    progress(1.0, "done")
    return ToolResult(artifacts=[OutputArtifact(kind="metadata", asset=inp.asset, data=data)])


# --------------------------------------------------------------------------- images


def _image(inp: ToolInput) -> dict[str, Any]:
    from PIL import Image

    register_heif()
    with decoding("image"):
        try:
            im = Image.open(inp.path)
        except Image.UnidentifiedImageError:
            raw = _raw(inp)  # a camera raw Pillow does not open (ARW, CR3, RAF, ORF, RW2)
            if raw is None:
                raise
            return raw
    with decoding("image"), im:
        info = im.info
        out: dict[str, Any] = {"format": im.format, "mode": im.mode,
                               "width": im.width, "height": im.height}
        try:
            frames = getattr(im, "n_frames", 1)
        except Exception:
            # a later directory Pillow cannot read (a CR2's JPEG thumbnail gives no size):
            # counting stopped there, so back to the first picture for what follows
            frames = 1
            im.seek(0)
        if isinstance(frames, int) and frames > 1:
            out["frames"] = frames
        try:
            exif = im.getexif()
        except Exception as e:  # malformed EXIF: keep the rest, say what went wrong
            out["exif_error"] = f"{type(e).__name__}: {e}"
            exif = Image.Exif()
        # pillow-heif applies the HEIF rotation itself and resets Orientation to 1;
        # report what the file says, not what the decoder did.
        original = info.get("original_orientation")
        if im.format == "HEIF" and isinstance(original, int):
            exif[0x0112] = original
        _exif_into(out, exif)
        out["xmp"] = _xmp(im, exif)
        icc = info.get("icc_profile")
        if icc:
            out["icc_profile_bytes"] = len(icc)
        # the rest of Pillow's info: dpi, PNG text chunks, GIF loop/duration, ...
        skip = {"exif", "xmp", "icc_profile", "XML:com.adobe.xmp", "original_orientation"}
        extra = {str(k): json_safe(v) for k, v in info.items() if k not in skip}
        if extra:
            out["info"] = extra
    return out


# the containers of camera raws that are not TIFF (or not quite: ORF's and RW2's magic)
_RAW_FORMATS = {"image/x-canon-cr3": "CR3", "image/x-fuji-raf": "RAF",
                "image/x-olympus-orf": "ORF", "image/x-panasonic-rw2": "RW2"}


def _raw(inp: ToolInput) -> dict[str, Any] | None:
    """A raw Pillow does not open: its EXIF read from where its format keeps it (None
    for a file that is not a raw)."""
    import warnings

    from PIL import ExifTags, Image

    with decoding("image"), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Corrupt EXIF data": what is read is reported
        tiffs = raw_exif(inp.path)
        if "IFD0" not in tiffs:
            return None
        exif = Image.Exif()
        exif.load(tiffs["IFD0"])
        out: dict[str, Any] = {"format": _RAW_FORMATS.get(inp.mime, "TIFF")}
        _exif_into(out, exif)
        for name, names in (("Exif", ExifTags.TAGS), ("GPS", ExifTags.GPSTAGS)):
            if name in tiffs:  # a directory kept apart (CR3's CMT2, CMT4)
                apart = Image.Exif()
                apart.load(tiffs[name])
                tags = _tags(apart.items(), names)
                if tags:
                    out["exif"][name] = tags
    if not out["exif"]:
        raise BadInput("cannot decode image: no EXIF directory Pillow reads in this raw")
    out["xmp"] = _xmp(None, exif)
    return out


def _exif_into(out: dict[str, Any], exif: Any) -> None:
    """Every directory of ``exif`` by tag name into ``out["exif"]``; a broken directory
    into ``out["exif_errors"]`` (one must not hide the others)."""
    from PIL import ExifTags

    ifds: dict[str, Any] = {}
    base = _tags(exif.items(), ExifTags.TAGS)
    if base:
        ifds["IFD0"] = base
    for name, ifd, names in (("Exif", ExifTags.IFD.Exif, ExifTags.TAGS),
                             ("GPS", ExifTags.IFD.GPSInfo, ExifTags.GPSTAGS),
                             ("Interop", ExifTags.IFD.Interop, ExifTags.TAGS),
                             ("IFD1", ExifTags.IFD.IFD1, ExifTags.TAGS),
                             ("MakerNote", ExifTags.IFD.MakerNote, {})):
        try:
            sub = exif.get_ifd(ifd)
        except Exception as e:
            out.setdefault("exif_errors", {})[name] = f"{type(e).__name__}: {e}"
            continue
        tags = _tags(sub.items(), names)
        if tags:
            ifds[name] = tags
    out["exif"] = ifds


def _tags(items: Any, names: dict[int, str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tag, value in items:
        if tag in _POINTERS or tag == _XMP_TAG:
            continue
        out[names.get(tag) or f"0x{tag:04X}"] = json_safe(value, tag=tag)
    return out


def _xmp(im: Any, exif: Any) -> str | None:
    info = im.info if im is not None else {}
    raw = info.get("xmp") or info.get("XML:com.adobe.xmp") or exif.get(_XMP_TAG)
    if not raw:
        return None
    if isinstance(raw, (bytes, bytearray)):
        raw = bytes(raw).decode("utf-8", "replace")
    # packets are padded with NULs or whitespace so editors can grow them in place
    return str(raw).strip("\x00 \n\r\t") or None


# --------------------------------------------------------------------------- video/audio


def _media(inp: ToolInput) -> dict[str, Any]:
    import av

    with decoding(inp.kind), av.open(inp.path, metadata_errors="replace") as c:
        container = {
            "format": c.format.name,
            "format_long": c.format.long_name,
            "duration": c.duration / 1_000_000 if c.duration else None,  # AV_TIME_BASE
            "start_time": c.start_time / 1_000_000 if c.start_time else None,
            "bit_rate": c.bit_rate or None,
            "tags": json_safe(dict(c.metadata)),
        }
        streams = [_stream(s) for s in c.streams]
        chapters = []
        try:
            for ch in c.chapters():
                tb = float(ch.get("time_base") or 0)
                chapters.append({"start": ch["start"] * tb, "end": ch["end"] * tb,
                                 "tags": json_safe(ch.get("metadata") or {})})
        except Exception:  # chapters are a nicety; their absence is not an error
            chapters = []
    out: dict[str, Any] = {"container": container, "streams": streams}
    if chapters:
        out["chapters"] = chapters
    return out


def _stream(s: Any) -> dict[str, Any]:
    cc = s.codec_context
    d: dict[str, Any] = {
        "index": s.index,
        "type": s.type,
        "codec": cc.name if cc is not None else None,
        "codec_long": cc.codec.long_name if cc is not None else None,
        "profile": s.profile,
        "language": s.language,
        "duration": float(s.duration * s.time_base) if s.duration and s.time_base else None,
        "frames": s.frames or None,
        "bit_rate": (cc.bit_rate or None) if cc is not None else None,
        "disposition": [f.name for f in type(s.disposition) if f.value and f in s.disposition],
        "tags": json_safe(dict(s.metadata)),
    }
    if s.type == "video" and cc is not None:
        rate = s.average_rate or s.guessed_rate
        d.update(width=cc.width, height=cc.height, pix_fmt=cc.format.name if cc.format else None,
                 fps=float(rate) if rate else None,
                 sample_aspect_ratio=str(cc.sample_aspect_ratio) if cc.sample_aspect_ratio
                 else None)
    elif s.type == "audio" and cc is not None:
        d.update(sample_rate=cc.sample_rate, channels=cc.channels,
                 layout=cc.layout.name if cc.layout else None,
                 sample_format=cc.format.name if cc.format else None)
    return {k: v for k, v in d.items() if v not in (None, [], {})}


# --------------------------------------------------------------------------- JSON


def json_safe(value: Any, tag: int | None = None) -> Any:
    """Any metadata value as plain JSON: rationals to floats, bytes to text or hex."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        # JSON readers (and msgspec) choke beyond 64 bits; such values are IDs anyway
        return value if -(2**63) <= value < 2**64 else str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return value.rstrip("\x00")
    if isinstance(value, numbers.Rational):  # IFDRational, Fraction
        if value.denominator == 0:
            return None  # EXIF writes 0/0 for "unknown"
        return float(value)
    if isinstance(value, numbers.Real):
        return json_safe(float(value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _bytes(bytes(value), tag)
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        if len(value) > MAX_ITEMS:
            return f"<{len(value)} values>"
        return [json_safe(v) for v in value]
    return str(value)


def _bytes(raw: bytes, tag: int | None) -> str:
    if tag == 0x9286 and len(raw) >= 8:  # UserComment: 8-byte charset code, then text
        code, raw = raw[:8], raw[8:]
        if code.startswith(b"UNICODE"):
            # byte order follows the file's; a NUL high byte first means big-endian
            enc = "utf-16-be" if raw[:1] == b"\x00" else "utf-16-le"
            return raw.decode(enc, "replace").rstrip("\x00 ")
        if code.startswith(b"JIS"):
            return raw.decode("shift_jis", "replace").rstrip("\x00 ")
    if len(raw) > MAX_BYTES:
        return f"<{len(raw)} bytes>"
    text = raw.rstrip(b"\x00")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError:
        return raw.hex()
    if all(ch.isprintable() or ch in "\n\r\t" for ch in decoded):
        return decoded.rstrip()
    return raw.hex()
