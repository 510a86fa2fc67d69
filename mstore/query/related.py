"""Which files in one directory belong together, by their names: sidecars, Live Photo
halves and Google Takeout metadata files.

Derived, never recorded: a rename of either side is reflected at once.

- Sidecars and Live Photos share a *stem*: ``IMG_1.JPG`` + ``IMG_1.xmp`` /
  ``IMG_1.JPG.xmp`` / ``IMG_1.AAE``; an image + a ``.mov``/``.mp4`` of the same stem.
- A Google Takeout export puts a JSON file next to each photo or video, named after
  it in several ways (all case-insensitive here):

  ``IMG_1234.jpg.json``                         the usual form
  ``IMG_1234.json``                             the extension dropped
  ``IMG_1234.jpg.supplemental-metadata.json``   newer exports, and that suffix cut to
  ``IMG_1234.jpg.supplemental-me.json``, ``IMG_1234.jpg.s.json``, ``IMG_1234.jpg..json``
  ``IMG_1234.jpg(1).json``                      describes ``IMG_1234(1).jpg`` (same
  ``IMG_1234.jpg.supplemental-metadata(1).json`` name given twice in an album)
  ``A-very-long-file-name-cut-at-46-bytes.json``   a name cut so that, with ".json", it
                                                 stays within 51 bytes

  and an edited copy (``IMG_1234-edited.jpg``) shares its original's JSON.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable

SIDECAR_EXTS = {b".xmp", b".aae"}
LIVE_VIDEO_EXTS = {b".mov", b".mp4"}

TAKEOUT_NAME_MAX = 46  # bytes of the media name left in a cut JSON name (51 with ".json")
_SUPPLEMENTAL = b"supplemental-metadata"
_COUNTER = re.compile(rb"^(.*)(\(\d+\))$", re.DOTALL)
_EDITED = b"-edited"


def splitext(path: bytes) -> tuple[bytes, bytes]:
    """``os.path.splitext`` for "/"-separated bytes, without its per-character loop (the
    catalog splits every file name of a directory): the extension starts at the last
    dot of the last component, unless only dots come before it there."""
    dot = path.rfind(b".")
    slash = path.rfind(b"/")
    if dot > slash and path[slash + 1:dot].lstrip(b"."):
        return path[:dot], path[dot:]
    return path, b""


def stem_key(path: bytes) -> bytes:
    """Lower-cased path without extension; 'IMG_1.JPG.xmp' and 'IMG_1.xmp' both -> 'img_1'."""
    base, ext = splitext(path.lower())
    if ext in SIDECAR_EXTS:
        inner, ext2 = splitext(base)
        if ext2:
            base = inner
    return base


def is_sidecar(name: bytes) -> bool:
    """Whether a file of this name is a sidecar of the file of its stem next to it."""
    return splitext(name)[1].lower() in SIDECAR_EXTS


def split_dir(path: bytes) -> tuple[bytes, bytes]:
    """(directory, name) of a relative path; the directory is b"" at the top."""
    i = path.rfind(b"/")
    return (path[:i], path[i + 1:]) if i >= 0 else (b"", path)


def group_key(path: bytes) -> tuple[bytes, bytes]:
    """(directory, stem key) of a path: the files with equal keys are one group (a file,
    its sidecars, its Live Photo partner)."""
    d, name = split_dir(path)
    return d, stem_key(name)


def is_json_name(name: bytes) -> bool:
    return name.lower().endswith(b".json")


def takeout_json_key(name: bytes) -> tuple[bytes, bytes]:
    """(the media name a Takeout JSON names, lower-cased; its "(n)" counter or b"").

    The media name may be cut (to TAKEOUT_NAME_MAX bytes) or lack its extension.
    """
    base = name.lower()[: -len(b".json")]
    counter = b""
    m = _COUNTER.match(base)
    if m is not None:
        base, counter = m[1], m[2]
    dot = base.rfind(b".")
    if dot >= 0 and _SUPPLEMENTAL.startswith(base[dot + 1:]):
        base = base[:dot]  # ".supplemental-metadata", or what the cut left of it
    return base, counter


def _media_keys(name: bytes) -> list[tuple[bytes, bytes]]:
    """The keys a Takeout JSON describing the media file ``name`` may have, best first."""
    low = name.lower()
    stem, ext = os.path.splitext(low)
    forms = [(low, b"")]
    m = _COUNTER.match(stem)
    if m is not None:  # IMG_1234(1).jpg <- IMG_1234.jpg(1).json
        forms.append((m[1] + ext, m[2]))
    if stem.endswith(_EDITED):  # IMG_1234-edited.jpg <- IMG_1234.jpg.json
        forms.append((stem[: -len(_EDITED)] + ext, b""))
    keys: list[tuple[bytes, bytes]] = []
    for full, counter in forms:
        keys.append((full, counter))
        keys.append((os.path.splitext(full)[0], counter))
        if len(full) > TAKEOUT_NAME_MAX:
            keys.append((full[:TAKEOUT_NAME_MAX], counter))
    return keys


def takeout_pairs(jsons: Iterable[bytes], others: Iterable[bytes]) -> dict[bytes, bytes]:
    """Media file name -> the name of the Takeout JSON describing it, within one directory.

    ``jsons`` are the names of the Takeout JSON files there, ``others`` every other name.
    A JSON may describe several files (an original and its edited copy).
    """
    by_key: dict[tuple[bytes, bytes], bytes] = {}
    for j in sorted(jsons):
        by_key.setdefault(takeout_json_key(j), j)
    if not by_key:
        return {}
    out: dict[bytes, bytes] = {}
    for name in others:
        for key in _media_keys(name):
            hit = by_key.get(key)
            if hit is not None:
                out[name] = hit
                break
    return out


class DirNames:
    """The names of one directory's files, indexed so that which of them belong with a
    name is found without going over all of them: a change to many files of one large
    directory (a phone's camera folder of 30k photos) asks it of each, and a scan per
    name made that quadratic. Answers as ``stem_key`` and ``takeout_pairs`` do."""

    def __init__(self, names: Iterable[bytes]) -> None:
        self._by_stem: dict[bytes, list[bytes]] = {}
        jsons: list[bytes] = []
        self._media: list[bytes] = []
        for n in names:
            self._by_stem.setdefault(stem_key(n), []).append(n)
            (jsons if is_json_name(n) else self._media).append(n)
        self._jsons_by_key: dict[tuple[bytes, bytes], list[bytes]] = {}
        for j in sorted(jsons):  # the first name of a key wins, as in takeout_pairs
            self._jsons_by_key.setdefault(takeout_json_key(j), []).append(j)
        self._media_by_key: dict[tuple[bytes, bytes], list[bytes]] | None = None

    def stem_group(self, name: bytes) -> list[bytes]:
        """The names with ``name``'s stem (itself among them when it is here)."""
        return self._by_stem.get(stem_key(name), [])

    def takeout_partners(self, name: bytes) -> list[bytes]:
        """By name alone (present or not): for a Takeout JSON the media files it would
        describe here, for any other file the JSON here that would describe it."""
        if is_json_name(name):
            return self._media_named_by(name)
        for key in _media_keys(name):
            hit = self._jsons_by_key.get(key)
            if hit is not None:
                return hit[:1]
        return []

    def takeout_json_of(self, media: bytes, describes: Callable[[bytes], bool]) -> bytes | None:
        """The JSON here that describes media file ``media``: the one ``takeout_pairs``
        pairs it with when given the JSONs for which ``describes`` holds (those whose
        content is Takeout's), asking ``describes`` only of the JSONs named like it."""
        for key in _media_keys(media):
            for j in self._jsons_by_key.get(key, ()):
                if describes(j):
                    return j
        return None

    def takeout_media_of(self, json: bytes, describes: Callable[[bytes], bool]
                         ) -> list[bytes]:
        """The media files here that ``json`` describes, as ``takeout_json_of`` pairs
        them, in name order."""
        if not describes(json):
            return []
        return sorted(m for m in self._media_named_by(json)
                      if self.takeout_json_of(m, describes) == json)

    def _media_named_by(self, json: bytes) -> list[bytes]:
        if self._media_by_key is None:  # made on the first JSON asked about
            self._media_by_key = {}
            for m in self._media:
                for key in dict.fromkeys(_media_keys(m)):
                    self._media_by_key.setdefault(key, []).append(m)
        return self._media_by_key.get(takeout_json_key(json), [])
