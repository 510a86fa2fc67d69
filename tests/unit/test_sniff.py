"""sniff(): kind and mime from content only.

Images are made with Pillow; container heads that only need their first bytes
right are written out by hand (real audio/video files are sniffed through probe()
in test_probe.py).
"""

from __future__ import annotations

import io
import random
import struct

import pytest
from PIL import Image, features

from mstore.catalog.sniff import _sniff, sniff

HEAD = 64 << 10


def pillow_bytes(fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (16, 12), "red").save(buf, fmt, **kwargs)
    return buf.getvalue()


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    body = major + b"\x00\x00\x00\x00" + b"".join(compatible)
    return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\x00\x00\x00\x08free"


def riff(form: bytes) -> bytes:
    return b"RIFF" + (1000).to_bytes(4, "little") + form + b"\x00" * 32


def tiff(entries: list[tuple[int, int, int, bytes]], extra: bytes = b"") -> bytes:
    """Little-endian TIFF head: IFD0 at offset 8 with (tag, type, count, value4) entries."""
    ifd = len(entries).to_bytes(2, "little")
    ifd += b"".join(struct.pack("<HHI", t, ty, n) + v for t, ty, n, v in entries)
    return b"II*\x00" + (8).to_bytes(4, "little") + ifd + b"\x00" * 4 + extra


def ascii_entry(tag: int, text: bytes, head_len: int) -> tuple[tuple[int, int, int, bytes], bytes]:
    """An ASCII entry whose value lives at ``head_len`` (right after the IFD)."""
    value = text + b"\x00"
    return (tag, 2, len(value), head_len.to_bytes(4, "little")), value


MP3_FRAME = b"\xff\xfb\x90\x64" + b"\x00" * 413  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz: 417 B


def adts_frame(length: int = 64) -> bytes:
    hdr = bytearray(b"\xff\xf1\x50\x80\x00\x1f\xfc")  # AAC LC, 44.1 kHz, stereo
    hdr[3] = (hdr[3] & 0xFC) | ((length >> 11) & 3)
    hdr[4] = (length >> 3) & 0xFF
    hdr[5] = ((length & 7) << 5) | 0x1F
    return bytes(hdr) + b"\x00" * (length - 7)


# -- images -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mime"),
    [
        ("JPEG", "image/jpeg"),
        ("PNG", "image/png"),
        ("GIF", "image/gif"),
        ("WEBP", "image/webp"),
        ("TIFF", "image/tiff"),
        ("BMP", "image/bmp"),
        ("ICO", "image/x-icon"),
        ("PPM", "image/x-portable-anymap"),
        ("PCX", "image/x-pcx"),
        ("SGI", "image/x-sgi"),
        ("QOI", "image/qoi"),
        ("DDS", "image/vnd.ms-dds"),
        ("TGA", "image/x-tga"),
    ],
)
def test_pillow_images(fmt: str, mime: str) -> None:
    assert sniff(pillow_bytes(fmt)[:HEAD]) == ("image", mime)


def test_pictures_with_weak_signatures_need_their_headers_to_make_sense() -> None:
    """Icons, Netpbm, PCX and SGI pictures start with a byte or two other files start
    with too: the rest of their headers decides."""
    grey = io.BytesIO()
    Image.new("L", (3, 2)).save(grey, "PPM")
    assert sniff(grey.getvalue()) == ("image", "image/x-portable-anymap")  # a PGM
    assert sniff(b"P1\n# made by hand\n3 2\n1 0 1\n0 1 0\n") == (
        "image", "image/x-portable-anymap")
    assert sniff(b"P7\nWIDTH 2\nHEIGHT 1\nDEPTH 1\nMAXVAL 255\nENDHDR\n\x00\x01")[0] == "image"
    assert sniff(b"P1 meeting notes\n")[0] == "text"
    assert sniff(b"P2 10 apples\n")[0] == "text"
    assert sniff(b"\n" + b"text after a blank line\n" * 10)[0] == "text"
    assert sniff(bytes(600)) == ("other", "application/octet-stream")
    ico = bytearray(pillow_bytes("ICO"))
    ico[18:22] = bytes(4)  # its first picture would lie inside the directory
    assert sniff(bytes(ico)) == ("other", "application/octet-stream")
    tga = bytearray(pillow_bytes("TGA"))
    tga[16] = 7  # seven bits per pixel
    assert sniff(bytes(tga)) == ("other", "application/octet-stream")
    indexed = io.BytesIO()
    Image.new("P", (4, 4)).save(indexed, "TGA")
    assert sniff(indexed.getvalue()) == ("image", "image/x-tga")
    sgi = bytearray(pillow_bytes("SGI"))
    sgi[4:6] = (7).to_bytes(2, "big")  # seven dimensions
    assert sniff(bytes(sgi))[1] != "image/x-sgi"


def test_avif_and_heic_made_by_encoders() -> None:
    if features.check("avif"):
        assert sniff(pillow_bytes("AVIF")) == ("image", "image/avif")
    import pillow_heif  # a declared dependency: its absence must fail, not skip
    if pillow_heif.libheif_info().get("HEIF"):
        pillow_heif.register_heif_opener()
        assert sniff(pillow_bytes("HEIF")) == ("image", "image/heic")


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (ftyp(b"heic", b"mif1", b"heic"), "image/heic"),
        (ftyp(b"heix", b"mif1"), "image/heic"),
        (ftyp(b"mif1", b"mif1", b"heic"), "image/heic"),  # Samsung: generic major brand
        (ftyp(b"mif1", b"avif", b"mif1"), "image/avif"),
        (ftyp(b"msf1", b"msf1"), "image/heif"),
        (ftyp(b"avif", b"avif", b"mif1", b"miaf"), "image/avif"),
        (ftyp(b"crx ", b"crx "), "image/x-canon-cr3"),
    ],
)
def test_iso_bmff_images(head: bytes, mime: str) -> None:
    assert sniff(head) == ("image", mime)


def test_camera_raws() -> None:
    cr2 = b"II*\x00\x10\x00\x00\x00CR\x02\x00" + b"\x00" * 64
    assert sniff(cr2) == ("image", "image/x-canon-cr2")
    dng = tiff([(0xC612, 1, 4, b"\x01\x04\x00\x00")])
    assert sniff(dng) == ("image", "image/x-adobe-dng")
    at = 8 + 2 + 12 * 2 + 4  # after an IFD of two entries
    make, value = ascii_entry(0x010F, b"NIKON CORPORATION", at)
    nef = tiff([make, (0x014A, 4, 1, b"\x00\x10\x00\x00")], extra=value)
    assert sniff(nef) == ("image", "image/x-nikon-nef")
    make, value = ascii_entry(0x010F, b"Nikon", at)  # a film scanner: no SubIFDs
    scan = tiff([make, (0x0100, 3, 1, b"\x10\x00\x00\x00")], extra=value)
    assert sniff(scan) == ("image", "image/tiff")
    assert sniff(b"FUJIFILMCCD-RAW 0201FF383501") == ("image", "image/x-fuji-raf")
    assert sniff(b"IIRO\x08\x00\x00\x00" + b"\x00" * 16) == ("image", "image/x-olympus-orf")
    assert sniff(b"IIU\x00\x08\x00\x00\x00" + b"\x00" * 16) == ("image", "image/x-panasonic-rw2")


def test_bmp_needs_more_than_two_letters() -> None:
    assert sniff(b"BMW service record, 2019\n") == ("text", "text/plain")


# -- video and audio ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "kind", "mime"),
    [
        (ftyp(b"isom", b"isom", b"iso2", b"avc1", b"mp41"), "video", "video/mp4"),
        (ftyp(b"mp42", b"mp42", b"isom"), "video", "video/mp4"),
        (ftyp(b"qt  ", b"qt  "), "video", "video/quicktime"),
        (ftyp(b"M4V ", b"M4V ", b"mp42"), "video", "video/x-m4v"),
        (ftyp(b"3gp4", b"3gp4"), "video", "video/3gpp"),
        (ftyp(b"3g2a", b"3g2a"), "video", "video/3gpp2"),
        (ftyp(b"XAVC", b"XAVC", b"mp42"), "video", "video/mp4"),  # unknown brand
        (ftyp(b"M4A ", b"M4A ", b"mp42", b"isom"), "audio", "audio/mp4"),
        (ftyp(b"M4B ", b"M4B "), "audio", "audio/mp4"),
        (b"\x00\x00\x01\x00moov" + b"\x00" * 32, "video", "video/quicktime"),
        (b"\x00\x00\x00\x08wide\x00\x10\x00\x00mdat", "video", "video/quicktime"),
        (b"\x00\x00\x00\x10free" + b"\x00" * 32, "video", "video/quicktime"),
        (riff(b"AVI LIST"), "video", "video/x-msvideo"),
        (riff(b"WAVEfmt "), "audio", "audio/wav"),
        (b"FORM\x00\x00\x10\x00AIFFCOMM", "audio", "audio/aiff"),
        (b"fLaC\x00\x00\x00\x22" + b"\x00" * 34, "audio", "audio/flac"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + MP3_FRAME, "audio", "audio/mpeg"),
        (b"ID3\x03\x00\x00\x00\x00\x00\x02\x00\x00fLaC\x00", "audio", "audio/flac"),
        (MP3_FRAME * 3, "audio", "audio/mpeg"),
        (adts_frame() * 3, "audio", "audio/aac"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"\x01vorbis" + b"\x00" * 20, "audio", "audio/ogg"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"OpusHead" + b"\x00" * 20, "audio", "audio/ogg"),
        (b"OggS\x00\x02" + b"\x00" * 22 + b"\x80theora" + b"\x00" * 20, "video", "video/ogg"),
        (b"\x00\x00\x01\xba\x44\x00\x04\x00", "video", "video/mpeg"),
        (b"FLV\x01\x05\x00\x00\x00\x09", "video", "video/x-flv"),
    ],
)
def test_containers(head: bytes, kind: str, mime: str) -> None:
    assert sniff(head) == (kind, mime)


def test_matroska_doctypes() -> None:
    def ebml(doctype: bytes) -> bytes:
        body = b"\x42\x86\x81\x01" + b"\x42\x82" + bytes([0x80 | len(doctype)]) + doctype
        return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(body)]) + body + b"\x18\x53\x80\x67"

    assert sniff(ebml(b"webm")) == ("video", "video/webm")
    assert sniff(ebml(b"matroska")) == ("video", "video/x-matroska")


def test_transport_streams() -> None:
    packet = b"\x47\x40\x00\x10" + b"\xff" * 184
    assert sniff(packet * 8) == ("video", "video/mp2t")
    m2ts = b"\x00\x00\x00\x00" + packet  # AVCHD .mts: a 4-byte timestamp per packet
    assert sniff(m2ts * 8) == ("video", "video/mp2t")


def test_weak_syncs_need_confirmation() -> None:
    # One plausible MP3 frame header followed by noise is not MP3.
    noise = random.Random(11).randbytes(2000).replace(b"\xff", b"\xfe")
    assert sniff(MP3_FRAME[:4] + noise) == ("other", "application/octet-stream")
    # "G" at 0 and 188 in a short text is not a transport stream.
    text = b"G" + b"a" * 187 + b"G" + b"b" * 50
    assert sniff(text) == ("text", "text/plain")


# -- documents and other ------------------------------------------------------------


def test_pdf_is_a_document() -> None:
    assert sniff(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj") == ("document", "application/pdf")


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00", "application/zip"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "application/gzip"),
        (b"", "application/x-empty"),
        (random.Random(1).randbytes(4096), "application/octet-stream"),
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 64, "application/x-elf"),
        # what else a person's archive holds, known and so no error
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), "application/x-ole-storage"),
        (b"bplist00\xd1\x01\x02", "application/x-bplist"),
        (b"MSCF\x00\x00\x00\x00" + bytes(30), "application/vnd.ms-cab-compressed"),
        (b"!BDN\x11\x22\x33\x44SM" + bytes(30), "application/vnd.ms-outlook-pst"),
        (b"L\x00\x00\x00\x01\x14\x02\x00" + bytes(70), "application/x-ms-shortcut"),
        (b"DVDVIDEO-VTS" + bytes(40), "application/x-dvd-ifo"),
        (b"wOF2\x00\x01\x00\x00" + bytes(40), "font/woff2"),
        (b"\x00\x01\x00\x00\x00\x0f\x00\x80\x00\x03\x00\x70" + bytes(40), "font/ttf"),
        (b"OTTO\x00\x0b\x00\x80\x00\x03\x00\x30" + bytes(40), "font/otf"),
        (b"MThd\x00\x00\x00\x06\x00\x01\x00\x02\x01\xe0", "audio/midi"),
        (b"FWS\x0a" + struct.pack("<I", 5000) + bytes(40), "application/x-shockwave-flash"),
        (b"MZ\x90\x00" + bytes(56) + struct.pack("<I", 128) + bytes(64) + b"PE\x00\x00" + bytes(9),
         "application/vnd.microsoft.portable-executable"),
        (bytes(32769) + b"CD001\x01" + bytes(10), "application/x-iso9660-image"),
        (bytes(60) + b"BOOKMOBI" + bytes(20), "application/x-mobipocket-ebook"),
        (b"text with a NUL\x00 inside\n", "application/octet-stream"),
        (bytes(range(1, 32)) * 10, "application/octet-stream"),  # controls, no NUL
    ],
)
def test_other(head: bytes, mime: str) -> None:
    assert sniff(head) == ("other", mime)


def test_audio_of_older_and_rarer_formats() -> None:
    """Core Audio (a Mac's or an iPhone's recordings), Sun AU, WavPack, Monkey's Audio and
    RealMedia, whose four letters a text could start with too: the next fields decide."""
    assert sniff(b"caff\x00\x01\x00\x00desc" + bytes(40)) == ("audio", "audio/x-caf")
    assert sniff(b".snd\x00\x00\x00\x18" + bytes(40)) == ("audio", "audio/basic")
    assert sniff(b"wvpk" + struct.pack("<IH", 1000, 0x407) + bytes(40)) == (
        "audio", "audio/x-wavpack")
    assert sniff(b"MAC \x96\x0f" + bytes(40)) == ("audio", "audio/x-ape")
    assert sniff(b".RMF\x00\x00\x00\x12" + bytes(40)) == ("audio", "audio/vnd.rn-realaudio")
    assert sniff(b".RMF\x00\x00\x00\x12" + bytes(40) + b"video/x-pn-realvideo") == (
        "video", "video/vnd.rn-realvideo")
    for text in (b".snd files to sort\n", b"wvpk notes\n", b"MAC address list\n",
                 b"CWS report for 2019\n", b"OTTO birthday list\n", b"!BDN is a word\n",
                 b"MZ is not a program\n"):
        assert sniff(text) == ("text", "text/plain"), text


# -- text ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (b"plain ascii\nsecond line\n", "text/plain"),
        ("Grüße aus Köln, 10 €\n".encode(), "text/plain"),
        ("café crème".encode("latin-1") + b"\n", "text/plain"),
        ("\ufeffwith a BOM\n".encode(), "text/plain"),
        ("\ufeffUTF-16 little endian\n".encode("utf-16-le"), "text/plain"),
        ("\ufeffUTF-16 big endian\n".encode("utf-16-be"), "text/plain"),
        (b'<?xml version="1.0" encoding="UTF-8"?>\n<x:xmpmeta/>', "application/xml"),
        (b'<x:xmpmeta xmlns:x="adobe:ns:meta/">', "application/xml"),  # XMP sidecar
        (b'  {"name": "value", "n": 1}', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b"<!DOCTYPE html>\n<html>", "text/html"),
        (b"{not json at all", "text/plain"),
    ],
)
def test_text(head: bytes, mime: str) -> None:
    assert sniff(head) == ("text", mime)


def test_utf8_cut_inside_a_character_at_the_end_of_the_head() -> None:
    data = ("€" * 30_000).encode()  # 3 bytes each: the 64 KiB head cuts one in half
    head = data[:HEAD]
    assert len(head) % 3 != 0
    assert sniff(head) == ("text", "text/plain")


def test_utf16_bom_is_not_taken_for_mp3() -> None:
    # FF FE is also a valid-looking MPEG audio frame sync.
    text = ("\ufeff" + "Hello world, this is UTF-16.\n" * 40).encode("utf-16-le")
    assert sniff(text) == ("text", "text/plain")


def test_checks_hold_on_any_prefix_or_noise() -> None:
    # sniff() turns an internal exception into "unknown"; the checks themselves
    # (_sniff) must not need that on cut or damaged heads.
    rnd = random.Random(42)
    samples = [
        pillow_bytes("JPEG"),
        pillow_bytes("TIFF"),
        ftyp(b"mif1", b"heic"),
        riff(b"WEBP"),
        MP3_FRAME * 2,
        adts_frame() * 2,
        b"ID3\x04\x00\x00\x00\x00\x00\x0a",
        b"\x1a\x45\xdf\xa3\x9f\x42\x82\x84webm",
    ]
    for sample in samples:
        for n in range(len(sample) + 1):
            kind, mime = _sniff(sample[:n]) if n else sniff(b"")
            assert kind in ("image", "video", "audio", "text", "other") and "/" in mime
        for _ in range(100):
            damaged = bytearray(sample)
            for _ in range(4):
                damaged[rnd.randrange(len(damaged))] = rnd.randrange(256)
            _sniff(bytes(damaged))
    for _ in range(500):
        _sniff(rnd.randbytes(rnd.randrange(1, 600)))
