"""Probe one file's content for its technical metadata (a ``Meta``).

``probe`` sniffs the kind from the content, then hands the file to the prober for
that kind. Probing is best effort and must never take the catalog down: any
``Exception`` from a malformed, truncated or hostile file becomes ``Meta.error``.

A ``Meta`` is stored under the content's hash ("same content => same facts"), so
everything recorded here, error messages included, must depend on the content
only: no object reprs, addresses or file names.

Pillow, pillow_heif, PyAV and pypdf are imported by the probers on first use, never at
import time, so the CLI starts fast and non-probing commands never load them.
"""

from __future__ import annotations

import io
import mmap
import re
from datetime import datetime
from typing import Protocol

from mstore.catalog.sniff import sniff
from mstore.model.meta import Meta

_BUFFER = 1 << 20
_MAX_ERROR = 160
_REPR = re.compile(r"\s*<[^<>]*? at 0x[0-9a-fA-F]+>")
_OTHER_ERRORS = {
    "application/x-empty": "other: empty file",
    "application/octet-stream": "other: unrecognized content",
}


class Source(Protocol):
    """What the probers need from the file: an ``mmap``, an open file or a ``BytesIO``."""

    def read(self, n: int = -1, /) -> bytes: ...

    def seek(self, pos: int, whence: int = 0, /) -> object: ...

    def tell(self) -> int: ...


def probe(f: Source, size: int, head: bytes) -> Meta:
    """Probe ``f`` (seekable, at offset 0, ``size`` bytes long; ``head`` its first 64 KiB).

    Never raises ``Exception``: content that cannot be understood yields a Meta with
    the sniffed kind/mime and ``error`` set. Only kinds with a prober are opened;
    "other" is answered from ``head`` alone: a recognised container (ZIP, gzip ...)
    is fine as it is, while empty and unrecognised content carry an error, since
    in a media archive they are mostly failed copies and damaged files.
    """
    kind, mime = sniff(head)
    if kind == "other":
        return Meta(kind=kind, mime=mime, error=_OTHER_ERRORS.get(mime))
    # An unbuffered raw file (how large files arrive) would turn the parsers' many
    # small reads into one syscall each; buffer it, and detach afterwards so the
    # caller's file object is neither closed nor otherwise changed.
    buffered = io.BufferedReader(f, _BUFFER) if isinstance(f, io.RawIOBase) else None
    src: Source = buffered if buffered is not None else f
    if isinstance(f, mmap.mmap):
        src = MappedFile(f)
    try:
        src.seek(0)
        # Probers are imported here, not at the top: they import describe_error from
        # this package, and a walk that meets no images never loads the image code.
        if kind == "image":
            from mstore.catalog.probe import image

            return image.probe_image(src, size, mime)
        if kind in ("video", "audio"):
            from mstore.catalog.probe import media

            return media.probe_media(src, size, kind, mime)
        if kind == "document":
            from mstore.catalog.probe import document

            return document.probe_document(src, size, mime)
        from mstore.catalog.probe import text

        return text.probe_text(src, size, head, mime)
    except Exception as e:  # the safety net; probers report what they can themselves
        return Meta(kind=kind, mime=mime, error=describe_error(kind, e))
    finally:
        if buffered is not None:
            buffered.detach()


class MappedFile:
    """An ``mmap`` with the seek semantics of a file (and the ``readline`` Pillow uses).

    ``mmap.seek`` past the end raises ValueError where a file just moves there (and
    reads then return b""). Parsers of damaged files seek past the end all the time,
    and the outcome must not depend on how the bytes were handed over.
    """

    __slots__ = ("_mm", "_pos", "_size")

    def __init__(self, mm: mmap.mmap) -> None:
        self._mm, self._pos, self._size = mm, 0, len(mm)

    def read(self, n: int | None = -1, /) -> bytes:
        end = self._size if n is None or n < 0 else min(self._size, self._pos + n)
        data = self._mm[self._pos : end] if end > self._pos else b""
        self._pos += len(data)
        return data

    def readline(self, n: int | None = -1, /) -> bytes:
        limit = self._size if n is None or n < 0 else min(self._size, self._pos + n)
        if limit <= self._pos:
            return b""
        nl = self._mm.find(b"\n", self._pos, limit)
        return self.read((nl + 1 if nl >= 0 else limit) - self._pos)

    def seek(self, pos: int, whence: int = 0, /) -> int:
        base = (0, self._pos, self._size)[whence]
        if base + pos < 0:
            raise OSError(22, "Invalid argument")  # what a file raises for a negative seek
        self._pos = base + pos
        return self._pos

    def tell(self) -> int:
        return self._pos


def format_taken(parts: tuple[int, ...], offset: tuple[str, int, int] | None = None
                 ) -> str | None:
    """(year, month, day, hour, minute, second) and an optional UTC offset (sign, hours,
    minutes) as ``Meta.taken``: ``"YYYY-MM-DDTHH:MM:SS[+HH:MM]"``.

    None for years outside 1800-2200 and impossible dates; an offset beyond +-14:59 is
    left out.
    """
    y, mo, d, hh, mm, ss = parts
    if not 1800 <= y <= 2200:
        return None
    try:
        datetime(y, mo, d, hh, mm, ss)
    except ValueError:
        return None
    out = f"{y:04d}-{mo:02d}-{d:02d}T{hh:02d}:{mm:02d}:{ss:02d}"
    if offset is not None and offset[1] <= 14 and offset[2] < 60:
        out += f"{offset[0]}{offset[1]:02d}:{offset[2]:02d}"
    return out


def describe_error(kind: str, exc: BaseException | str) -> str:
    """``"<kind>: <message>"``, short and free of object reprs (see the module doc)."""
    msg = exc if isinstance(exc, str) else (str(exc).strip() or type(exc).__name__)
    msg = _REPR.sub("", msg).strip()
    if len(msg) > _MAX_ERROR:
        msg = msg[: _MAX_ERROR - 3].rstrip() + "..."
    return f"{kind}: {msg}"
