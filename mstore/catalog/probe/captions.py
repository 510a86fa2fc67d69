"""The words people give their pictures: a title, a description (caption) and keywords.

Read from XMP (an image's embedded packet, or an XMP sidecar file: ``xmp`` reads the
packet), from IPTC-IIM (the Photoshop APP13 block Pillow hands over) and from EXIF text
tags. Each source gives a
``Words``; ``merge`` keeps the first title and description found in the order given (the
prober lists XMP first: what editing software writes last and best) and the keywords of
all of them, each once (compared case-insensitively), in order of appearance.

XMP fields: ``dc:title`` (else ``photoshop:Headline``), ``dc:description`` (else
``Iptc4xmpCore:AltTextAccessibility`` / ``ExtDescrAccessibility``), keywords from
``dc:subject`` and ``lr:hierarchicalSubject`` (its ``A|B|C`` paths give ``C``, the leaf,
which Lightroom also writes to ``dc:subject``). Language alternatives: ``x-default``,
else the first.

Never raises for bad content.
"""

from __future__ import annotations

from typing import Any, NamedTuple

MAX_TEXT = 2000  # characters kept of a title or a description
MAX_KEYWORDS = 200
MAX_KEYWORD = 200

# what cameras write into ImageDescription when nobody wrote anything (lower-cased)
_PLACEHOLDERS = frozenset({"olympus digital camera", "sony dsc", "digital camera",
                           "default", "image", "picture", "untitled", "dcim", "exif_jpeg_pict",
                           "samsung", "lg", "huawei", "camera", "photo", "kodak",
                           "minolta dsc", "konica minolta digital camera"})

# EXIF (IFD0) tags; the XP* ones are Windows's, UTF-16LE bytes
_IMAGE_DESCRIPTION, _XP_TITLE, _XP_COMMENT, _XP_KEYWORDS, _XP_SUBJECT = (
    0x010E, 0x9C9B, 0x9C9C, 0x9C9E, 0x9C9F)
_USER_COMMENT, _EXIF_IFD = 0x9286, 0x8769
# IPTC-IIM datasets (record 2) and the record-1 character set
_IIM_TITLE, _IIM_HEADLINE, _IIM_CAPTION, _IIM_KEYWORDS = (2, 5), (2, 105), (2, 120), (2, 25)
_IIM_CHARSET = (1, 90)
_IIM_UTF8 = b"\x1b%G"


class Words(NamedTuple):
    title: str | None = None
    description: str | None = None
    keywords: tuple[str, ...] = ()


def merge(*sources: Words) -> Words:
    title = next((w.title for w in sources if w.title), None)
    description = next((w.description for w in sources if w.description), None)
    seen: set[str] = set()
    keywords: list[str] = []
    for w in sources:
        for k in w.keywords:
            if k.casefold() not in seen and len(keywords) < MAX_KEYWORDS:
                seen.add(k.casefold())
                keywords.append(k)
    return Words(title, description, tuple(keywords))


def clean(text: Any) -> str | None:
    """A text value with its runs of blanks, line ends and NULs as one space, at most
    MAX_TEXT long; None when nothing is left."""
    if not isinstance(text, str):
        return None
    return " ".join(text.replace("\x00", " ").split())[:MAX_TEXT] or None


def keyword(text: str) -> str | None:
    k = clean(text)
    return k[:MAX_KEYWORD] if k else None


# -- IPTC-IIM -------------------------------------------------------------------------------
def from_iptc(info: dict | None) -> Words:
    """The words of Pillow's ``IptcImagePlugin.getiptcinfo`` answer."""
    if not info:
        return Words()
    utf8 = info.get(_IIM_CHARSET) == _IIM_UTF8

    def text(v: Any) -> str | None:
        if isinstance(v, list):
            v = v[0] if v else None
        if not isinstance(v, bytes):
            return None
        return clean(_decode(v, utf8))

    kw = info.get(_IIM_KEYWORDS)
    kws = kw if isinstance(kw, list) else [kw] if kw is not None else []
    keywords = tuple(k for v in kws if isinstance(v, bytes) and (k := keyword(_decode(v, utf8))))
    return Words(text(info.get(_IIM_TITLE)) or text(info.get(_IIM_HEADLINE)),
                 text(info.get(_IIM_CAPTION)), keywords)


def _decode(b: bytes, utf8: bool) -> str:
    """IIM text: UTF-8 when the record says so, and in practice also when it decodes as
    UTF-8 (many writers leave out the character set); else Latin-1."""
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("utf-8" if utf8 else "latin-1", "replace" if utf8 else "strict")


# -- EXIF -----------------------------------------------------------------------------------
def from_exif(exif: Any) -> Words:
    """The words of EXIF's text tags (a Pillow ``Exif``): XPTitle; ImageDescription (unless
    a camera's placeholder), else XPComment/XPSubject, else UserComment; XPKeywords split
    at ";"."""
    title = clean(_xp(exif.get(_XP_TITLE)))
    desc = clean(_ascii(exif.get(_IMAGE_DESCRIPTION)))
    if desc is not None and desc.casefold() in _PLACEHOLDERS:
        desc = None
    desc = desc or clean(_xp(exif.get(_XP_COMMENT))) or clean(_xp(exif.get(_XP_SUBJECT)))
    if desc is None:
        try:
            desc = clean(_user_comment(exif.get_ifd(_EXIF_IFD).get(_USER_COMMENT)))
        except Exception:
            desc = None
    keywords = tuple(k for part in (_xp(exif.get(_XP_KEYWORDS)) or "").split(";")
                     if (k := keyword(part)))
    return Words(title, desc, keywords)


def _ascii(v: Any) -> str | None:
    if isinstance(v, bytes):
        try:
            return v.decode("utf-8")
        except UnicodeDecodeError:
            return v.decode("latin-1")
    return v if isinstance(v, str) else None


def _xp(v: Any) -> str | None:
    if isinstance(v, tuple) and all(isinstance(b, int) and 0 <= b < 256 for b in v):
        v = bytes(v)
    if isinstance(v, str):
        return v
    if not isinstance(v, bytes):
        return None
    return v.decode("utf-16-le", "replace").split("\x00", 1)[0]


def _user_comment(v: Any) -> str | None:
    """UserComment: an 8-byte character code, then the text."""
    if isinstance(v, str):
        return v
    if not isinstance(v, bytes) or len(v) <= 8:
        return None
    code, body = v[:8], v[8:]
    if code.startswith(b"UNICODE"):
        order = "utf-16-be" if body[:1] == b"\x00" else "utf-16-le"
        return body.decode(order, "replace").split("\x00", 1)[0]
    if code.startswith(b"ASCII") or code == b"\x00" * 8:
        return _ascii(body.split(b"\x00", 1)[0])
    return None  # JIS and undefined codes: not text we can read
