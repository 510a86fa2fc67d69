"""People as the index knows them, and the ``person:`` and ``faces:`` query terms.

The *current people* are the ``person`` artifacts of the newest finished call of a
``people`` tool step in a production run (the newest sandbox one while there is none),
seen through the person's own
decisions made since (labels, ``docs/people.md``): a face told to be another person
(``face-person:<t>:<box>`` = that person, written by a merge) shows there at once, a face
split off its person (``face-not:<person>:<t>:<box>``) shows as nobody's. The next
``people`` run makes both part of its result. Names are ``person-name:<person>`` labels:
the newest one for a person id, on whatever asset it was written, stands.

Terms: ``person:NAME`` (a name, case-insensitive), ``person:ID`` (a person id or a prefix
of it), ``person:?`` (photos and videos with a face in a person nobody named yet),
``faces:N``, ``faces:>N``, ``faces:<N`` (the asset's newest ``faces`` result holds that
many faces; assets never looked at for faces match none).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import msgspec

from mstore.query.terms import TermContext, TermHits, TermSpec, register

if TYPE_CHECKING:
    from mstore.store.reader import Reader

TOOL = "people"
PERSON_KIND = "person"
FACES_KIND = "faces"
NAME_KEY = "person-name:"
FACE_PERSON = "face-person:"
FACE_NOT = "face-not:"
PID_RE = re.compile(r"p[0-9a-f]{10,64}")


def face_key(t: float | None, box: list[float]) -> str:
    """A face's place in its asset, as label keys name it: ``<t>:<x>,<y>,<w>,<h>``."""
    return f"{'' if t is None else t}:{','.join(format(float(v), '.4f') for v in box)}"


class Face(msgspec.Struct):
    asset: str
    t: float | None
    box: list[float]
    person: str | None  # None: split off its person, not yet placed by a run

    @property
    def key(self) -> str:
        return face_key(self.t, self.box)


class Person(msgspec.Struct):
    id: str
    name: str | None = None
    faces: list[Face] = msgspec.field(default_factory=list)
    artifact: str = ""  # the person artifact of the result ("" for one a merge made)

    @property
    def assets(self) -> list[str]:
        return sorted({f.asset for f in self.faces})

    @property
    def name_lower(self) -> str:
        return (self.name or "").lower()


class People(msgspec.Struct):
    run: str = ""  # the run whose result this is ("" if there is none)
    policy: str = ""
    persons: dict[str, Person] = msgspec.field(default_factory=dict)
    by_asset: dict[str, list[Face]] = msgspec.field(default_factory=dict)
    # (asset, key) -> newest
    marks: dict[tuple[str, str], str] = msgspec.field(default_factory=dict)

    def person_of(self, asset: str, t: float | None, box: list[float]) -> Face | None:
        key = face_key(t, box)
        for f in self.by_asset.get(asset, []):
            if f.key == key:
                return f
        return None


def load(r: Reader) -> People:
    """The current people, names and the labels made since applied."""
    best: tuple[tuple[bool, int], str, str, list[str]] | None = None
    for rid, info in r.runs():
        rs = info.started
        if rs is None:
            continue
        for s in rs.steps:
            if s.tool != TOOL:
                continue
            st = r.unit(rid, s.name, "*")
            if st is None or st.status not in ("done", "reused"):
                continue
            # production first (a sandbox run's sample must not hide the archive's
            # people), then the newest
            rank = (rs.policy == "production", st.hlc)
            if best is None or rank > best[0]:
                best = (rank, rid, rs.policy, st.artifacts)
    out = People()
    if best is not None:
        out.run, out.policy = best[1], best[2]
        for aid in best[3]:
            art = r.artifact(aid)
            d = art.data if art is not None and isinstance(art.data, dict) else None
            if art is None or art.kind != PERSON_KIND or d is None or "person" not in d:
                continue
            p = out.persons.setdefault(str(d["person"]), Person(str(d["person"]),
                                                                artifact=art.id))
            for a, t, box in d.get("faces") or []:
                face = Face(str(a), t, [float(v) for v in box], p.id)
                p.faces.append(face)
                out.by_asset.setdefault(face.asset, []).append(face)

    # the newest mark per (asset, key), by (hlc, lane): the same on every machine
    newest: dict[tuple[str, str], tuple[tuple[int, str], Any]] = {}
    for order, lab in r.label_claims():
        if lab.key.startswith((NAME_KEY, FACE_PERSON, FACE_NOT)):
            k = (lab.asset, lab.key)
            if k not in newest or newest[k][0] < order:
                newest[k] = (order, lab)
    names: dict[str, str] = {}
    out.marks = {k: lab.value for k, (_o, lab) in newest.items()}
    for _order, lab in sorted(newest.values(), key=lambda x: x[0]):
        if lab.key.startswith(NAME_KEY):
            names[lab.key[len(NAME_KEY):]] = lab.value
        elif lab.value:
            _apply(out, lab.asset, lab.key, lab.value)
    for pid, p in list(out.persons.items()):
        if not p.faces:
            del out.persons[pid]
            continue
        name = names.get(pid, "").strip()
        p.name = name or None
    return out


def _apply(people: People, asset: str, key: str, value: str) -> None:
    """One merge or split label, on the faces it names (by their exact place)."""
    if key.startswith(FACE_PERSON):
        place, target = key[len(FACE_PERSON):], value
    else:
        pid, _, place = key[len(FACE_NOT):].partition(":")
        target = None
    for f in people.by_asset.get(asset, []):
        if f.key != place:
            continue
        if target is None and f.person != pid:
            continue
        if f.person is not None and f.person in people.persons:
            people.persons[f.person].faces.remove(f)
        f.person = target
        if target is not None:
            people.persons.setdefault(target, Person(target)).faces.append(f)


def find(people: People, text: str) -> list[Person]:
    """The persons ``text`` names: an id, a unique prefix of one, or a name."""
    t = text.strip().lower()
    if t in people.persons:
        return [people.persons[t]]
    by_name = [p for p in people.persons.values() if p.name and p.name.lower() == t]
    if by_name:
        return by_name
    if re.fullmatch(r"p[0-9a-f]{3,64}", t):
        return [p for pid, p in people.persons.items() if pid.startswith(t)]
    return []


# -- terms ---------------------------------------------------------------------------------
def _people(ctx: TermContext) -> People:
    people = ctx.cache.get("people")
    if people is None:
        if ctx.store is None:
            raise LookupError("person: terms need the store's people here")
        with ctx.store.reader() as r:
            people = ctx.cache["people"] = load(r)
    return people


def _match_person(ctx: TermContext, value: str) -> TermHits:
    people = _people(ctx)
    if value == "?":
        persons = [p for p in people.persons.values() if p.name is None]
    else:
        persons = find(people, value)
    ids: set[bytes] = set()
    detail: dict[bytes, dict[str, Any]] = {}
    for p in persons:
        for a in p.assets:
            b = bytes.fromhex(a)
            ids.add(b)
            detail.setdefault(b, {"persons": []})["persons"].append(
                {"id": p.id, "name": p.name})
    return TermHits(ids, detail=detail)


def _face_counts(ctx: TermContext) -> dict[bytes, int]:
    counts = ctx.cache.get("face-counts")
    if counts is None:
        if ctx.store is None:
            raise LookupError("faces: terms need the store's results here")
        newest: dict[str, tuple[int, int]] = {}
        with ctx.store.reader() as r:
            for art in r.artifacts():
                if art.kind != FACES_KIND or not art.asset:
                    continue
                n = art.meta.get("count") if isinstance(art.meta, dict) else None
                if isinstance(n, int) and (art.asset not in newest
                                           or newest[art.asset][0] < art.hlc):
                    newest[art.asset] = (art.hlc, n)
        counts = ctx.cache["face-counts"] = {bytes.fromhex(a): n for a, (_, n) in newest.items()}
    return counts


FACES_RE = re.compile(r"(>=|<=|>|<|=)?(\d{1,9})")


def _check_faces(value: str) -> None:
    if not FACES_RE.fullmatch(value):
        raise ValueError(f"faces: takes a number, >N or <N (faces:2, faces:>0), not '{value}'")


def _match_faces(ctx: TermContext, value: str) -> TermHits:
    m = FACES_RE.fullmatch(value)
    assert m is not None  # checked
    op, n = m.group(1) or "=", int(m.group(2))
    test = {"=": n.__eq__, ">": n.__lt__, "<": n.__gt__, ">=": n.__le__, "<=": n.__ge__}[op]
    return TermHits({a for a, c in _face_counts(ctx).items() if test(c)})


def _check_person(value: str) -> None:
    if not value.strip():
        raise ValueError("person: needs a name, a person id or ? (person:?)")


register(TermSpec(
    key="person",
    summary="person:ada          photos and videos of a person: a name, a person id, or\n"
            "person:?            ? for those with a face nobody has named yet",
    match=_match_person, check=_check_person))
register(TermSpec(
    key="faces",
    summary="faces:2 faces:>0    how many faces the newest faces result found (>N, <N too)",
    match=_match_faces, check=_check_faces))
