"""The assets one ``add`` found new, and what its workers said about them.

An asset an add records for the first time (no asset record and no path ever seen
holding it) has a row in the catalog table that depends on little besides what the
worker that probed it knew: its own facts (``RowFacts``) and the paths this add saw it
at. The adder collects those here, so that ``snapshot.refresh`` makes these rows
without reading their records back from the index, and so keeps the snapshot
incremental for bulk adds: 100k new files cost assembling 100k rows, not a rebuild.

It holds only while nothing else changed the catalog during the add: ``valid`` checks
that the index's data generation moved by exactly the steps this process's writer
made. Otherwise, and for every other changed row (changed, moved and missing files,
errors, the neighbours of new sidecars), the snapshot computes rows from the index.
"""

from __future__ import annotations

from mstore.query.rowfacts import RowFacts
from mstore.store.changes import ChangeWatch

Place = tuple[str, bytes]  # (root name, path relative to it)


class FreshRows:
    def __init__(self, changes: ChangeWatch, data_gen: int) -> None:
        self.changes = changes  # the dirty keys of this add's records, overflow or not
        self.start_gen = data_gen
        # asset id -> (size, facts, its paths) of the assets found new
        self.assets: dict[str, tuple[int, RowFacts, tuple[Place, ...]]] = {}
        self.at: dict[Place, str] = {}  # their paths
        # what else this add saw present, where it is the only source of what is there
        self.others: dict[Place, str] = {}
        self.new_scopes: list[Place] = []  # (root, directory prefix) with no path before
        # (root, directory) of every path of a fresh asset that is a sidecar lending facts
        # (rowfacts.lender_facts; kept when the asset is forgotten: a directory listed here
        # is only looked at closer)
        self.lender_dirs: set[Place] = set()

    def add(self, aid: str, size: int, facts: RowFacts, root: str, path: bytes) -> None:
        """``aid``, new content, was seen at ``root``/``path``."""
        place = (root, path)
        if place in self.at or place in self.others:
            self.forget_path(root, path)
        self.assets[aid] = (size, facts, (place,))
        self.at[place] = aid
        if facts.lends:
            self.lender_dirs.add((root, path.rpartition(b"/")[0]))

    def add_path(self, aid: str, root: str, path: bytes) -> None:
        """``aid`` was seen at one more path (as a copy, or as content that is not new)."""
        place = (root, path)
        if place in self.at or place in self.others:
            self.forget_path(root, path)
        entry = self.assets.get(aid)
        if entry is None:
            self.others[place] = aid
            return
        self.assets[aid] = (entry[0], entry[1], (*entry[2], place))
        self.at[place] = aid
        if entry[1].lends:
            self.lender_dirs.add((root, path.rpartition(b"/")[0]))

    def forget_path(self, root: str, path: bytes) -> None:
        """Something else was recorded at ``root``/``path`` (an error, other content):
        the asset that was new there no longer has just the paths listed, so its row is
        made from the index."""
        place = (root, path)
        self.others.pop(place, None)
        aid = self.at.pop(place, None)
        if aid is not None:
            for p in self.assets.pop(aid)[2]:
                self.at.pop(p, None)

    def gone(self, root: str, path: bytes) -> None:
        """``root``/``path`` was recorded gone: besides ``forget_path``, its directory is no
        longer known from what this add saw alone."""
        self.forget_path(root, path)
        d = path.rpartition(b"/")[0]
        inside = d + b"/" if d else b""
        self.new_scopes = [(r, s) for r, s in self.new_scopes
                           if not (r == root and inside.startswith(s))]

    def new_scope(self, root: str, prefix: bytes) -> None:
        """No path under ``root``/``prefix`` (b"" or ending in "/") was present when the
        add began: the present files of its directories are the ones this add saw."""
        self.new_scopes.append((root, prefix))

    def dir_is_new(self, root: str, d: bytes) -> bool:
        inside = d + b"/" if d else b""
        return any(r == root and inside.startswith(s) for r, s in self.new_scopes)

    def valid(self, data_gen: int) -> bool:
        """Whether only this process's writer changed the catalog since the add began."""
        return data_gen == self.start_gen + self.changes.steps()

    def touched(self) -> set[bytes]:
        return self.changes.touched()

    def close(self) -> None:
        self.changes.close()
