"""Video and audio: container and stream facts from PyAV, without decoding a frame.

Opening a container runs FFmpeg's stream probing (bounded by ``probesize`` /
``analyzeduration``), which is all that is needed for codecs, sizes, rates,
duration and tags. The one thing FFmpeg no longer hands over without decoding is
the rotation: FFmpeg >= 5 stopped exporting the ``rotate`` tag, and the display
matrix now lives in the stream's coded side data, which PyAV (18) does not expose
(only ``VideoFrame.rotation``, i.e. after decoding). For MP4/MOV the same matrix
is the ``tkhd`` box's, so it is read from there.

``Meta.rotation`` is clockwise degrees the picture is turned for display
(0/90/180/270), as the old ``rotate`` tag and exiftool's "Rotation" report it; a
phone video shot in portrait has 90. PyAV's ``VideoFrame.rotation`` is the same
angle counter-clockwise (-90 for that video).

The kind is corrected from the streams actually present: an MP4 with only audio
is audio (mime audio/mp4), an "audio" file with a real video stream is video.
Cover art (an ``attached_pic`` video stream in MP3/M4A/FLAC) is not video.

Capture time, best first: the recorder's own (``com.apple.quicktime.creationdate``,
local time with its offset), the capture time of an XMP packet in the file (an MP4/MOV's
``uuid`` or ``XMP_`` box, which FFmpeg hands over with ``export_xmp``: what digiKam,
Lightroom or Premiere write when a person dates a video, e.g. a digitized tape), the
container's ``creation_time`` (when the file was written: a recording's, or a
digitization's), the packet's digitized time, and for AVCHD the H.264 stream's. A
position from the container's tags, else from the packet.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from datetime import datetime
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, TypeVar

from mstore.catalog.probe import complete, describe_error, format_taken, xmp
from mstore.model.meta import Meta
from mstore.tools.views import decoder_message

if TYPE_CHECKING:
    from av.container import InputContainer
    from av.stream import Stream

    from mstore.catalog.probe import Source

# FFmpeg's defaults, spelled out because they bound the work done per file: at most
# 5 MB read and 5 s of media analysed to find stream parameters.
_CONTAINER_OPTIONS = {"probesize": str(5_000_000), "analyzeduration": str(5_000_000),
                      "export_xmp": "1"}  # the MP4/MOV demuxer's; the others ignore it
_BUFFER = 64 << 10

_RECORDER_DATE = "com.apple.quicktime.creationdate"  # local time with its offset
_CREATION_TIME = "creation_time"  # UTC, when the file was written
_LOCATION_KEYS = ("com.apple.quicktime.location.ISO6709", "location", "location-eng")
_ZERO_DATES = ("1904-01-01", "1970-01-01")  # QuickTime / Unix epoch: "no date" written as 0
_MEDIA_DATE = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,]\d+)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?"
)
_ISO6709 = re.compile(r"([+-][\d.]+)([+-][\d.]+)([+-][\d.]+)?")
_MAX_BOXES = 10_000
_ISO_MIMES = {
    "video/mp4",
    "video/quicktime",
    "video/x-m4v",
    "video/3gpp",
    "video/3gpp2",
    "audio/mp4",
}
_CHUNKED_MIMES = {"audio/wav", "audio/aiff", "video/x-msvideo"}
# demuxers whose duration is a header field: a cut file still declares the whole (an
# MP3's is, when a Xing/Info/VBRI header gives its frame count; else FFmpeg estimates it
# from the file's size, which a cut file cannot contradict)
_HEADER_DURATION_FORMATS = {"flac", "matroska,webm", "asf"}
_TAIL_SECONDS = 3.0  # seek this far before the declared end ...
_TAIL_PACKETS = 5_000  # ... and read at most this many packets from there
# packets ending this much before the declared duration mean a cut file (encoder
# padding and rounding stay well below)
_TAIL_SLACK, _TAIL_SLACK_RATIO = 0.2, 0.005
_T = TypeVar("_T")
_ATTACHED_PIC = 1 << 10  # AV_DISPOSITION_ATTACHED_PIC


def probe_media(f: Source, size: int, kind: str, mime: str) -> Meta:
    """Probe a video or audio file; never raises for bad content (sets ``error`` instead)."""
    import av

    meta = Meta(kind=kind, mime=mime)
    iso = mime in _ISO_MIMES
    # before FFmpeg reads the file: it must be the only one moving its position after
    xing = mime == "audio/mpeg" and bool(_safe(complete.mp3_declares_length, f, size))
    f.seek(0)
    # Only read/seek/tell: PyAV may call close() on a file object it was given,
    # and the file belongs to the caller.
    reader = SimpleNamespace(read=f.read, seek=f.seek, tell=f.tell)
    try:
        container = av.open(
            reader,
            mode="r",
            metadata_errors="ignore",
            # seek an MP3 by its Xing table of contents, not by reading up to the target
            container_options={**_CONTAINER_OPTIONS, "usetoc": "1"} if xing else
            _CONTAINER_OPTIONS,
            buffer_size=_BUFFER,
        )
    except Exception as e:
        meta.error = describe_error(kind, decoder_message(e))
        # says more than "Invalid data found" or "End of file"
        if isinstance(e, EOFError) or _safe(_cut_short, f, size, mime):
            meta.error = f"{kind}: truncated file"
        return meta
    try:
        rotation = _fill(container, meta)
        # A cut file keeps its header: FFmpeg then reports the original's duration
        # (an MP3's Xing header, FLAC's STREAMINFO, Matroska's Duration element).
        if meta.kind == "audio" and (xing or container.format.name in _HEADER_DURATION_FORMATS):
            if _safe(_audio_ends_early, container, meta):
                meta.error = "audio: truncated file"
    except Exception as e:
        truncated = isinstance(e, EOFError)
        meta.error = f"{meta.kind}: truncated file" if truncated else describe_error(
            meta.kind, decoder_message(e))
        return meta
    finally:
        container.close()

    # FFmpeg happily opens an MP4 whose media data was cut off (a copy that died half
    # way) as long as the moov box came first, and a WAV whose data chunk was cut;
    # the container's sizes tell.
    if _safe(_cut_short, f, size, mime):
        meta.error = f"{meta.kind}: truncated file"
    if iso:
        if meta.kind == "video":
            rotation = _safe(_mp4_rotation, f, size)
    if rotation is not None and meta.kind == "video":
        meta.rotation = rotation
        if rotation in (90, 270) and meta.width is not None:
            meta.width, meta.height = meta.height, meta.width
    return meta


# AVCHD camcorders (.MTS) keep the recording's date and time in the H.264 stream, not
# the container: an SEI message of unregistered user data with this UUID, "MDPM"
# ("modified DV pack metadata"), a count and then 5-byte entries (a tag, 4 bytes); tag
# 0x18 holds a time-zone byte and the year and month, 0x19 day, hour, minute and
# second, all in BCD (the layout exiftool's H264 module documents). Panasonic puts it
# after the first frame, so the first packets are searched, not only the first.
_MDPM = bytes.fromhex("17ee8c60f84d11d98cd60800200c9a66") + b"MDPM"
_MDPM_PACKETS = 60


def _avchd_taken(container: InputContainer, stream: Any) -> str | None:
    for n, packet in enumerate(container.demux(stream)):
        if n >= _MDPM_PACKETS:
            break
        data = bytes(packet)
        at = data.find(_MDPM)
        if at >= 0:
            # inside a NAL unit "00 00 03" stands for "00 00" (emulation prevention)
            return _mdpm_taken(data[at + 20:at + 20 + 1 + 5 * 255].replace(b"\0\0\x03", b"\0\0"))
    return None


def _mdpm_taken(body: bytes) -> str | None:
    """The local recording time ("YYYY-MM-DDTHH:MM:SS") of an MDPM block (after its
    marker), or None. The time-zone byte is left out: its DST flag makes its offset
    ambiguous, and a time without an offset is local time, as EXIF's is."""
    entries: dict[int, bytes] = {}
    for at in range(1, 1 + 5 * (body[0] if body else 0), 5):
        if at + 5 > len(body):
            break
        entries[body[at]] = body[at + 1:at + 5]
    date, clock = entries.get(0x18), entries.get(0x19)
    if date is None or clock is None:
        return None
    digits = [_bcd(b) for b in (*date[1:], *clock)]
    if None in digits:
        return None
    century, year, month, day, hour, minute, second = digits  # type: ignore[misc]
    try:
        when = datetime(century * 100 + year, month, day, hour, minute, second)
    except ValueError:
        return None
    return when.isoformat() if 1990 <= when.year <= 2100 else None


def _bcd(b: int) -> int | None:
    return (b >> 4) * 10 + (b & 15) if b >> 4 < 10 and b & 15 < 10 else None


def _safe(walk: Callable[..., _T], *args: Any) -> _T | None:
    """Run a structure check; they are extras on top of FFmpeg, so their failure is no
    error."""
    try:
        return walk(*args)
    except Exception:
        return None


def _cut_short(f: Source, size: int, mime: str) -> bool:
    if mime in _ISO_MIMES:
        return complete.iso_truncated(f, size)
    if mime in _CHUNKED_MIMES:
        return complete.chunked_truncated(f, size)
    return False


def _audio_ends_early(container: InputContainer, meta: Meta) -> bool:
    """Whether the audio packets that exist end well before the declared duration.

    Seeks to just before the declared end and demuxes (never decodes) what is left:
    a few packets in a whole file, none or the last ones that exist in a cut one.
    """
    if meta.duration is None or not container.streams.audio:
        return False
    a = container.streams.audio[0]
    tb = a.time_base
    if tb is None:
        return False
    start = (container.start_time or 0) / 1_000_000
    target = start + max(0.0, meta.duration - _TAIL_SECONDS)
    try:
        container.seek(int(target / tb), stream=a, backward=True, any_frame=True)
    except EOFError:
        return True  # the declared end lies past the end of the file
    end = 0.0
    for n, packet in enumerate(container.demux(a)):
        if n >= _TAIL_PACKETS:
            return False  # the seek landed far back; no verdict rather than a long read
        if packet.pts is not None and packet.duration:
            end = max(end, float((packet.pts + packet.duration) * tb))
    lasts = end - start
    return lasts < meta.duration - max(_TAIL_SLACK, _TAIL_SLACK_RATIO * meta.duration)


def _fill(container: InputContainer, meta: Meta) -> int | None:
    """Fill ``meta`` from an open container; returns the ``rotate`` tag if there is one."""
    video = [s for s in container.streams.video if not int(s.disposition) & _ATTACHED_PIC]
    audio = list(container.streams.audio)
    kind = "video" if video else "audio" if audio else meta.kind
    if kind != meta.kind:
        meta.mime = _retype(meta.mime, kind)
        meta.kind = kind
    if not video and not audio:
        meta.error = f"{kind}: no audio or video stream"
    elif any(s.codec_context is None for s in video[:1] + audio[:1]):
        meta.error = f"{kind}: unknown codec"  # FFmpeg could not even name it

    if container.duration is not None and container.duration > 0:
        meta.duration = round(container.duration / 1_000_000, 3)  # AV_TIME_BASE units
    else:
        for s in video[:1] + audio[:1]:
            if s.duration and s.time_base:
                meta.duration = round(float(s.duration * s.time_base), 3)
                break

    rotation = None
    if video:
        v = video[0]
        meta.video_codec = _codec(v)
        cc = v.codec_context
        if cc is not None and cc.width > 0 and cc.height > 0:
            meta.width, meta.height = cc.width, cc.height
        meta.fps = _fps(v)
        rotation = _rotate_tag(v.metadata.get("rotate"))
    if audio:
        a = audio[0]
        meta.audio_codec = _codec(a)
        cc = a.codec_context
        if cc is not None:
            meta.sample_rate = cc.sample_rate or None
            meta.channels = cc.channels or None

    tags = container.metadata
    packet = xmp.read(tags.get("xmp")) if "xmp" in tags else xmp.NOTHING
    main = (video + audio)[:1]  # the stream whose own creation_time is the fallback
    candidates = [
        (None, lambda: media_datetime(tags.get(_RECORDER_DATE))),
        ("xmp", lambda: packet.taken),
        (None, lambda: media_datetime(tags.get(_CREATION_TIME))),
        *((None, lambda s=s: media_datetime(s.metadata.get(_CREATION_TIME))) for s in main),
        ("xmp", lambda: packet.digitized),
    ]
    meta.taken, meta.taken_from = next(((t, source) for source, candidate in candidates
                                        if (t := candidate()) is not None), (None, None))
    if meta.taken is None and video and meta.video_codec == "h264" and (
            container.format.name == "mpegts"):  # AVCHD: the date is in the video stream
        meta.taken = _safe(_avchd_taken, container, video[0])
    for key in _LOCATION_KEYS:
        loc = iso6709(tags.get(key))
        if loc is not None:
            meta.gps_lat, meta.gps_lon, meta.gps_alt = loc
            break
    if meta.gps_lat is None and packet.gps is not None:
        meta.gps_lat, meta.gps_lon, meta.gps_alt = packet.gps
        meta.gps_from = "xmp"
    return rotation


def _retype(mime: str, kind: str) -> str:
    # mp4 is the one family with a registered type per kind; elsewhere swap the prefix
    # (audio/x-matroska, audio/webm, video/ogg, audio/mp2t ...).
    if mime == "video/mp4":
        return "audio/mp4"
    if mime == "audio/mp4":
        return "video/mp4"
    base, _, sub = mime.partition("/")
    return f"{kind}/{sub}" if base in ("audio", "video") else mime


def _codec(stream: Stream) -> str | None:
    # canonical_name is the format's name ("mp3", "av1"), not the decoder's ("mp3float",
    # "libdav1d"), so it does not change with how FFmpeg was built.
    cc = stream.codec_context
    if cc is None:
        return None
    try:
        return cc.codec.canonical_name or cc.name or None
    except Exception:
        return cc.name or None


def _fps(stream: Any) -> float | None:
    for rate in (stream.average_rate, stream.guessed_rate):
        if rate:
            fps = float(rate)
            if 0 < fps <= 1000:
                return round(fps, 3)
    return None


def _rotate_tag(value: Any) -> int | None:
    try:
        return int(round(float(value))) % 360 if value is not None else None
    except (TypeError, ValueError, OverflowError):
        return None




def media_datetime(value: Any) -> str | None:
    """An ISO 8601 tag value as ``"YYYY-MM-DDTHH:MM:SS[+HH:MM]"`` ("Z" is "+00:00").

    None for unparsable values and for the 1904/1970 epochs that muxers write for "unset".
    """
    if not isinstance(value, str):
        return None
    m = _MEDIA_DATE.match(value.strip())
    if m is None:
        return None
    off = m[7]
    digits = off[1:].replace(":", "") if off else ""
    out = format_taken(tuple(int(g) for g in m.groups()[:6]),
                       ("+", 0, 0) if off == "Z" else
                       (off[0], int(digits[:2]), int(digits[2:4] or 0)) if off else None)
    return None if out is None or out[:10] in _ZERO_DATES else out


def iso6709(value: Any) -> tuple[float, float, float | None] | None:
    """(lat, lon, alt) from an ISO 6709 string such as ``"+37.7858-122.4064+012.000/"``.

    Degrees may also be written as DDMM.mmm or DDMMSS.sss (the number of integer digits
    says which); 0,0 and out-of-range values are rejected.
    """
    if not isinstance(value, str):
        return None
    m = _ISO6709.match(value.strip())
    if m is None:
        return None
    lat, lon = _iso6709_angle(m[1], 2), _iso6709_angle(m[2], 3)
    if lat is None or lon is None or abs(lat) > 90 or abs(lon) > 180:
        return None
    if lat == 0 and lon == 0:
        return None
    alt = None
    if m[3]:
        try:
            alt = float(m[3])
        except ValueError:
            alt = None
        if alt is not None and not (math.isfinite(alt) and abs(alt) <= 100_000):
            alt = None
    return round(lat, 7), round(lon, 7), (round(alt, 3) if alt is not None else None)


def _iso6709_angle(text: str, deg_digits: int) -> float | None:
    sign = -1.0 if text[0] == "-" else 1.0
    body = text[1:]
    whole, _, _frac = body.partition(".")
    try:
        if len(whole) == deg_digits:
            v = float(body)
        elif len(whole) == deg_digits + 2:  # DDMM.mmm
            v = int(whole[:deg_digits]) + float(body[deg_digits:]) / 60
        elif len(whole) == deg_digits + 4:  # DDMMSS.sss
            v = (
                int(whole[:deg_digits])
                + int(whole[deg_digits : deg_digits + 2]) / 60
                + float(body[deg_digits + 2 :]) / 3600
            )
        else:
            return None
    except ValueError:
        return None
    return sign * v if math.isfinite(v) else None


# -- ISO-BMFF box walk (rotation) ---------------------------------------------------


def _mp4_rotation(f: Source, size: int) -> int | None:
    """Rotation of the first video track from its ``tkhd`` matrix (seeks, reads ~100 bytes)."""
    moov = next((b for b in _boxes(f, 0, size) if b[0] == b"moov"), None)
    if moov is None:
        return None
    for btype, start, end in _boxes(f, moov[1], moov[2]):
        if btype != b"trak":
            continue
        tkhd, handler = b"", b""
        for t, s, e in _boxes(f, start, end):
            if t == b"tkhd":
                f.seek(s)
                tkhd = f.read(min(e - s, 96))
            elif t == b"mdia":
                for t2, s2, _e2 in _boxes(f, s, e):
                    if t2 == b"hdlr":
                        f.seek(s2)
                        handler = f.read(12)[8:12]  # version/flags, pre_defined, type
        if handler == b"vide":
            return _tkhd_rotation(tkhd)
    return None


def _boxes(f: Source, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes in ``[start, end)``.

    A box running past ``end`` (a truncated file) is clamped to it, so a moov
    that lost its tail still yields the track headers it has.
    """
    pos = start
    for _ in range(_MAX_BOXES):
        if pos + 8 > end:
            return
        f.seek(pos)
        hdr = f.read(16)
        if len(hdr) < 8:
            return
        box_size, btype, hlen = int.from_bytes(hdr[:4], "big"), hdr[4:8], 8
        if box_size == 1:
            if len(hdr) < 16:
                return
            box_size, hlen = int.from_bytes(hdr[8:16], "big"), 16
        elif box_size == 0:
            box_size = end - pos  # "to the end of the file"
        if box_size < hlen:
            return
        yield btype, pos + hlen, min(pos + box_size, end)
        pos += box_size


def _tkhd_rotation(tkhd: bytes) -> int | None:
    # The matrix {a b u, c d v, x y w} follows the times/ids (64-bit ones in version 1).
    off = 52 if tkhd[:1] == b"\x01" else 40
    if len(tkhd) < off + 20:
        return None
    a = int.from_bytes(tkhd[off : off + 4], "big", signed=True)
    b = int.from_bytes(tkhd[off + 4 : off + 8], "big", signed=True)
    if a == 0 and b == 0:
        return None
    return int(round(math.degrees(math.atan2(b, a)))) % 360
