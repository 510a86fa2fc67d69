"""Documents (PDF): page count, whether there is a text layer, the creation date (pypdf).

Only what is needed is read, never the pages' content streams: pypdf parses the
cross-reference table and the objects asked for; the page count is the page
tree's ``/Count``; a text layer is a font in the resources of one of the first
``TEXT_PAGES`` pages (or of a form drawn on them): text is drawn with fonts, and
a scan without OCR has none. The date is the document information's
``CreationDate``. A file whose last KiB has no ``%%EOF`` marker was cut short.
Costs are in docs/catalog.md.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Any

from mstore.catalog.probe import describe_error, format_taken
from mstore.model.meta import Meta

if TYPE_CHECKING:
    from mstore.catalog.probe import Source

TEXT_PAGES = 8  # pages whose resources are looked at for fonts
_MAX_DEPTH = 32  # page tree levels followed (a loop in a damaged tree ends here)
_TAIL = 1024
_PDF_DATE = re.compile(
    r"(?:D:)?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*(Z|[+-]\d{2}'?(?:\d{2}'?)?)?")

_ready = False


def probe_document(f: Source, size: int, mime: str) -> Meta:
    """Probe a PDF; never raises for bad content (sets ``error`` instead)."""
    meta = Meta(kind="document", mime=mime)
    try:
        reader = _reader(f)
        if reader.is_encrypted and not reader.decrypt(""):
            meta.error = "document: encrypted (needs a password)"
            return meta
        root = reader.trailer["/Root"].get_object()
        pages = root["/Pages"].get_object()
        count = pages.get("/Count")
        if isinstance(count, int) and count >= 0:
            meta.pages = int(count)
        meta.text_layer = any(_has_fonts(res) for res in _first_pages(pages, TEXT_PAGES))
        info = reader.trailer.get("/Info")
        if info is not None:
            meta.taken = pdf_datetime(info.get_object().get("/CreationDate"))
    except Exception as e:
        meta.error = describe_error("document", e)
    if not _ends_with_eof(f, size):
        meta.error = "document: truncated file"
    return meta


def _reader(f: Source) -> Any:
    global _ready
    from pypdf import PdfReader

    if not _ready:
        # pypdf logs what it repairs (and then reads through); the findings that matter
        # are recorded in Meta.error, the rest would land on the CLI's stderr
        logging.getLogger("pypdf").setLevel(logging.CRITICAL)
        _ready = True
    f.seek(0)
    return PdfReader(f, strict=False)  # type: ignore[arg-type]


def _first_pages(node: Any, limit: int) -> list[Any]:
    """The resources of the first ``limit`` pages, in order, following the page tree
    (resources are inherited from the tree's nodes)."""
    out: list[Any] = []
    stack = [(node, None, 0)]
    while stack and len(out) < limit:
        obj, inherited, depth = stack.pop()
        obj = obj.get_object()
        res = obj.get("/Resources", inherited)
        kids = obj.get("/Kids")
        if kids is None:
            out.append(res)
        elif depth < _MAX_DEPTH:
            stack.extend((kid, res, depth + 1) for kid in reversed(kids.get_object()))
    return out


def _has_fonts(res: Any, nested: bool = True) -> bool:
    if res is None:
        return False
    res = res.get_object()
    if res.get("/Font"):
        return True
    if not nested:
        return False
    xobjects = res.get("/XObject")
    for xo in (xobjects.get_object().values() if xobjects else ()):
        xo = xo.get_object()
        if xo.get("/Subtype") == "/Form" and _has_fonts(xo.get("/Resources"), nested=False):
            return True
    return False


def _ends_with_eof(f: Source, size: int) -> bool:
    f.seek(max(0, size - _TAIL))
    return b"%%EOF" in f.read(_TAIL)


def pdf_datetime(value: Any) -> str | None:
    """A PDF date ``D:YYYYMMDDHHmmSSOHH'mm'`` as ``"YYYY-MM-DDTHH:MM:SS[+HH:MM]"``.

    Missing parts default to the start of the period (``D:2019`` is 2019-01-01
    00:00:00); ``Z`` is ``+00:00``; None for anything that is not such a date.
    """
    if not isinstance(value, str):
        return None
    m = _PDF_DATE.match(value.strip())
    if m is None:
        return None
    parts = tuple(int(g) if g else dflt for g, dflt in
                  zip(m.groups()[:6], (0, 1, 1, 0, 0, 0), strict=True))
    off = m[7]
    digits = off[1:].replace("'", "") if off else ""
    return format_taken(parts, ("+", 0, 0) if off == "Z" else
                        (off[0], int(digits[:2]), int(digits[2:4] or 0)) if off else None)
