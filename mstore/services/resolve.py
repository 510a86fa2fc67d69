"""Names a person types, resolved like git's rev-parse: one place for the command line and
the web UI.

- a run: its id or a unique prefix (run ids start with ``r`` and a digit);
- an asset or an artifact: a full id or a unique prefix of 4+ hex digits (assets first;
  a prefix matching both kinds is ambiguous);
- a path: a file under an archive root, or a cataloged ``root/rel/path`` / ``rel/path``;
- a collection: its name.

Every miss or ambiguity is a ``UsageError`` whose message names what was typed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import msgspec

from mstore.errors import UsageError
from mstore.model.records import CollectionDefined
from mstore.store.store import Store

HEX_RE = re.compile(r"^[0-9a-fA-F]{4,64}$")
# run ids are "r<YYYYmmdd>-<HHMMSS>-<4 hex>" (plan.new_run_id); a target that looks like the
# start of one is tried as a run first, anything else never is
RUN_RE = re.compile(r"^r\d[0-9a-f-]*$")


class Ambiguous(UsageError):
    """What was typed names more than one thing (a short prefix): give more of it."""


class Target(msgspec.Struct, frozen=True):
    type: str  # "run" | "artifact" | "asset" | "path"
    value: Any  # run id, artifact id, asset id, or inspect.PathTarget


def runs_with_prefix(store: Store, prefix: str, limit: int = 3) -> list[str]:
    """Run ids starting with ``prefix`` (keys only: no RunInfo is decoded)."""
    with store.reader() as r:
        return r.run_ids(prefix, limit)


def find_run(store: Store, text: str) -> str | None:
    """The run ``text`` names (an id or a unique prefix), None when no run starts so."""
    if not RUN_RE.match(text):  # nothing that is not the start of a run id is looked up
        return None
    hits = runs_with_prefix(store, text)
    if not hits:
        return None
    if text in hits:
        return text
    if len(hits) > 1:
        raise Ambiguous(f"ambiguous run prefix '{text}': matches {', '.join(hits[:2])}, ...")
    return hits[0]


def _hex_hits(store: Store, prefix: str) -> tuple[list[str], list[str]]:
    with store.reader() as r:
        return r.asset_ids(prefix, limit=2), r.artifact_ids(prefix, limit=2)


def _ambiguous(text: str, assets: list[str], arts: list[str]) -> Ambiguous:
    named = [f"asset {a[:16]}" for a in assets] + [f"artifact {a[:16]}" for a in arts]
    return Ambiguous(f"ambiguous id prefix '{text}': matches {', '.join(named[:3])}"
                     + (", ..." if len(named) > 2 else "") + "; give more digits")


def artifact(store: Store, text: str) -> str:
    """An artifact id from a full id or a unique prefix (>= 4 hex digits)."""
    if not HEX_RE.match(text):
        raise UsageError(f"'{text}' is not an artifact id (64 hex digits, or a prefix of 4+)")
    with store.reader() as r:
        hits = r.artifact_ids(text.lower(), limit=2)
        dropped = r.is_dropped(text.lower())
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        raise _ambiguous(text, [], hits)
    if dropped:
        raise UsageError(f"artifact {text} was dropped by 'mstore gc'")
    raise UsageError(f"no artifact '{text}'")


def target(store: Store, text: str) -> Target:
    """What ``show`` describes: a run (id or prefix starting with "r"), an asset or an
    artifact (id or unique prefix of 4+ hex digits; assets are tried first, a prefix
    matching both is ambiguous), else a file or catalog path (``path``)."""
    if RUN_RE.match(text):
        rid = find_run(store, text)
        if rid is not None:
            return Target("run", rid)
    if HEX_RE.match(text):
        assets, arts = _hex_hits(store, text.lower())
        if len(assets) + len(arts) > 1:
            raise _ambiguous(text, assets, arts)
        if assets:
            return Target("asset", assets[0])
        if arts:
            return Target("artifact", arts[0])
        with store.reader() as r:
            if r.is_dropped(text.lower()):
                raise UsageError(f"artifact {text} was dropped by 'mstore gc'")
    try:
        hit = path(store, text)
    except UsageError:
        raise UsageError(f"'{text}' is not a run, asset or artifact id (or a unique prefix), "
                         "nor a cataloged path") from None
    return Target("asset", hit) if isinstance(hit, str) else Target("path", hit)


def asset(store: Store, text: str) -> str:
    """The asset ``text`` names (an id, a unique prefix or a cataloged path)."""
    t = target(store, text)
    if t.type != "asset":
        raise UsageError(f"'{text}' is not an asset (it names a {t.type})")
    return str(t.value)


def run(store: Store, text: str) -> str:
    """The run ``text`` names; a usage error when none does."""
    rid = find_run(store, text)
    if rid is None:
        raise UsageError(f"no run '{text}'")
    return rid


def collection(store: Store, name: str) -> CollectionDefined:
    """The collection named ``name``; a usage error when there is none."""
    with store.reader() as r:
        c = r.collection(name)
    if c is None:
        raise UsageError(f"no collection '{name}'")
    return c


class PathTarget(msgspec.Struct):
    root: str
    path: bytes


def path(store: Store, target: str) -> str | PathTarget:
    """The asset a path names (its id), or the path itself when it holds no asset (a link,
    an error): a file on disk under an archive root, or a cataloged path ("root/rel/path"
    or "rel/path"). A name with accents is also looked up spelled the other way (composed
    or decomposed: macOS writes names decomposed, keyboards compose)."""
    try:
        return _path(store, target)
    except UsageError:
        for other in _other_spellings(target):
            try:
                return _path(store, other)
            except UsageError:
                pass
        raise


def _other_spellings(text: str) -> list[str]:
    if text.isascii():
        return []
    import unicodedata

    return [s for s in dict.fromkeys(unicodedata.normalize(form, text) for form in ("NFC", "NFD"))
            if s != text]


def _path(store: Store, target: str) -> str | PathTarget:
    with store.reader() as r:
        p = Path(target)
        if os.path.lexists(p):
            hit = store.config.root_for(p.parent.resolve() / p.name)
            if hit is not None:
                name, root = hit
                rel = os.fsencode((p.parent.resolve() / p.name).relative_to(root))
                return _path_target(store, name, rel)
        raw = os.fsencode(target)
        for name in store.config.roots:
            if raw.startswith(name.encode() + b"/"):
                return _path_target(store, name, raw[len(name) + 1:])
        for name in store.config.roots:
            st = r.path_state(name, raw)
            if st is not None or r.error_at(name, raw) is not None:
                return _path_target(store, name, raw)
    raise UsageError(f"'{target}' is not an asset id, id prefix or cataloged path")


def _path_target(store: Store, root: str, rel: bytes) -> str | PathTarget:
    with store.reader() as r:
        st = r.path_state(root, rel)
        if st is not None and st.present:
            return st.asset
        if (st is None and r.error_at(root, rel) is None
                and r.link_at(root, rel) is None):
            raise UsageError(f"{os.fsdecode(root.encode() + b'/' + rel)} is not in the catalog "
                             "(run 'mstore add')")
    return PathTarget(root, rel)
