"""``mstore add``: walk, skip unchanged, hash + probe the rest on both cores, record.

Per file the decision is made from the index alone: a path whose (size,
mtime_ns, inode, ctime_ns) match what the index holds is unchanged and costs one
stat (a file recorded as racily clean is read again, see fileinfo). ``--verify``
reads and hashes every file instead, and reports content that changed although
its stat did not. Content read again whose facts were recorded by older probers
(``PROBE_VERSION``) that can tell more about it gets a new asset record with the better
facts. Links inside
the archive are recorded as links (never read).
Everything else is hashed and probed in worker processes while this process
writes records. Order of effects: segment (durable) -> index -> hooks.
"""

from __future__ import annotations

import contextlib
import gc
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import msgspec

from mstore.catalog.fileinfo import FileResult
from mstore.catalog.hasher import Hasher, Progress, default_workers
from mstore.catalog.ignore import IgnoreRules
from mstore.catalog.walk import (
    Signature,
    WalkError,
    WalkFile,
    WalkLink,
    unchanged_since,
    walk,
    walk_one,
)
from mstore.errors import UsageError
from mstore.model.meta import PROBE_VERSION, probed_before_news
from mstore.model.records import (
    AddFinished,
    AssetRecorded,
    LinkGone,
    LinkSeen,
    PathError,
    PathGone,
    PathOk,
    PathSeen,
)
from mstore.query.fresh import FreshRows
from mstore.query.snapshot import refresh
from mstore.store.reader import PathState, PresentPaths
from mstore.store.store import RecordWriter, Store

# the new assets whose rows an add keeps for the snapshot before merging them in (and
# starting over): bounds what a bulk add holds per new file (~300 B each here)
FRESH_CHUNK = 100_000


class AddSummary(msgspec.Struct):
    new: int = 0
    changed: int = 0
    moved: int = 0
    missing: int = 0
    unchanged: int = 0
    errors: int = 0
    bytes_hashed: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    links: int = 0  # link records written: links that appeared, changed target or went
    reprobed: int = 0  # known content whose facts older probers had recorded, recorded anew
    verified: bool = False  # --verify: every file was read
    # --verify: (root, path) of files whose content changed although their stat had not
    changed_unseen: list[tuple[str, bytes]] = msgspec.field(default_factory=list)
    # roots whose folder could not be listed or was empty while files of theirs are
    # cataloged: (root, why, files left as they were); nothing was recorded gone for them
    unavailable: list[tuple[str, str, int]] = msgspec.field(default_factory=list)
    # for the post-add hook
    new_assets: AssetIds = msgspec.field(default_factory=lambda: AssetIds())

    def line(self) -> str:
        s = (f"{self.new} new, {self.changed} changed, {self.moved} moved, {self.missing} missing, "
             f"{self.unchanged} unchanged, {self.errors} errors")
        return s + (" (interrupted)" if self.interrupted else "")

    def as_dict(self) -> dict:
        out = {k: getattr(self, k) for k in ("new", "changed", "moved", "missing", "unchanged",
                                              "errors", "links", "reprobed", "bytes_hashed",
                                              "seconds",
                                              "interrupted", "verified")}
        out["changed_unseen"] = [root + "/" + rel.decode("utf-8", "backslashreplace")
                                 for root, rel in self.changed_unseen]
        out["unavailable"] = [{"root": root, "why": why, "files": files}
                              for root, why, files in self.unavailable]
        return out


class _Appeared:
    """Ids of content the scope held before (at a known path) seen at a new path."""

    def __init__(self, known: PresentPaths) -> None:
        self._known = known
        self._before: set[str] | None = None
        self.ids: set[str] = set()

    def add(self, aid: str) -> None:
        if self._before is None:  # on the first new path: an unchanged rescan never pays
            self._before = self._known.asset_ids()
        if aid in self._before:
            self.ids.add(aid)


class AssetIds:
    """Asset ids in the order added, 32 bytes each in one buffer: a million of them take
    32 MB, not the ~120 MB of as many strings."""

    def __init__(self) -> None:
        self._raw = bytearray()

    def append(self, aid: str) -> None:
        self._raw += bytes.fromhex(aid)

    def __iadd__(self, other: AssetIds) -> AssetIds:
        self._raw += other._raw
        return self

    def __len__(self) -> int:
        return len(self._raw) // 32

    def __iter__(self) -> Iterator[str]:
        raw = self._raw
        return (raw[i:i + 32].hex() for i in range(0, len(raw), 32))


class Target(msgspec.Struct):
    """One scope to catalog: a root name, its path on this machine, and a subdirectory."""

    root: str
    root_path: Path
    sub: bytes = b""  # relative to root_path; b"" = the whole root


def resolve_targets(store: Store, paths: Iterable[Path]) -> list[Target]:
    paths = list(paths)
    if not paths:
        if not store.config.roots:
            raise UsageError("no archive roots configured; pass a PATH or add one in config.toml")
        return [Target(name, p) for name, p in store.config.roots.items()]
    out = []
    for p in paths:
        try:
            present = p.exists() or p.is_symlink()
        except OSError as e:  # e.g. a name too long
            raise UsageError(f"{p}: {e.strerror}") from None
        if not present:
            raise UsageError(f"{p}: no such file or directory")
        hit = store.config.root_for(p)
        if hit is None:
            roots = ", ".join(map(str, store.config.roots.values())) or "none"
            raise UsageError(f"{p} is not under an archive root of this store (roots: {roots})")
        name, root = hit
        # the parent resolved, not the name: PATH may be a link, which is cataloged as one
        rel = os.fsencode((Path(p).parent.resolve() / Path(p).name).relative_to(root))
        out.append(Target(name, root, b"" if rel == b"." else rel))
    return out


class Adder:
    def __init__(self, store: Store, writer: RecordWriter, *, workers: int | None = None,
                 progress: Progress | None = None, verify: bool = False,
                 allow_empty: bool = False) -> None:
        self.store = store
        self.verify = verify
        self.allow_empty = allow_empty  # an empty root's files are gone, not unmounted
        self.writer = writer
        self.workers = workers or default_workers()
        self.progress = progress
        self.rules = IgnoreRules(store.config.ignore)
        self.summary = AddSummary()
        self._recorded: set[str] = set()  # assets recorded during this add
        self._errored: set[bytes] = set()  # paths of the target being walked found in error
        self._catalog_empty = False  # no asset and no path when the session began
        self._hasher = Hasher(self.workers, progress)
        self.fresh: FreshRows | None = None  # the assets this session found new
        self.fresh_chunk = FRESH_CHUNK

    # -- the whole add ----------------------------------------------------------
    def run(self, targets: list[Target]) -> AddSummary:
        """Walk every target; record what changed."""
        return self._session([t.root for t in targets],
                             lambda: [self._add_target(t) for t in targets])

    def run_files(self, root: str, root_path: Path, rels: list[bytes]) -> AddSummary:
        """Catalog just these paths of one root (the watcher's batches): each is new,
        changed, unchanged, gone, or a directory to walk."""
        return self._session([root], lambda: self._add_files(root, root_path, rels))

    def _session(self, roots: list[str], body: Callable[[], object]) -> AddSummary:
        self.summary = AddSummary(verified=self.verify)
        self._recorded = set()
        big_blocks_unmapped()
        refresh(self.store)  # the snapshot the rows of this session's new assets go into
        with self.store.reader() as r:  # the first add of a store needs no per-file lookups
            self._catalog_empty = r.catalog_empty()
            self.fresh = FreshRows(self.store.watch_changes(), r.data_gen())
        t0 = time.monotonic()
        started = int(time.time() * 1000)
        with gc_paused():
            try:
                body()
            except KeyboardInterrupt:
                self.summary.interrupted = True
            finally:
                self._hasher.close()
            s = self.summary
            s.seconds = round(time.monotonic() - t0, 3)
            self.writer.append(AddFinished(
                hlc=self.writer.now(), roots=sorted(set(roots)), started_ms=started,
                finished_ms=int(time.time() * 1000), new=s.new, changed=s.changed,
                moved=s.moved, missing=s.missing, unchanged=s.unchanged, errors=s.errors,
                interrupted=s.interrupted, unavailable=[root for root, _, _ in s.unavailable]))
            self.writer.flush()
        return s

    def _add_files(self, root: str, root_path: Path, rels: list[bytes]) -> None:
        for rel in sorted(set(rels)):
            if _is_dir(os.path.join(os.fsencode(root_path), rel)):
                self._add_target(Target(root, root_path, rel))
            else:
                self._add_target(Target(root, root_path, rel), single=True)

    def _add_target(self, t: Target, *, single: bool = False) -> None:
        root_b = os.fsencode(t.root_path)
        prefix = t.sub + b"/" if t.sub else b""
        # what the index knows under this scope
        known_errors: dict[bytes, str] = {}
        known_links: dict[bytes, bytes] = {}
        with self.store.reader() as r:
            scope = t.sub if single else prefix
            known = r.present_states(t.root, scope)
            if single:
                known = known.only(t.sub)
            for path, target in r.links_under(t.root, scope):
                if not single or path == t.sub:
                    known_links[path] = target
            if t.sub and not single:
                st = r.path_state(t.root, t.sub)  # PATH may name one file
                if st is not None and st.present:
                    known.put(t.sub, st)
                link = r.link_at(t.root, t.sub)  # ... or one link
                if link is not None:
                    known_links[t.sub] = link.target
            # the target itself (a file, or a directory that could not be read) and,
            # for a directory, everything under it
            for _, path, err in r.errors(t.root, t.sub):
                if path == t.sub or (not single and path.startswith(prefix)):
                    known_errors[path] = err.reason
        # what the walk may skip on sight: paths in error are read again, and --verify
        # reads everything. A path recorded as racily clean (ctime -1) never looks
        # unchanged to the walk (no file has that ctime), so it is read again too.
        if self.verify:
            known.none_skippable()
        for p in known_errors:
            known.not_skippable(p)
        unchanged = [0]
        walked: set[bytes] = set()  # files and errors (a path in error keeps its state)
        walked_links: set[bytes] = set()
        walk_errors: set[bytes] = set()
        failed_dirs: list[bytes] = []
        # content of known paths that appeared at a new path: a move if its old path went.
        # Only content the scope held before can move, so only it is kept (not every new file)
        appeared = _Appeared(known) if known else None
        hasher = self._hasher

        def record(res: FileResult) -> None:
            self.summary.bytes_hashed += res.size
            if res.reason:
                self._error(t.root, res.rel, res.reason, res.detail, known_errors)
                return
            # a path in error is re-recorded whatever it holds: that clears the error
            old = known.get(res.rel)
            sig = None if old is None or res.rel in known_errors else signature(old)
            self._record_result(t.root, res, old, sig, appeared)

        store_real = os.fsencode(os.path.realpath(self.store.root))
        abs_sub = os.path.join(root_b, t.sub)
        if t.sub and (single or not _is_dir(abs_sub)):
            items = walk_one(root_b, t.sub, self.rules) if os.path.lexists(abs_sub) else []
            one = True  # walk_one takes nothing from ``known``: the loop below does
        else:
            items = walk(root_b, t.sub, self.rules, frozenset({store_real}), known, unchanged)
            one = False
        w = self.writer
        # what was walked matters only for telling what is gone: nothing, in a new tree
        track = bool(known or known_links or known_errors)
        self._errored = set()  # the paths in error this time
        if not known and not single and self.fresh is not None:
            self.fresh.new_scope(t.root, prefix)
        listed = 0  # what the walk found of what the index knew of (a new tree: not counted)
        for item in items:
            if type(item) is WalkFile and not track:  # the common case: a new tree
                for res in hasher.add(root_b, item.rel, item.size):
                    record(res)
                continue
            listed += 1
            if isinstance(item, WalkLink):
                walked_links.add(item.rel)
                if one:
                    known.take(item.rel)
                old = known.get(item.rel)
                if old is not None:  # a file replaced by a link: first the file goes
                    w.append(PathGone(hlc=w.now(), root=t.root, path=item.rel, asset=old.asset))
                    self._gone_fresh(t.root, item.rel)
                if known_links.get(item.rel) != item.target or item.rel in known_errors:
                    w.append(LinkSeen(hlc=w.now(), root=t.root, path=item.rel,
                                      target=item.target))
                    self.summary.links += 1
                continue
            walked.add(item.rel)
            if isinstance(item, WalkFile) and known_links.pop(item.rel, None) is not None:
                # a link replaced by a file: first the link goes, then the file is seen
                w.append(LinkGone(hlc=w.now(), root=t.root, path=item.rel))
                self.summary.links += 1
            if isinstance(item, WalkError):
                walk_errors.add(item.rel)
                if item.is_dir:  # b"": the root itself could not be listed
                    failed_dirs.append(item.rel + b"/" if item.rel else b"")
                    if not item.rel and not single:
                        self.summary.unavailable.append((t.root, item.detail, len(known)))
                self._error(t.root, item.rel, item.reason, item.detail, known_errors)
                continue
            k = known.take(item.rel) if one else -1
            if k >= 0 and unchanged_since(known.state(k), item.size, item.mtime_ns, item.inode,
                                          item.ctime_ns):
                unchanged[0] += 1
                continue
            for res in hasher.add(root_b, item.rel, item.size):
                record(res)
        self.summary.unchanged += unchanged[0]
        for res in hasher.finish():
            record(res)
        if (not t.sub and not single and known and not listed and not unchanged[0]
                and not self.allow_empty):
            # a root that lists nothing while the index knows files in it: a drive that
            # is not mounted (its mount point left empty) far more often than an archive
            # deleted whole, so nothing is recorded gone (--allow-empty records it)
            self.summary.unavailable.append((t.root, "empty", len(known)))
            return
        # paths the index knew that are gone now: those the walk never took from ``known``
        # (it takes every path it finds, unchanged or not) and did not yield as an error
        gone_assets: set[str] = set()
        for path in known.not_taken():
            if path in walked or any(path.startswith(d) for d in failed_dirs):
                continue
            st = known.get(path)
            assert st is not None
            self._gone_fresh(t.root, path)
            self.writer.append(PathGone(hlc=self.writer.now(), root=t.root, path=path,
                                        asset=st.asset))
            gone_assets.add(st.asset)
        for path in known_links:
            if path in walked_links or path in walk_errors:
                continue  # still a link (one in error, e.g. whose target vanished, stays one)
            if any(path.startswith(d) for d in failed_dirs):
                continue
            self.writer.append(LinkGone(hlc=self.writer.now(), root=t.root, path=path))
            self.summary.links += 1
        # errors the index holds here that this walk did not meet again: what could not be
        # cataloged went (a FIFO removed, a folder that lists again, a root mounted again)
        for path in known_errors:
            if (path in self._errored or path in walked or path in walked_links
                    or path in known_links or known.get(path) is not None
                    or any(path.startswith(d) for d in failed_dirs)):
                continue  # still in error; a file or link (whose records clear it); unseen
            self.writer.append(PathOk(hlc=self.writer.now(), root=t.root, path=path))
        for aid in gone_assets:
            if appeared is not None and aid in appeared.ids:
                self.summary.moved += 1
                self.summary.new -= 1  # one of its new paths is the move, any other a copy
            else:
                self.summary.missing += 1

    def _error(self, root: str, rel: bytes, reason: str, detail: str,
               known_errors: dict[bytes, str]) -> None:
        self.summary.errors += 1
        self._errored.add(rel)
        self._forget_fresh(root, rel)
        if known_errors.get(rel) == reason:
            return  # same error as last time: nothing new to record
        self.writer.append(PathError(hlc=self.writer.now(), root=root, path=rel, reason=reason,
                                     detail=detail))

    def _record_result(self, root: str, res: FileResult, old: PathState | None,
                       sig: Signature | None, appeared: _Appeared | None) -> None:
        """Record what reading one file found. Runs once per file read: kept lean."""
        w = self.writer
        aid = res.asset
        size = res.size
        summary = self.summary
        if aid in self._recorded:
            state = "recorded"
        elif self._catalog_empty:
            state = "new"  # this process holds the write lock: only it adds assets
        else:
            state = self._asset_state(aid)
        hlc = w.stamps(2)
        if state == "new" or state == "stale":
            # the Meta the worker encoded goes into the record as it is (never decoded here)
            asset_rec = AssetRecorded(hlc=hlc, id=aid, size=size, meta=msgspec.Raw(res.meta),
                                      probe=PROBE_VERSION)
            self._recorded.add(aid)
            if state == "new":
                summary.new_assets.append(aid)
            else:  # known content, probed by older probers: its better facts replace theirs
                summary.reprobed += 1
        else:
            asset_rec = None
        stat_same = sig is not None and unchanged_since(sig, size, res.mtime_ns, res.inode,
                                                        res.ctime_ns)
        if old is not None and old.asset == aid and stat_same and not res.racy:
            if asset_rec is not None:
                w.append(asset_rec)
            summary.unchanged += 1  # read by --verify, and just as recorded: no record
            return
        seen = PathSeen(hlc=hlc + 1, root=root, path=res.rel, asset=aid, size=size,
                        mtime_ns=res.mtime_ns, inode=res.inode, ctime_ns=res.ctime_ns,
                        racy=res.racy)
        w.extend((asset_rec, seen) if asset_rec is not None else (seen,))
        fresh = self.fresh
        if fresh is not None:
            if state == "new" and res.facts is not None and (
                    self._catalog_empty or not self._seen_before(aid)):
                fresh.add(aid, size, res.facts, root, res.rel)
                if len(fresh.assets) >= self.fresh_chunk:
                    self._merge_fresh()
            else:
                fresh.add_path(aid, root, res.rel)
        if old is None:
            summary.new += 1
            if appeared is not None:
                appeared.add(aid)
        elif old.asset != aid:
            summary.changed += 1
            if stat_same:  # only reading it could tell (--verify)
                summary.changed_unseen.append((root, res.rel))
        else:
            summary.unchanged += 1  # touched, same content

    def _merge_fresh(self) -> None:
        """Put the rows of the assets found new so far into the snapshot and start
        collecting afresh, so that what an add holds per new file stays bounded
        (``FRESH_CHUNK`` assets) however large the archive. The records go to the index
        first; from then on the index answers what ``_recorded`` and the empty-catalog
        shortcut answered, and the directories seen so far are read back from it."""
        assert self.fresh is not None
        self.writer.flush()
        refresh(self.store, fresh=self.fresh)
        self._recorded.clear()
        self._catalog_empty = False
        with self.store.reader() as r:
            self.fresh = FreshRows(self.store.watch_changes(), r.data_gen())

    def _forget_fresh(self, root: str, path: bytes) -> None:
        if self.fresh is not None:
            self.fresh.forget_path(root, path)

    def _gone_fresh(self, root: str, path: bytes) -> None:
        if self.fresh is not None:
            self.fresh.gone(root, path)

    def _seen_before(self, aid: str) -> bool:
        """Whether a path was ever recorded holding ``aid`` (content with no asset record
        of its own yet, e.g. from another machine's records that came in part)."""
        with self.store.reader() as r:
            return r.asset_seen(aid)

    def _asset_state(self, aid: str) -> str:
        """"new" content, "stale" (recorded by older probers) or "known"."""
        if self._catalog_empty:
            return "new"  # this process holds the write lock: only it adds assets
        with self.store.reader() as r:
            info = r.asset(aid)
        if info is None:
            return "new"
        return "stale" if probed_before_news(info.meta, info.probe) else "known"

def big_blocks_unmapped() -> None:
    """Have glibc's malloc give every block of 1 MiB or more its own mapping, returned when
    it is freed. By default it raises that threshold to the size of each big block freed
    (up to 32 MiB), so the column-sized blocks a long add makes and frees come from the
    heap afterwards, which keeps what they leave between them: measured over a million
    files, ~50 MB more at the peak and a resting size that grows with each merge."""
    try:
        import ctypes

        ctypes.CDLL(None).mallopt(-3, 1 << 20)  # M_MMAP_THRESHOLD (malloc.h)
    except (OSError, AttributeError):  # not glibc
        pass


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Python's cycle collector off while an add records: it would scan the growing heap
    of records, index entries and rows (several full passes over some million objects
    for 100k files, a fifth of the process's time) to find none of the cycles it
    collects; they are collected afterwards."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _is_dir(path: bytes) -> bool:
    """A directory itself, not a link to one (which is never followed)."""
    return os.path.isdir(path) and not os.path.islink(path)


def signature(st: PathState) -> Signature | None:
    """What a walk compares a file's stat with to skip reading it; None for a path
    recorded as racily clean, which must be read again."""
    return None if st.ctime_ns < 0 else st
