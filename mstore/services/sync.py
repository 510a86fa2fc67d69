"""What a person does with remotes: clone a store, pull, push and sync (docs/sync.md).

A pull moves the other side's objects and record segments this copy lacks into this
copy's own files, then applies the new segments to the index; a push does the same the
other way. ``--kinds`` makes a partial pull: every record (the catalog, runs, lineage),
but only the payloads of artifacts of those kinds, plus the unit and member lists runs and
collections name, so ``find``, ``show`` and the UI work on a laptop without the rest.
"""

from __future__ import annotations

import os
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mstore.errors import RemoteError, UsageError
from mstore.store import config as config_mod
from mstore.store.config import toml_str
from mstore.store.locks import hostname
from mstore.store.store import Store
from mstore.sync import remotes, state, transfer, url
from mstore.sync.endpoint import Endpoint, LocalEndpoint, open_endpoint
from mstore.sync.remotes import Remote

Report = Callable[[int, int, int], None]


@dataclass
class SyncResult:
    remote: str
    url: str
    steps: list[transfer.Result] = field(default_factory=list)
    kinds: list[str] | None = None

    def as_dict(self) -> dict:
        return {"remote": self.remote, "url": self.url, "kinds": self.kinds,
                **{r.direction: r.as_dict() for r in self.steps}}

    @property
    def rejected(self) -> list[str]:
        return [line for r in self.steps for line in r.stored.rejected]


def _connect(store: Store, r: Remote) -> Endpoint:
    loc = r.location(store.root)
    if not loc.is_ssh and Path(loc.path).resolve() == store.root.resolve():
        raise UsageError(f"remote '{r.name}' is this store itself ({loc.path})")
    return open_endpoint(loc, r.mstore)


def pull(store: Store, name: str | None = None, *, kinds: list[str] | None = None,
         whole: bool = False, report: Report | None = None) -> SyncResult:
    """Without ``kinds``, a copy that was pulled partially stays partial (its kinds are
    remembered, like a partial clone's filter); ``whole`` pulls every object."""
    store.check_writable()
    r = remotes.remote(store, name)
    if kinds is None and not whole:
        kinds = state.load(store, r.name).kinds
    with _connect(store, r) as far:
        res = SyncResult(r.name, r.url, kinds=kinds)
        res.steps.append(_pull(store, far, r.name, kinds, report))
    return res


def push(store: Store, name: str | None = None, *, report: Report | None = None
         ) -> SyncResult:
    r = remotes.remote(store, name)
    with _connect(store, r) as far:
        res = SyncResult(r.name, r.url)
        res.steps.append(_push(store, far, r.name, report))
    return res


def sync(store: Store, name: str | None = None, *, report: Report | None = None
         ) -> SyncResult:
    """Pull, then push: afterwards both sides hold the same records and objects (a partial
    copy pushes what it has and pulls only what its kinds ask for)."""
    store.check_writable()
    r = remotes.remote(store, name)
    kinds = state.load(store, r.name).kinds
    with _connect(store, r) as far:
        res = SyncResult(r.name, r.url, kinds=kinds)
        res.steps.append(_pull(store, far, r.name, kinds, report))
        res.steps.append(_push(store, far, r.name, report))
    return res


def _pull(store: Store, far: Endpoint, name: str, kinds: list[str] | None,
          report: Report | None) -> transfer.Result:
    started = _now_ms()
    here = LocalEndpoint(store.root)
    if kinds is None:
        res = transfer.run("pull", far, here, report=report)
    else:
        # records first: they say which objects the kinds asked for are
        res = transfer.run("pull", far, here, objects=False, report=report)
        store.catch_up()
        objs = transfer.run("pull", far, here, want=wanted_objects(store, kinds),
                            segments=False, report=report)
        res.planned_objects, res.planned_bytes = objs.planned_objects, objs.planned_bytes
        res.stored.add(objs.stored)
        res.seconds += objs.seconds
    store.catch_up()
    st = state.load(store, name)
    st.pulled_ms = started
    # a full pull makes the copy whole; a partial one adds its kinds to what it holds
    st.kinds = None if kinds is None else sorted(set(st.kinds or []) | set(kinds))
    state.save(store, name, st)
    return res


def _push(store: Store, far: Endpoint, name: str, report: Report | None) -> transfer.Result:
    started = _now_ms()
    res = transfer.run("push", LocalEndpoint(store.root), far, report=report)
    if not store.readonly:
        st = state.load(store, name)
        st.pushed_ms = started
        state.save(store, name, st)
    return res


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def wanted_objects(store: Store, kinds: list[str]) -> set[bytes]:
    """The objects a partial copy with these artifact kinds holds: their payloads, and the
    unit lists of runs and member lists of collections (``show RUN`` and collections need
    them, and they are small)."""
    wanted: set[str] = set()
    chosen = set(kinds)
    with store.reader() as r:
        for a in r.artifacts():
            if a.payload and a.kind in chosen:
                wanted.add(a.payload)
        for _rid, info in r.runs():
            if info.started is not None and info.started.units_object:
                wanted.add(info.started.units_object)
        for c in r.collections(deleted=True):
            if c.members_object:
                wanted.add(c.members_object)
    return {bytes.fromhex(o) for o in wanted}


# -- clone -------------------------------------------------------------------------------------
def root_names(config_text: str) -> list[str]:
    """The archive roots a store's config.toml names ([roots] and every machine's)."""
    try:
        raw = tomllib.loads(config_text)
    except tomllib.TOMLDecodeError:
        return []
    names = list(raw.get("roots", {}))
    for m in raw.get("machines", {}).values():
        if isinstance(m, dict):
            names += [n for n in m.get("roots", {}) if n not in names]
    return names


def clone_config(source_text: str, src_url: str, roots: dict[str, Path],
                 mstore: str = "mstore") -> str:
    """The new copy's config.toml: the source's, without its remotes and its own root paths
    (they are the source machine's), with this machine's roots and ``origin``."""
    host = hostname()

    def doomed(parts: tuple[str, ...]) -> bool:
        return (parts[:1] in (("roots",), ("remotes",))
                or parts[:3] == ("machines", host, "roots"))

    text = remotes.drop_tables(source_text, doomed).rstrip("\n")
    lines = ["", "", "# Archive roots on this machine (name = path); a root without a path",
             "# here is cataloged elsewhere: its records and results are still here.",
             "[roots]"]
    lines += [f"{toml_str(n)} = {toml_str(str(p))}" for n, p in roots.items()]
    lines += ["", remotes.table_header("origin"), f"url = {toml_str(src_url)}"]
    if mstore != "mstore":  # the command that answered the clone answers later pulls too
        lines.append(f"mstore = {toml_str(mstore)}")
    lines.append("")
    out = text + "\n".join(lines)
    tomllib.loads(out)  # the source's file parsed, so this must too
    return out


@dataclass
class CloneResult:
    root: Path
    roots: dict[str, Path]
    unset: list[str]
    pull: SyncResult


def clone(src_url: str, dst: Path, *, roots: dict[str, Path],
          ask: Callable[[str], Path | None] | None = None, kinds: list[str] | None = None,
          mstore: str = "mstore", report: Report | None = None) -> CloneResult:
    """Copy the store at ``src_url`` into ``dst`` (a new or empty directory). Roots not in
    ``roots`` are asked for with ``ask`` (None: left unset, a catalog-only copy)."""
    dst = dst.absolute()
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise UsageError(f"cannot clone into {dst}: it exists and is not an empty directory")
    loc = url.parse(src_url)
    if not loc.is_ssh:
        src_url = loc.path  # a relative path as an absolute one: origin keeps meaning it
    with open_endpoint(loc, mstore) as far:
        hello = far.hello()
        if hello.get("format", 1) > config_mod.FORMAT:
            raise UsageError(f"{src_url} is a store of format {hello['format']}; this mstore "
                             f"reads format {config_mod.FORMAT} (upgrade mstore)")
        names = root_names(hello["config"])
        unknown = sorted(set(roots) - set(names))
        if unknown:
            raise UsageError(f"--root {unknown[0]}: the store has no archive root of that name"
                             + (f" (roots: {', '.join(names)})" if names else ""))
        chosen: dict[str, Path] = {}
        for n in names:
            path = roots.get(n) or (ask(n) if ask is not None else None)
            if path is not None:
                if not path.is_absolute():
                    path = path.absolute()
                chosen[n] = path
        text = clone_config(hello["config"], src_url, chosen, mstore if loc.is_ssh else "mstore")
        config_mod.parse(text, dst / "config.toml")
        store = Store.create(dst, text)
        try:
            from mstore.hooks import install_samples

            install_samples(store.layout.hooks)
            res = SyncResult("origin", src_url, kinds=kinds)
            res.steps.append(_pull(store, far, "origin", kinds, report))
        except RemoteError as e:  # what arrived stays: the copy is a store a pull completes
            raise RemoteError(f"{e.message}; the copy in {dst} is incomplete: "
                              f"'mstore --store {dst} pull' completes it") from None
        finally:
            store.close()
    return CloneResult(dst, chosen, [n for n in names if n not in chosen], res)


def parse_root_options(values: tuple[str, ...]) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for v in values:
        name, eq, path = v.partition("=")
        if not eq or not name or not path:
            raise UsageError(f"--root takes NAME=PATH, not '{v}'")
        out[name] = Path(os.path.expanduser(path))
    return out


__all__ = ["clone", "pull", "push", "sync", "wanted_objects"]
