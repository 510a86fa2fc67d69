"""Duplicate review: the groups a ``duplicates`` step made, and a person's keep / not-keep
marks on them.

A mark is a :class:`~mstore.model.records.Label` record — never a change to the archive:

* near groups (several assets that look alike): ``Label(asset, key="keep", value, about=
  group artifact id)``, one per member;
* exact groups (one asset at several paths): ``key="keep-path:<path>"`` per path.

``value`` is ``"keep"``, ``"not-keep"`` or ``""`` (the mark was cleared). A mark belongs
to the asset, not to one run: when the dedupe pipeline runs again and the groups come out
as new artifacts, the review shows each asset's newest mark, and says when it was made
while judging another group (``about`` names that group, so the judgement keeps its
lineage).
"""

from __future__ import annotations

from dataclasses import dataclass

from mstore.errors import UsageError
from mstore.model.records import ArtifactMade, Label
from mstore.store.store import Store

GROUP_KIND = "duplicate-group"
KEEP = "keep"
PATH_KEY = "keep-path:"
VALUES = ("keep", "not-keep", "")


@dataclass(frozen=True)
class Mark:
    value: str  # "keep" | "not-keep"
    about: str  # the group judged when the mark was made
    hlc: int


def dedupe_runs(store: Store) -> list[str]:
    """Runs with a ``duplicates`` step that made groups, newest first."""
    out = []
    with store.reader() as r:
        for rid, info in r.runs():
            rs = info.started
            if rs is None or not any(s.tool == "duplicates" for s in rs.steps):
                continue
            out.append((rs.hlc, rid))
    return [rid for _, rid in sorted(out, reverse=True)]


def groups(store: Store, run: str) -> list[ArtifactMade]:
    """The run's duplicate groups: near ones first (biggest first), then exact ones."""
    with store.reader() as r:
        arts = [a for a in r.run_artifacts(run, newest_first=False)
                if a.kind == GROUP_KIND]
    return sorted(arts, key=lambda a: (_type(a) != "near", -len(a.members), a.members))


def _type(art: ArtifactMade) -> str:
    return str(art.data.get("type", "")) if isinstance(art.data, dict) else ""


def group_paths(art: ArtifactMade) -> list[str]:
    """An exact group's paths (the items a person marks)."""
    paths = art.data.get("paths") if isinstance(art.data, dict) else None
    return [str(p) for p in paths] if isinstance(paths, list) else []


def marks(store: Store, asset: str) -> dict[str, Mark]:
    """The asset's newest mark per key ("keep", "keep-path:<path>"), whatever group it was
    made about; cleared marks are left out."""
    best: dict[str, Label] = {}
    with store.reader() as r:
        for lab in r.labels(asset):
            if lab.key != KEEP and not lab.key.startswith(PATH_KEY):
                continue
            if lab.key not in best or best[lab.key].hlc < lab.hlc:
                best[lab.key] = lab
    return {k: Mark(lab.value, lab.about, lab.hlc) for k, lab in best.items() if lab.value}


def item_keys(art: ArtifactMade) -> list[tuple[str, str]]:
    """(asset, label key) of every item of a group, in display order."""
    if _type(art) == "exact" and art.members:
        return [(art.members[0], PATH_KEY + p) for p in group_paths(art)]
    return [(m, KEEP) for m in art.members]


def mark_group(store: Store, group_id: str, values: dict[int, str]) -> int:
    """Write the marks a person chose for a group's items: ``values`` maps an item's
    position (as ``item_keys`` lists them, which is how the review page numbers its
    fields) to "keep" / "not-keep" / "". A position the group does not have is refused;
    a mark equal to the item's current one is not written again. Returns the number of
    labels written."""

    store.catch_up()
    with store.reader() as r:
        art = r.artifact(group_id)
    if art is None or art.kind != GROUP_KIND:
        raise UsageError(f"'{group_id[:16]}' is not a duplicate group")
    items = item_keys(art)
    chosen: dict[tuple[str, str], str] = {}
    for pos, value in values.items():
        if not 0 <= pos < len(items):
            raise UsageError(f"this group has no item {pos}")
        if value not in VALUES:
            raise UsageError(f"a mark is keep, not-keep or empty, not '{value}'")
        chosen[items[pos]] = value
    records = []
    current = {a: marks(store, a) for a in {a for a, _ in chosen}}
    for (asset, key), value in sorted(chosen.items()):
        old = current[asset].get(key)
        if (old.value if old else "") == value and (not value or old.about == group_id):
            continue
        records.append(Label(hlc=0, asset=asset, key=key, value=value, about=group_id))
    if records:
        store.write_records(records)
        store.catch_up()
    return len(records)
