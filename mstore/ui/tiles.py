"""An asset as a grid tile: its kind, size, date, first current path and best thumbnail —
for the UI's grids and for tools' pages (``StoreView.tiles``)."""

from __future__ import annotations

from dataclasses import dataclass

from mstore.model.records import ArtifactMade
from mstore.present import taken_text
from mstore.store.reader import Reader


@dataclass(frozen=True)
class Tile:
    id: str
    kind: str  # image / video / audio / text / other
    size: int | None
    taken: str  # the date it was taken, "" when unknown
    dims: str  # "WxH", "" when it has none
    path: str  # the first current path, "root/rel/path"
    thumb: str | None  # the artifact id of its thumbnail


def best_thumb(arts: list[ArtifactMade]) -> ArtifactMade | None:
    """The thumbnail to show: production before sandbox, newest first, with a payload."""
    arts = [a for a in arts if a.payload]
    if not arts:
        return None
    return max(arts, key=lambda a: (a.policy == "production", a.hlc))


def taken_date(tk: int) -> str:
    return taken_text(tk, date_only=True) or ""


def tile(r: Reader, aid: str) -> Tile:
    from mstore.query.snapshot import taken_int
    from mstore.services.describe import current_paths

    a = r.asset(aid)
    thumb = best_thumb(r.artifacts_of(aid, "thumbnail"))
    paths = current_paths(r, aid)
    return Tile(id=aid, kind=a.meta.kind if a else "other", size=a.size if a else None,
                taken=taken_date(taken_int(a.meta.taken)) if a else "",
                dims=f"{a.meta.width}x{a.meta.height}" if a and a.meta.width else "",
                path=paths[0] if paths else "(no current path)",
                thumb=thumb.id if thumb else None)
