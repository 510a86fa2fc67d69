"""People: what a person does with the faces the ``people`` pipeline found — list them,
name them, merge two people into one, split wrong faces off — for ``mstore people`` and
the UI's people pages alike (``docs/people.md``).

Every decision is a label record (``docs/runs.md`` §8a), never an edit of a result:

* a name: ``person-name:<person>`` = NAME, on one asset the person is in, about the
  person artifact; the newest one for the id stands, and since person ids stay from run to
  run (and across model versions), so does the name;
* a merge of B into A: ``face-person:<t>:<box>`` = A on each of B's faces ("same person");
* a split of a face off P: ``face-not:<P>:<t>:<box>`` = P ("not this person").

The current people show them at once (``mstore.query.people``); the next ``people`` run
obeys them (the tool reads labels under those keys).

Reads take a :class:`Reader`; changes come back as label changes for the caller to write
(``set_labels`` from the command line, ``ActionContext.set_labels`` from the UI).
"""

from __future__ import annotations

from mstore.errors import UsageError
from mstore.query.people import (
    FACE_NOT,
    FACE_PERSON,
    FACES_KIND,
    NAME_KEY,
    Face,
    People,
    Person,
    face_key,
    find,
    load,
)
from mstore.services.labels import LabelChange
from mstore.store.reader import Reader

__all__ = ["People", "Person", "asset_faces", "listing", "load", "merge_changes",
           "name_changes", "person", "split_changes"]

NAME_MAX = 200


def listing(people: People, unnamed_first: bool = False) -> list[dict]:
    """One entry per person: id, name (None), faces, assets; named people by name, then the
    unnamed by size (or the unnamed first)."""
    rows = [{"id": p.id, "name": p.name, "faces": len(p.faces), "assets": len(p.assets)}
            for p in people.persons.values()]
    rows.sort(key=lambda r: ((r["name"] is None) != unnamed_first,
                             (r["name"] or "").lower(), -r["faces"], r["id"]))
    return rows


def person(people: People, text: str) -> Person:
    """The one person ``text`` names (id, unique id prefix, or name)."""
    hits = find(people, text)
    if not hits:
        raise UsageError(f"no person '{text}' (mstore people lists them)")
    if len(hits) > 1:
        raise UsageError(f"'{text}' names {len(hits)} people: "
                         f"{', '.join(p.id for p in hits[:5])}; give an id")
    return hits[0]


def asset_faces(r: Reader, people: People, aid: str) -> list[dict]:
    """The asset's faces, numbered from 1 (``ASSET#N`` names one), from its newest
    ``faces`` result: box (fractions of the image), t (video), score, quality, and the
    person each one is (None: not clustered yet, too poor to cluster, or split off)."""
    arts = [a for a in r.artifacts_of(aid, FACES_KIND) if isinstance(a.data, dict)]
    if not arts:
        return []
    newest = max(arts, key=lambda a: a.hlc)
    out = []
    for n, f in enumerate(newest.data.get("faces") or [], start=1):
        box = [float(v) for v in f.get("box", [0, 0, 0, 0])]
        spot = _spot(people, aid, f.get("t"), box)
        pid = spot.person if spot is not None else None
        p = people.persons.get(pid) if pid else None
        out.append({"n": n, "box": box, "t": f.get("t"), "score": f.get("score"),
                    "quality": f.get("quality"), "person": pid,
                    "name": p.name if p else None, "artifact": newest.id})
    return out


def _spot(people: People, aid: str, t: float | None, box: list[float]) -> Face | None:
    """The people result's face at this place: the same box, or (another faces result)
    the one overlapping it most, by half or more."""
    exact = people.person_of(aid, t, box)
    if exact is not None:
        return exact
    from mstore.tools.api import box_iou  # only here: `show` starts without the tool API

    best, best_iou = None, 0.5
    for f in people.by_asset.get(aid, []):
        if (f.t is None) != (t is None) or (t is not None and abs(float(f.t) - t) > 0.01):
            continue
        iou = box_iou(f.box, box)
        if iou >= best_iou:
            best, best_iou = f, iou
    return best


def name_changes(people: People, text: str, name: str) -> list[LabelChange]:
    """Name the person ``text`` names; an empty name clears it."""
    p = person(people, text)
    name = " ".join(name.split())
    if len(name) > NAME_MAX or "\0" in name:
        raise UsageError(f"a name has at most {NAME_MAX} characters and no NUL")
    if name and name.lower() != p.name_lower and any(
            q.name and q.name.lower() == name.lower() for q in people.persons.values()):
        raise UsageError(f"'{name}' is already someone's name: merge the two instead "
                         f"(mstore people merge)")
    return [LabelChange(p.assets[0], NAME_KEY + p.id, name, p.artifact)]


def merge_changes(people: People, keep: str, other: str) -> tuple[Person, list[LabelChange]]:
    """Merge ``other`` into ``keep``: each of other's faces is told it is ``keep`` (and a
    "not keep" said of it before is cleared); ``keep`` takes other's name if it has none."""
    a, b = person(people, keep), person(people, other)
    if a.id == b.id:
        raise UsageError(f"{keep} and {other} are the same person")
    out = []
    for f in b.faces:
        out.append(LabelChange(f.asset, FACE_PERSON + f.key, a.id, b.artifact))
        if people.marks.get((f.asset, f"{FACE_NOT}{a.id}:{f.key}")):
            out.append(LabelChange(f.asset, f"{FACE_NOT}{a.id}:{f.key}", "", b.artifact))
    if a.name is None and b.name:
        out.append(LabelChange(a.assets[0], NAME_KEY + a.id, b.name, a.artifact))
    return a, out


def parse_face(ref: str) -> tuple[str, int]:
    """``ASSET#N`` -> (ASSET as typed, N)."""
    where, sep, num = ref.rpartition("#")
    if not sep or not num.isdigit() or not where:
        raise UsageError(f"a face is ASSET#N (as mstore show ASSET lists them), not '{ref}'")
    return where, int(num)


def split_changes(r: Reader, people: People, text: str, faces: list[tuple[str, int]]
                  ) -> tuple[Person, list[LabelChange]]:
    """Take ``faces`` ((asset id, N): the N-th face as ``asset_faces`` numbers them) off
    the person ``text`` names: "not this person"."""
    p = person(people, text)
    out = []
    for aid, n in faces:
        listed = asset_faces(r, people, aid)
        if not 1 <= n <= len(listed):
            raise UsageError(f"asset {aid[:12]} has {len(listed)} faces, no face #{n}")
        f = listed[n - 1]
        spot = _spot(people, aid, f["t"], f["box"])
        if spot is None or spot.person != p.id:
            raise UsageError(f"face {face_ref(aid, n)} is not {p.name or p.id}'s")
        out.append(LabelChange(aid, f"{FACE_NOT}{p.id}:{spot.key}", p.id, p.artifact))
        if people.marks.get((aid, FACE_PERSON + spot.key)):
            out.append(LabelChange(aid, FACE_PERSON + spot.key, "", p.artifact))
    return p, out


def face_ref(aid: str, n: int) -> str:
    return f"{aid[:12]}#{n}"


__all__ += ["face_key", "face_ref", "parse_face"]
