"""Text: the encoding (a guess, no detection library) and the number of lines.

The encoding is read from a BOM, else UTF-8 if the whole file decodes as UTF-8,
else cp1252 if the file has bytes 0x80-0x9F and every one of them is a cp1252
character (Windows text: curly quotes, dashes, the euro sign; in latin-1 these
bytes are invisible C1 controls), else latin-1, which decodes anything. Either way
decoding the file's bytes with the reported encoding gives back its text. The line count
is the number of line ends plus one for a last line without one; a file whose only
line ends are CR (classic Mac) is counted by CRs. A JSON file that is a Google Takeout
sidecar also gets the facts it gives (``Meta.sidecar``, see ``takeout``); an XMP file (a
sidecar of a photo) its title, description, keywords, capture time and place (``xmp``).
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

from mstore.catalog.probe import takeout, xmp
from mstore.model.meta import Meta, SidecarFacts

if TYPE_CHECKING:
    from mstore.catalog.probe import Source

_CHUNK = 1 << 20
_NOT_C1 = bytes(b for b in range(256) if not 0x80 <= b <= 0x9F)
_CP1252_UNDEFINED = frozenset(b"\x81\x8d\x8f\x90\x9d")


def probe_text(f: Source, size: int, head: bytes, mime: str) -> Meta:
    """Encoding and line count of a text file (reads it once, in chunks)."""
    encoding = guess_encoding(head)
    f.seek(0)
    if encoding.startswith("utf-16"):
        lines = _count_utf16(f, encoding)
    else:
        lines, valid, c1 = _count_bytes(f, validate=encoding.startswith("utf-8"))
        if not valid:  # not UTF-8 (maybe only further on than the head)
            encoding = "cp1252" if c1 and not c1 & _CP1252_UNDEFINED else "latin-1"
    meta = Meta(kind="text", mime=mime, encoding=encoding, lines=lines)
    if mime == "application/json" and size <= takeout.MAX_BYTES:
        f.seek(0)
        meta.sidecar = takeout.takeout_facts(f.read(size))
    elif mime == "application/xml" and size <= xmp.MAX_XMP:
        f.seek(0)
        meta.sidecar = xmp_facts(f.read(size))
    return meta


def xmp_facts(data: bytes) -> SidecarFacts | None:
    """What an XMP file says of its picture: words, capture time (when it was taken, else
    when it was made digital) and place; None if it says none of it (or is no XMP)."""
    facts = xmp.read(data)
    words, taken, gps = facts.words, facts.taken or facts.digitized, facts.gps
    if not (words.title or words.description or words.keywords or taken or gps):
        return None
    lat, lon, alt = gps if gps is not None else (None, None, None)
    return SidecarFacts(format="xmp", title=words.title, description=words.description,
                        keywords=list(words.keywords) or None, taken=taken,
                        gps_lat=lat, gps_lon=lon, gps_alt=alt)


def guess_encoding(head: bytes) -> str:
    """From the first bytes: a BOM decides; else UTF-8 if they decode as such; else latin-1."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith(codecs.BOM_UTF16_LE):
        return "utf-16-le"
    if head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16-be"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return "latin-1"
    return "utf-8"


def _count_bytes(f: Source, validate: bool) -> tuple[int, bool, set[int]]:
    """(lines, still valid UTF-8, the bytes 0x80-0x9F that occur) for a byte-oriented
    encoding, where b"\\n" is LF."""
    decoder = codecs.getincrementaldecoder("utf-8")() if validate else None
    lf = cr = 0
    last = b""
    c1: set[int] = set()
    while chunk := f.read(_CHUNK):
        lf += chunk.count(b"\n")
        if high := chunk.translate(None, _NOT_C1):
            c1.update(high)
        if not lf:
            cr += chunk.count(b"\r")
        if decoder is not None:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                decoder = None
                validate = False
        last = chunk[-1:]
    if decoder is not None:
        try:
            decoder.decode(b"", final=True)  # a multi-byte sequence cut by EOF
        except UnicodeDecodeError:
            validate = False
    return _lines(lf, cr, last.decode("latin-1")), validate, c1


def _count_utf16(f: Source, encoding: str) -> int:
    # In UTF-16 a 0x0A byte is also half of many other characters; decode to count.
    decoder = codecs.getincrementaldecoder(encoding)(errors="replace")
    f.read(2)  # the BOM
    lf = cr = 0
    last = ""
    while chunk := f.read(_CHUNK):
        text = decoder.decode(chunk)
        lf += text.count("\n")
        if not lf:
            cr += text.count("\r")
        last = text[-1:] or last
    tail = decoder.decode(b"", final=True)
    return _lines(lf, cr, tail[-1:] or last)


def _lines(lf: int, cr: int, last: str) -> int:
    if lf:
        return lf + (last != "\n")
    if cr:
        return cr + (last != "\r")
    return 1 if last else 0
