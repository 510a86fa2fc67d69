"""Text: the encoding (a guess, no detection library) and the number of lines.

The encoding is read from a BOM, else UTF-8 if the whole file decodes as UTF-8,
else latin-1 (which decodes anything; cp1252 text lands here too). The line count
is the number of line ends plus one for a last line without one; a file whose only
line ends are CR (classic Mac) is counted by CRs.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING

from mstore.model.meta import Meta

if TYPE_CHECKING:
    from mstore.catalog.probe import Source

_CHUNK = 1 << 20


def probe_text(f: Source, size: int, head: bytes, mime: str) -> Meta:
    """Encoding and line count of a text file (reads it once, in chunks)."""
    encoding = guess_encoding(head)
    f.seek(0)
    if encoding.startswith("utf-16"):
        lines = _count_utf16(f, encoding)
    else:
        lines, valid = _count_bytes(f, validate=encoding.startswith("utf-8"))
        if not valid:
            encoding = "latin-1"  # valid UTF-8 in the head, not further on
    return Meta(kind="text", mime=mime, encoding=encoding, lines=lines)


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


def _count_bytes(f: Source, validate: bool) -> tuple[int, bool]:
    """(lines, still valid UTF-8) for a byte-oriented encoding, where b"\\n" is LF."""
    decoder = codecs.getincrementaldecoder("utf-8")() if validate else None
    lf = cr = 0
    last = b""
    while chunk := f.read(_CHUNK):
        lf += chunk.count(b"\n")
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
    return _lines(lf, cr, last.decode("latin-1")), validate


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
