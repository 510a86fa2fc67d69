"""What ``show`` and the asset page say about an asset or a path: its metadata (with the
facts a Takeout sidecar lends it and where each came from), paths and their history,
errors, related files (sidecars, Live Photo partners, copies) and the links to it."""

from __future__ import annotations

import os

import msgspec

from mstore.errors import UsageError
from mstore.model.meta import Meta, SidecarFacts
from mstore.query.namedate import paths_taken
from mstore.query.related import DirNames, is_json_name, is_sidecar
from mstore.query.rowfacts import lender_of, takeout_of
from mstore.query.rows import NAME_DATED_KINDS, XMP_LENT_KINDS, lend
from mstore.services.resolve import PathTarget
from mstore.store.reader import Reader
from mstore.store.store import Store


def _history(r: Reader, root: str, rel: bytes) -> list[dict]:
    """A path's events, oldest first; a re-sighting of the same content (a touch) is folded."""
    out: list[dict] = []
    for h, m, e in r.history(root, rel):
        if out and e.event == "seen" and out[-1]["event"] == "seen" and out[-1]["asset"] == e.asset:
            continue
        out.append({"hlc": h, "machine": m, "event": e.event, "asset": e.asset or None,
                    "detail": e.detail or None})
    return out


def describe_path(store: Store, t: PathTarget) -> dict:
    """A path that holds no current asset: a link (and what its target holds), its error
    and history."""
    with store.reader() as r:
        err = r.error_at(t.root, t.path)
        hist = _history(r, t.root, t.path)
        link = r.link_at(t.root, t.path)
        target = None
        if link is not None:
            st = r.path_state(t.root, link.target)
            target = {"path": link.target,
                      "asset": st.asset if st is not None and st.present else None}
    return {
        "root": t.root,
        "path": t.path,
        "link": target,
        "error": {"reason": err.reason, "detail": err.detail, "hlc": err.hlc} if err else None,
        "history": hist,
    }


def describe_asset(store: Store, aid: str) -> dict:
    with store.reader() as r:
        info = r.asset(aid)
        if info is None:
            raise UsageError(f"no asset {aid}")
        paths = []
        errors = []
        for root, rel in sorted(r.asset_paths(aid)):
            st = r.path_state(root, rel)
            current = bool(st and st.present and st.asset == aid)
            hist = _history(r, root, rel)
            paths.append({"root": root, "path": rel, "current": current, "history": hist})
            err = r.error_at(root, rel)
            if err and current:
                errors.append({"root": root, "path": rel, "reason": err.reason,
                               "detail": err.detail})
        current = [(p["root"], p["path"]) for p in paths if p["current"]]
        related, lender = _related(r, current, aid, info.meta.kind)
        # links are not paths of the asset (not copies), but point at one of its paths
        links = [{"root": root, "path": link, "target": rel}
                 for root, rel in current for link in r.links_to(root, rel)]
        sidecar_words = [_words_of(r, rel) for rel in related if rel["relation"] == "sidecar"]
    meta = _meta_with_sources(info.meta, lender)
    if not meta.get("taken") and info.meta.kind in NAME_DATED_KINDS:
        # as the catalog's row: the first current path (all, for a missing asset) whose
        # file name holds a date (mstore/query/namedate.py)
        fulls = sorted(root.encode() + b"/" + rel
                       for root, rel in (current or [(p["root"], p["path"]) for p in paths]))
        named = paths_taken(fulls)
        if named is not None:
            meta["taken"], meta["taken_source"] = named[0], "filename"
            meta["taken_path"] = named[1].decode("utf-8", "backslashreplace")
    if words := [w for w in sidecar_words if w is not None]:
        meta["sidecar_words"] = words
    if info.meta.error:
        errors.insert(0, {"reason": "probe", "detail": info.meta.error})
    return {
        "id": aid,
        "kind": info.meta.kind,
        "mime": info.meta.mime,
        "size": info.size,
        "first_seen_hlc": info.first_hlc,
        "missing": not any(p["current"] for p in paths),
        "meta": meta,
        "paths": paths,
        "errors": errors,
        "related": related,
        "links": links,
    }


def _words_of(r: Reader, rel: dict) -> dict | None:
    """A sidecar's title, description and keywords with its "root/path", if it has any."""
    info = r.asset(rel["asset"])
    sc = info.meta.sidecar if info is not None else None
    if sc is None or not (sc.title or sc.description or sc.keywords):
        return None
    return {"path": rel["root"] + "/" + rel["path"].decode("utf-8", "backslashreplace"),
            "title": sc.title, "description": sc.description, "keywords": sc.keywords}


# where a file's own capture time and place come from, by kind
_OWN_SOURCE = {"image": "exif", "video": "container", "audio": "container", "document": "pdf"}


def _meta_with_sources(own: Meta, lender: tuple[str, SidecarFacts] | None) -> dict:
    """The asset's metadata as the catalog shows it (a sidecar's capture time and place
    lent where the file has none), with ``taken_source`` / ``gps_source`` saying
    where each came from and ``sidecar_path`` naming the sidecar that lent them."""
    facts = lender[1] if lender is not None else None
    meta = msgspec.to_builtins(lend(own, facts))
    source = _OWN_SOURCE.get(own.kind, "content")
    meta.pop("taken_from", None)  # said by taken_source / gps_source
    meta.pop("gps_from", None)
    lent = False
    if own.taken:
        meta["taken_source"] = own.taken_from or source
    elif meta.get("taken"):
        meta["taken_source"] = lent = "sidecar"
    if own.gps_lat is not None and own.gps_lon is not None:
        meta["gps_source"] = own.gps_from or source
    elif meta.get("gps_lat") is not None:
        meta["gps_source"] = lent = "sidecar"
    if lent and lender is not None:
        meta["sidecar_path"] = lender[0]
    return meta


def _related(r: Reader, current: list[tuple[str, bytes]], aid: str, own_kind: str
             ) -> tuple[list[dict], tuple[str, SidecarFacts] | None]:
    """Sidecars, Live Photo partners and Takeout JSONs of the asset's current paths, and
    the sidecar lending it facts ("root/path", its facts), if any: as the catalog's rows
    borrow (``rows.dir_extras``), a Takeout JSON's, else the first XMP file's of a stem
    group, at the first path that has one (an XMP file lends to an asset of a kind in
    ``XMP_LENT_KINDS`` only: ``own_kind`` is the asset's).

    Each directory is read and indexed once (``DirNames``): content with thousands of
    copies (an empty file) has many paths in each of many directories, and of a Takeout
    album's thousands of JSONs only those named like the file are decoded."""
    facts_of: dict[str, SidecarFacts | None] = {}

    def takeout_in(a: str) -> SidecarFacts | None:
        if a not in facts_of:
            facts_of[a] = takeout_of(r, a)
        return facts_of[a]

    out = []
    lender: tuple[str, SidecarFacts] | None = None
    seen: set[tuple[str, bytes]] = set()
    dirs: dict[tuple[str, bytes], tuple[dict[bytes, str], DirNames]] = {}
    for root, rel in current:
        d = os.path.dirname(rel)
        prefix = (d + b"/") if d else b""
        got = dirs.get((root, d))
        if got is None:
            members = r.dir_members(root, d)
            got = dirs[(root, d)] = (dict(members), DirNames(n for n, _ in members))
        asset_of, names = got

        def describes(json: bytes, asset_of: dict[bytes, str] = asset_of) -> bool:
            return takeout_in(asset_of[json]) is not None

        name = rel[len(prefix):]
        if is_json_name(name):
            takeout = [(m, "sidecar-of") for m in names.takeout_media_of(name, describes)]
        else:
            json = names.takeout_json_of(name, describes)
            takeout = [(json, "sidecar")] if json is not None else []
        here: tuple[bytes, SidecarFacts] | None = None  # what lends at this path
        for other, relation in takeout:
            seen.add((root, prefix + other))
            out.append({"relation": relation, "root": root, "path": prefix + other,
                        "asset": asset_of[other]})
            facts = takeout_in(asset_of[other]) if relation == "sidecar" else None
            if here is None and facts is not None:
                here = (prefix + other, facts)
        if here is None and not is_sidecar(name) and own_kind in XMP_LENT_KINDS:
            here = next(((prefix + p, f) for p in names.stem_group(name) if is_sidecar(p)
                         and (f := lender_of(r, asset_of[p])) is not None), None)
        if lender is None and here is not None:
            lender = (root + "/" + here[0].decode("utf-8", "backslashreplace"), here[1])
        for p in names.stem_group(name):
            path, other_aid = prefix + p, asset_of[p]
            if path == rel or (root, path) in seen:
                continue
            seen.add((root, path))
            rel_kind = ("sidecar" if is_sidecar(p)
                        else "sidecar-of" if is_sidecar(name)  # the file this one belongs to
                        else "live-pair" if other_aid != aid else "copy")
            out.append({"relation": rel_kind, "root": root, "path": path, "asset": other_aid})
    return out, lender
