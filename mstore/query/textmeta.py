"""The words of an asset's metadata for the full-text index: its own title, description
and keywords (``Meta``), and those of the sidecar files that belong to it (an XMP file of
the same stem, its Google Takeout JSON: the naming rules of ``related``).

Worked out per directory, from the LMDB index's present paths: a sidecar belongs to a
file by names, so a new, changed or removed sidecar changes the documents of the files
next to it, and a renamed file gains or loses its sidecars.
"""

from __future__ import annotations

import os
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable

from mstore.model.meta import Meta, SidecarFacts
from mstore.query.related import (
    DirNames,
    is_json_name,
    is_sidecar,
    stem_key,
    takeout_json_key,
    takeout_pairs,
)
from mstore.query.rowfacts import takeout_facts
from mstore.store.reader import Reader


def words_text(facts: Meta | SidecarFacts | None) -> str:
    """Title, description and keywords as one document: a line each, keywords comma-joined."""
    if facts is None:
        return ""
    lines = [facts.title or "", facts.description or "", ", ".join(facts.keywords or ())]
    return "\n".join(line for line in lines if line)


def is_sidecar_name(name: bytes) -> bool:
    """Whether a change of a file of this name may change what the files next to it get."""
    return is_sidecar(name) or is_json_name(name)


class MetaWords:
    """Per catch-up: the assets' metadata read once, the directories listed once."""

    def __init__(self, r: Reader) -> None:
        self.r = r
        self._meta: dict[str, Meta | None] = {}
        self._dirs: dict[tuple[str, bytes], dict[bytes, list[str]]] = {}
        self._members: dict[tuple[str, bytes], list[tuple[bytes, str]]] = {}
        self._owners: dict[tuple[str, bytes], tuple[DirNames, dict[bytes, str],
                                                    list[tuple[bytes, str]]]] = {}

    def meta(self, aid: str) -> Meta | None:
        if aid not in self._meta:
            info = self.r.asset(aid)
            self._meta[aid] = info.meta if info is not None else None
        return self._meta[aid]

    def _facts(self, aid: str) -> SidecarFacts | None:
        meta = self.meta(aid)
        return meta.sidecar if meta is not None else None

    def members(self, root: str, d: bytes) -> list[tuple[bytes, str]]:
        """(file name, asset) of the present files directly in directory ``d``, in order."""
        key = (root, d)
        if key not in self._members:
            self._members[key] = self.r.dir_members(root, d)
        return self._members[key]

    def sidecars(self, root: str, d: bytes) -> dict[bytes, list[str]]:
        """File name -> the assets of the sidecars with words that belong to it."""
        key = (root, d)
        if key in self._dirs:
            return self._dirs[key]
        members = self.members(root, d)
        out: dict[bytes, list[str]] = defaultdict(list)
        # most directories have no sidecar with words: found without grouping every name
        by_stem: dict[bytes, list[str]] = defaultdict(list)
        for name, aid in members:
            if is_sidecar(name) and self._facts(aid):
                by_stem[stem_key(name)].append(aid)
        if by_stem:
            for name, _aid in members:
                if not is_sidecar(name) and (cars := by_stem.get(stem_key(name))):
                    out[name].extend(cars)
        jsons = {name: aid for name, aid in members
                 if is_json_name(name) and (m := self.meta(aid)) is not None and takeout_facts(m)}
        if jsons:
            media = (name for name, _aid in members if not is_json_name(name))
            for name, json in takeout_pairs(jsons, media).items():
                out[name].append(jsons[json])
        self._dirs[key] = out
        return out

    def owners(self, root: str, path: bytes) -> set[str]:
        """The assets of the present files a sidecar at ``path`` belongs to (or did: the
        same names whatever the path holds now)."""
        d, name = os.path.split(path)
        names, asset_of, lowered = self._owner_index(root, d)
        out = {asset_of[n] for n in names.stem_group(name) if not is_sidecar(n)}
        if is_json_name(name):
            # the pairing of a JSON that is gone cannot be asked of the directory: every
            # file whose name starts as the one the JSON names (cut, without its extension)
            # is a candidate — a few per JSON, and one too many only costs a recount
            start = os.path.splitext(takeout_json_key(name)[0])[0]
            i = bisect_left(lowered, (start,))
            while i < len(lowered) and lowered[i][0].startswith(start):
                out.add(lowered[i][1])
                i += 1
        return out

    def _owner_index(self, root: str, d: bytes
                     ) -> tuple[DirNames, dict[bytes, str], list[tuple[bytes, str]]]:
        """A directory's names indexed (``DirNames``), each name's asset, and the
        (lower-cased name, asset) of its files that are not JSONs, sorted: made once,
        asked per changed sidecar (a folder of 8,000 photos with their XMPs scanned for
        each XMP took minutes)."""
        key = (root, d)
        got = self._owners.get(key)
        if got is None:
            members = self.members(root, d)
            lowered = sorted((n.lower(), aid) for n, aid in members if not is_json_name(n))
            got = self._owners[key] = (DirNames(n for n, _ in members), dict(members), lowered)
        return got

    def sidecar_texts(self, aid: str, paths: Iterable[tuple[str, bytes]]) -> list[str]:
        """The documents of the sidecars belonging to the asset at its present ``paths``,
        each once."""
        texts: list[str] = []
        for root, path in paths:
            d, name = os.path.split(path)
            for car in self.sidecars(root, d).get(name, ()):
                text = words_text(self._facts(car))
                if text and text not in texts:
                    texts.append(text)
        return texts
