"""Decide what a file is from its first bytes: (kind, mime), never from its name.

The archive is full of misnamed files (``.jpg`` that are PNGs, ``.mov`` that are
MP4s, extensionless exports), so the file name is never consulted. ``head`` is
the first 64 KiB of the content; every check here must tolerate a shorter head
(a small file) and a head that cuts a structure in half.

Order matters: strong signatures (several fixed bytes) are tried before weak
ones (MP3/ADTS frame sync, MPEG-TS sync bytes), and text is tried last, so a
binary format that happens to start with printable bytes is still recognised.
"""

from __future__ import annotations

import codecs
import re

EMPTY = ("other", "application/x-empty")
UNKNOWN = ("other", "application/octet-stream")

# Exact prefixes, tried in order. Longer/stronger signatures come first.
_PREFIXES: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "image", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image", "image/png"),
    (b"GIF87a", "image", "image/gif"),
    (b"GIF89a", "image", "image/gif"),
    (b"FUJIFILMCCD-RAW", "image", "image/x-fuji-raf"),
    (b"IIRO\x08\x00", "image", "image/x-olympus-orf"),
    (b"IIRS\x08\x00", "image", "image/x-olympus-orf"),
    (b"MMOR\x00\x00", "image", "image/x-olympus-orf"),
    (b"IIU\x00\x08\x00", "image", "image/x-panasonic-rw2"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "image", "image/jp2"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", "image", "image/jxl"),
    (b"\xff\x0a", "image", "image/jxl"),  # bare JPEG XL codestream
    (b"8BPS\x00\x01", "image", "image/vnd.adobe.photoshop"),
    (b"8BPS\x00\x02", "image", "image/vnd.adobe.photoshop"),  # PSB
    (b"qoif", "image", "image/qoi"),
    (b"DDS |\x00\x00\x00", "image", "image/vnd.ms-dds"),  # "DDS " and its header's size, 124
    (b"fLaC", "audio", "audio/flac"),
    (b"#!AMR", "audio", "audio/amr"),
    (b"caff\x00\x01", "audio", "audio/x-caf"),  # Apple's Core Audio Format (voice memos)
    (b"FLV\x01", "video", "video/x-flv"),
    (b"\x00\x00\x01\xba", "video", "video/mpeg"),  # MPEG program stream (.mpg, .vob)
    (b"\x00\x00\x01\xb3", "video", "video/mpeg"),  # MPEG-1/2 video elementary stream
    (b"%PDF-", "document", "application/pdf"),
    (b"PK\x03\x04", "other", "application/zip"),
    (b"PK\x05\x06", "other", "application/zip"),  # empty archive
    (b"PK\x07\x08", "other", "application/zip"),  # spanned archive
    (b"\x1f\x8b", "other", "application/gzip"),
    (b"\xfd7zXZ\x00", "other", "application/x-xz"),
    (b"\x28\xb5\x2f\xfd", "other", "application/zstd"),
    (b"7z\xbc\xaf\x27\x1c", "other", "application/x-7z-compressed"),
    (b"Rar!\x1a\x07", "other", "application/vnd.rar"),
    (b"SQLite format 3\x00", "other", "application/vnd.sqlite3"),
    # what else a person's archive holds: known, so no error (unknown content is one)
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "other", "application/x-ole-storage"),  # .doc .xls
    (b"bplist00", "other", "application/x-bplist"),  # Apple's binary property lists
    (b"\x7fELF", "other", "application/x-elf"),
    (b"MSCF\x00\x00\x00\x00", "other", "application/vnd.ms-cab-compressed"),
    (b"L\x00\x00\x00\x01\x14\x02\x00", "other", "application/x-ms-shortcut"),  # .lnk
    (b"DVDVIDEO-V", "other", "application/x-dvd-ifo"),  # a DVD's VIDEO_TS .IFO/.BUP
    (b"wOFF", "other", "font/woff"),
    (b"wOF2", "other", "font/woff2"),
    (b"MThd\x00\x00\x00\x06", "other", "audio/midi"),  # notes, not sound: no decoder plays it
)

# ISO base media file format (``ftyp`` box) brands.
_HEIC_BRANDS = {b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"hevm", b"hevs"}
_HEIF_BRANDS = {b"mif1", b"msf1", b"mif2"}
_AVIF_BRANDS = {b"avif", b"avis"}
_AUDIO_MP4_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}
_M4V_BRANDS = {b"M4V ", b"M4VH", b"M4VP"}
# Top-level QuickTime atoms that old .mov files (no ``ftyp``) start with.
_QT_ATOMS = {b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}

# MPEG audio (MP3) bitrates in kbit/s, by (version is MPEG-1, layer) and bitrate index.
_MPA_BITRATES = {
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MPA_RATES = (44100, 48000, 32000)

# Bytes that do not occur in text: C0 controls other than \t \n \v \f \r and ESC, plus DEL.
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 11, 12, 13, 27)) + b"\x7f"
_HIGH = bytes(range(0x80, 0x100))
_MAX_CONTROL_RATIO = 0.01
_MAX_LATIN1_HIGH_RATIO = 0.3  # latin-1 prose is mostly ASCII; random bytes are half high


_ANY_PREFIX = tuple(p for p, _k, _m in _PREFIXES)


def sniff(head: bytes) -> tuple[str, str]:
    """Return ``(kind, mime)`` for content starting with ``head`` (the first 64 KiB).

    ``kind`` is one of image/video/audio/text/document/other. Never raises.
    """
    if not head:
        return EMPTY
    try:
        return _sniff(head)
    except Exception:  # a bug in a check must not lose the file; it is just unknown
        return UNKNOWN


def _sniff(head: bytes) -> tuple[str, str]:
    if head.startswith(_ANY_PREFIX):  # one C-level test before the per-format loop
        for prefix, kind, mime in _PREFIXES:
            if head.startswith(prefix):
                return kind, mime

    tag4, tag8 = head[:4], head[8:12]
    if tag4 in (b"RIFF", b"RF64", b"BW64"):
        if tag8 == b"WEBP":
            return "image", "image/webp"
        if tag8 in (b"AVI ", b"AVIX"):
            return "video", "video/x-msvideo"
        if tag8 == b"WAVE":
            return "audio", "audio/wav"
    if tag4 == b"FORM" and tag8 in (b"AIFF", b"AIFC"):
        return "audio", "audio/aiff"
    if tag4 == b".RMF":  # RealMedia: video if a stream is RealVideo
        return ("video", "video/vnd.rn-realvideo") if b"video/x-pn-realvideo" in head else (
            "audio", "audio/vnd.rn-realaudio")
    # four letters text could start with too: the fields after them must fit
    if tag4 == b".snd" and 24 <= int.from_bytes(head[4:8], "big") <= 65536:  # Sun/NeXT AU
        return "audio", "audio/basic"
    if tag4 == b"wvpk" and 0x402 <= int.from_bytes(head[8:10], "little") <= 0x410:
        return "audio", "audio/x-wavpack"
    if tag4 == b"MAC " and 3800 <= int.from_bytes(head[4:6], "little") <= 4200:
        return "audio", "audio/x-ape"  # Monkey's Audio
    if tag4 == b"!BDN" and head[8:10] == b"SM":
        return "other", "application/vnd.ms-outlook-pst"
    if head[:3] in (b"FWS", b"CWS", b"ZWS") and 0 < head[3] < 64 and 8 < int.from_bytes(
            head[4:8], "little") < 1 << 28:  # Flash; text there would be a length of GBs
        return "other", "application/x-shockwave-flash"
    if tag4[:3] == b"\x1f\x07\x00" and tag4[3] & 0x7F == 0x3F and head[80:82] == b"\x3f\x07":
        return "video", "video/x-dv"  # raw DV (a camcorder's tape): a DIF header, subcode next
    if head.startswith(b"MZ") and _is_pe(head):
        return "other", "application/vnd.microsoft.portable-executable"
    if tag4 in (b"\x00\x01\x00\x00", b"OTTO") and _is_font(head):
        return "other", "font/ttf" if tag4 == b"\x00\x01\x00\x00" else "font/otf"
    if len(head) > 32774 and head[32769:32774] == b"CD001":
        return "other", "application/x-iso9660-image"
    if head[60:68] == b"BOOKMOBI":
        return "other", "application/x-mobipocket-ebook"
    if tag4 in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        return "image", _tiff_mime(head)
    if tag4 == b"\x1a\x45\xdf\xa3":
        doctype = _ebml_doctype(head)
        return "video", "video/webm" if doctype == b"webm" else "video/x-matroska"
    if tag4 == b"OggS":
        # Theora's identification header is "\x80theora"; a video Ogg usually also
        # carries a Vorbis stream, so look for Theora anywhere in the head.
        return ("video", "video/ogg") if b"\x80theora" in head else ("audio", "audio/ogg")
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):  # ASF header object GUID
        # The ASF video media GUID appears in a stream properties object near the start.
        video_guid = b"\xc0\xef\x19\xbc\x4d\x5b\xcf\x11\xa8\xfd\x00\x80\x5f\x5c\x44\x2b"
        if video_guid in head:
            return "video", "video/x-ms-asf"
        return "audio", "audio/x-ms-wma"
    iso = _iso_bmff(head)
    if iso is not None:
        return iso
    if head.startswith(b"BM") and _is_bmp(head):
        return "image", "image/bmp"
    small_image = _small_image(head)  # formats whose signature is weak: checked further
    if small_image is not None:
        return "image", small_image
    if head.startswith(b"ID3"):
        return _after_id3(head)
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Before the frame-sync checks: FF FE is also a plausible MPEG audio sync.
        text_mime = _text_mime(head)
        if text_mime is not None:
            return "text", text_mime
    if _is_adts(head, 0):
        return "audio", "audio/aac"
    if _is_mpeg_audio(head, 0):
        return "audio", "audio/mpeg"
    if _is_ts(head, 0, 188) or _is_ts(head, 4, 192):  # 192: M2TS / AVCHD .mts
        return "video", "video/mp2t"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "other", "application/x-tar"
    if head.startswith(b"BZh") and head[4:10] == b"\x31\x41\x59\x26\x53\x59":
        return "other", "application/x-bzip2"

    text_mime = _text_mime(head)
    if text_mime is not None:
        return "text", text_mime
    return UNKNOWN


def _is_pe(head: bytes) -> bool:
    """A Windows program or library: the DOS header's pointer leads to "PE\\0\\0"."""
    if len(head) < 64:
        return False
    at = int.from_bytes(head[60:64], "little")
    return 64 <= at <= len(head) - 4 and head[at:at + 4] == b"PE\x00\x00"


def _is_font(head: bytes) -> bool:
    """A TrueType or OpenType font: its version, then a table count whose search fields
    agree."""
    if len(head) < 12:
        return False
    tables = int.from_bytes(head[4:6], "big")
    search = int.from_bytes(head[6:8], "big")
    return 0 < tables < 256 and search == 16 * (1 << (tables.bit_length() - 1))


_PNM = re.compile(rb"P[1-6]\s+(?:#[^\n]*\n\s*)*\d+\s+(?:#[^\n]*\n\s*)*\d+\s")
_PAM = re.compile(rb"P7\s*\n(?:#[^\n]*\n|\s)*(?:WIDTH|HEIGHT|DEPTH|MAXVAL|TUPLTYPE)\s")


def _small_image(head: bytes) -> str | None:
    """The mime of an icon (ICO, CUR), a Netpbm picture (PBM, PGM, PPM, PAM), a PCX, SGI or
    TGA picture — formats Pillow reads whose first bytes say little or nothing on their
    own, so their headers' other fields must make sense too; None for anything else."""
    first = head[:1]
    if first == b"\x00":
        if len(head) >= 22 and head[1:4] in (b"\x00\x01\x00", b"\x00\x02\x00"):
            count = int.from_bytes(head[4:6], "little")
            size = int.from_bytes(head[14:18], "little")
            offset = int.from_bytes(head[18:22], "little")
            if 1 <= count <= 256 and head[9] == 0 and size > 0 and offset >= 6 + 16 * count:
                return "image/x-icon"
    elif first == b"P":
        if _PNM.match(head) or _PAM.match(head):
            return "image/x-portable-anymap"
    elif first == b"\x0a":
        if (len(head) >= 128 and head[1] in (0, 2, 3, 4, 5) and head[2] == 1
                and head[3] in (1, 2, 4, 8) and head[64] == 0 and head[65] in (1, 2, 3, 4)):
            xmin, ymin, xmax, ymax = (int.from_bytes(head[i:i + 2], "little")
                                      for i in (4, 6, 8, 10))
            if xmax >= xmin and ymax >= ymin:
                return "image/x-pcx"
    elif first == b"\x01":
        if (len(head) >= 512 and head[1] == 0xDA and head[2] in (0, 1) and head[3] in (1, 2)
                and int.from_bytes(head[4:6], "big") in (1, 2, 3)):
            return "image/x-sgi"
    if _is_tga(head):
        return "image/x-tga"
    return None


def _is_tga(head: bytes) -> bool:
    """A Truevision TGA picture (games' screenshots, old scans): no signature at its start,
    so every field of its 18-byte header must hold a value TGA allows, and a picture
    without a palette must have its palette fields zero."""
    if len(head) < 18:
        return False
    cmap, kind, depth = head[1], head[2], head[16]
    if (cmap not in (0, 1) or kind not in (1, 2, 3, 9, 10, 11) or depth not in (8, 15, 16, 24, 32)
            or head[17] & 0xC0 or not int.from_bytes(head[12:14], "little")
            or not int.from_bytes(head[14:16], "little")):
        return False
    if cmap == 0:
        return kind not in (1, 9) and head[3:8] == bytes(5)
    return kind in (1, 9) and head[7] in (15, 16, 24, 32) and depth == 8


def _iso_bmff(head: bytes) -> tuple[str, str] | None:
    """Classify an ISO-BMFF / QuickTime file by its ``ftyp`` brands (or first atom)."""
    if len(head) < 12:
        return None
    box = head[4:8]
    if box != b"ftyp":
        size = int.from_bytes(head[:4], "big")
        if box in _QT_ATOMS and (size in (0, 1) or size >= 8):
            return "video", "video/quicktime"
        return None
    size = int.from_bytes(head[:4], "big")
    end = min(len(head), size if size >= 16 else 16)
    major = head[8:12]
    brands = {major} | {head[i : i + 4] for i in range(16, end - 3, 4)}

    if major in _HEIC_BRANDS:
        return "image", "image/heic"
    if major in _AVIF_BRANDS:
        return "image", "image/avif"
    if major in _HEIF_BRANDS:
        # mif1 is the generic still-image brand; the compatible brands say which codec.
        if brands & _AVIF_BRANDS:
            return "image", "image/avif"
        if brands & _HEIC_BRANDS:
            return "image", "image/heic"
        return "image", "image/heif"
    if major == b"crx ":
        return "image", "image/x-canon-cr3"
    if major in _AUDIO_MP4_BRANDS:
        return "audio", "audio/mp4"
    if major == b"qt  ":
        return "video", "video/quicktime"
    if major in _M4V_BRANDS:
        return "video", "video/x-m4v"
    if major.startswith(b"3g2"):
        return "video", "video/3gpp2"
    if major.startswith(b"3gp") or major.startswith(b"3ge") or major.startswith(b"3gg"):
        return "video", "video/3gpp"
    # An unknown major brand: still images declare mif1/heic/avif among the compatible ones.
    if brands & _AVIF_BRANDS:
        return "image", "image/avif"
    if brands & _HEIC_BRANDS:
        return "image", "image/heic"
    return "video", "video/mp4"


def _ebml_doctype(head: bytes) -> bytes | None:
    """The Matroska DocType string ("matroska" / "webm") from the EBML header."""
    i = head.find(b"\x42\x82", 4, 64)  # DocType element id
    if i < 0 or i + 3 > len(head):
        return None
    first = head[i + 2]
    if not first:
        return None
    width = 8 - first.bit_length() + 1  # EBML variable-size integer: leading zeros = extra bytes
    length = first & ((1 << (8 - width)) - 1)
    for b in head[i + 3 : i + 2 + width]:
        length = (length << 8) | b
    start = i + 2 + width
    return head[start : start + min(length, 32)].rstrip(b"\x00")


def _tiff_mime(head: bytes) -> str:
    """TIFF, or one of the camera raw formats built on TIFF."""
    if head[8:10] == b"CR":
        return "image/x-canon-cr2"
    tags = _tiff_ifd0(head)
    if 0xC612 in tags:  # DNGVersion
        return "image/x-adobe-dng"
    # NEF/ARW/PEF keep the raw data in a SubIFD (0x014A) and say who made them; a scanner's
    # plain TIFF ("Nikon" film scanners!) has a Make but no SubIFDs.
    make = tags.get(0x010F, b"").upper()
    if 0x014A in tags:
        if make.startswith(b"NIKON"):
            return "image/x-nikon-nef"
        if make.startswith(b"SONY"):
            return "image/x-sony-arw"
        if make.startswith((b"PENTAX", b"RICOH")):
            return "image/x-pentax-pef"
    return "image/tiff"


def _tiff_ifd0(head: bytes) -> dict[int, bytes]:
    """Tag ids of the first IFD, with the value bytes of the ASCII Make tag when in ``head``."""
    order = "little" if head[:2] == b"II" else "big"
    if head[2:4] not in (b"*\x00", b"\x00*"):
        return {}  # BigTIFF: no raw format uses it; treat as plain TIFF
    off = int.from_bytes(head[4:8], order)
    if off + 2 > len(head):
        return {}
    count = int.from_bytes(head[off : off + 2], order)
    tags: dict[int, bytes] = {}
    for i in range(min(count, 512)):
        e = off + 2 + 12 * i
        if e + 12 > len(head):
            break
        tag = int.from_bytes(head[e : e + 2], order)
        value = b""
        if tag == 0x010F:
            n = int.from_bytes(head[e + 4 : e + 8], order)
            if n <= 4:
                value = head[e + 8 : e + 8 + n]
            else:
                p = int.from_bytes(head[e + 8 : e + 12], order)
                value = head[p : p + min(n, 64)]
        tags[tag] = value.rstrip(b"\x00 ")
    return tags


def _is_bmp(head: bytes) -> bool:
    # "BM" alone is too weak (plenty of text starts with "BM"): require zero reserved
    # fields and a known DIB header size.
    if len(head) < 18 or head[6:10] != b"\x00\x00\x00\x00":
        return False
    return int.from_bytes(head[14:18], "little") in (12, 16, 40, 52, 56, 64, 108, 124)


def _after_id3(head: bytes) -> tuple[str, str]:
    """An ID3v2 tag precedes MP3 usually, but also FLAC and ADTS AAC files."""
    size = 0
    for b in head[6:10]:
        size = (size << 7) | (b & 0x7F)  # "syncsafe" integer
    end = 10 + size + (10 if len(head) > 5 and head[5] & 0x10 else 0)
    while end < len(head) and head[end] == 0:  # padding some taggers put after the tag
        end += 1
    if head.startswith(b"fLaC", end):
        return "audio", "audio/flac"
    if _is_adts(head, end):
        return "audio", "audio/aac"
    return "audio", "audio/mpeg"


def _mpeg_audio_frame_len(head: bytes, i: int) -> int:
    """Length of the MPEG audio frame whose header is at ``i``, or 0 if it is not one."""
    if i + 4 > len(head) or head[i] != 0xFF or head[i + 1] & 0xE0 != 0xE0:
        return 0
    b1, b2 = head[i + 1], head[i + 2]
    version = (b1 >> 3) & 3  # 0: MPEG-2.5, 1: reserved, 2: MPEG-2, 3: MPEG-1
    layer = 4 - ((b1 >> 1) & 3)  # bits 3, 2, 1 mean layer I, II, III; 0 is reserved
    br_idx, sr_idx, pad = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
    if version == 1 or layer == 4 or br_idx in (0, 15) or sr_idx == 3:
        return 0
    mpeg1 = version == 3
    bitrate = _MPA_BITRATES[(mpeg1, layer)][br_idx] * 1000
    rate = _MPA_RATES[sr_idx] >> (0 if mpeg1 else 1 if version == 2 else 2)
    if layer == 1:
        return (12 * bitrate // rate + pad) * 4
    if layer == 3 and not mpeg1:
        return 72 * bitrate // rate + pad
    return 144 * bitrate // rate + pad


def _is_mpeg_audio(head: bytes, i: int) -> bool:
    # Two bytes of frame sync are common in binary data (and a UTF-16 BOM is one), so
    # demand that a second valid frame follows where the first one says it ends.
    n = _mpeg_audio_frame_len(head, i)
    return n > 0 and _mpeg_audio_frame_len(head, i + n) > 0


def _adts_frame_len(head: bytes, i: int) -> int:
    if i + 7 > len(head) or head[i] != 0xFF or head[i + 1] & 0xF6 != 0xF0:
        return 0  # 12 sync bits and layer 00
    if (head[i + 2] >> 2) & 0x0F >= 13:  # sampling frequency index
        return 0
    n = ((head[i + 3] & 3) << 11) | (head[i + 4] << 3) | (head[i + 5] >> 5)
    return n if n >= 7 else 0


def _is_adts(head: bytes, i: int) -> bool:
    n = _adts_frame_len(head, i)
    return n > 0 and _adts_frame_len(head, i + n) > 0


def _is_ts(head: bytes, offset: int, packet: int) -> bool:
    """MPEG transport stream: a 0x47 sync byte at the start of every packet."""
    syncs = head[offset:offset + packet * 16:packet]  # the bytes where packets start
    # one or two "G" bytes in the right places are no evidence
    return len(syncs) >= 3 and syncs.count(0x47) == len(syncs)


def _text_mime(head: bytes) -> str | None:
    """The mime type if ``head`` looks like text (UTF-8, UTF-16 with BOM, latin-1), else None."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        enc = "utf-16-le" if head.startswith(codecs.BOM_UTF16_LE) else "utf-16-be"
        try:
            text = codecs.getincrementaldecoder(enc)().decode(head[2:], final=False)
        except UnicodeDecodeError:
            return None
        raw = text.encode("utf-8", "surrogatepass")
        if _control_ratio(raw) > _MAX_CONTROL_RATIO:
            return None
        return _text_subtype(text)
    if b"\x00" in head:
        return None
    body = head[3:] if head.startswith(codecs.BOM_UTF8) else head
    if _control_ratio(body) > _MAX_CONTROL_RATIO:
        return None
    try:
        # final=False: the head may cut a multi-byte sequence at its end.
        text = codecs.getincrementaldecoder("utf-8")().decode(body, final=False)
    except UnicodeDecodeError:
        high = len(body) - len(body.translate(None, _HIGH))
        if high > _MAX_LATIN1_HIGH_RATIO * len(body):
            return None
        text = body.decode("latin-1")
    return _text_subtype(text)


def _control_ratio(raw: bytes) -> float:
    if not raw:
        return 0.0
    return (len(raw) - len(raw.translate(None, _CONTROL))) / len(raw)


def _text_subtype(text: str) -> str:
    start = text[:1024].lstrip()
    lower = start[:64].lower()
    if lower.startswith(("<?xml", "<x:xmpmeta", "<?xpacket")):
        return "application/xml"  # XMP sidecars land here
    if lower.startswith(("<!doctype html", "<html")):
        return "text/html"
    if _looks_like_json(start):
        return "application/json"
    return "text/plain"


def _looks_like_json(start: str) -> bool:
    # Only the head is available, so this cannot parse the document; an object must
    # open with a key (or close at once), an array with a value.
    if start.startswith("{"):
        return start[1:].lstrip()[:1] in ('"', "}")
    if start.startswith("["):
        nxt = start[1:].lstrip()[:1]
        return nxt != "" and nxt in '{["-0123456789tfn]'
    return False
