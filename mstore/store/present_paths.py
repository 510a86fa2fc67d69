"""The present paths of a scope with their states, packed: what ``add`` compares its walk
with.

A rescan of a million files holds this for the whole archive root. As a dict of
``PathState`` objects it cost ~500 bytes a path (the struct, its asset id string and
four integer objects, the key, two dict entries); here a path costs its key, one dict
entry pointing at a row number, and 72 bytes of packed columns (the four stat numbers,
the record's clock and the asset id as 32 raw bytes). A ``PathState`` is made only
for the paths whose state is asked for: the changed, gone and moved ones.

``take`` is the walk's side (catalog/walk.py): it hands out each row at most once, so
the rows never taken are the paths the walk did not find (gone, or not skippable).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator

from mstore.store.index import PathState

EXPECTED, TAKEN, NOT_SKIPPABLE = 0, 1, 2


class PresentPaths:
    def __init__(self) -> None:
        self.rows: dict[bytes, int] = {}
        self.size, self.mtime, self.inode = array("q"), array("q"), array("q")
        self.ctime, self.hlc = array("q"), array("q")
        self.assets = bytearray()
        self.marks = bytearray()  # per row: EXPECTED, TAKEN or NOT_SKIPPABLE

    # -- building -----------------------------------------------------------------
    def extend(self, paths: list[bytes], states: list[PathState]) -> None:
        """Add present paths (``states[i]`` of ``paths[i]``); absent ones are skipped."""
        if not all(st.present for st in states):
            kept = [(p, st) for p, st in zip(paths, states, strict=True) if st.present]
            paths, states = [p for p, _ in kept], [st for _, st in kept]
        n = len(self.marks)
        self.rows.update(zip(paths, range(n, n + len(paths)), strict=True))
        self.size.extend(st.size for st in states)
        self.mtime.extend(st.mtime_ns for st in states)
        self.inode.extend(st.inode for st in states)
        self.ctime.extend(st.ctime_ns for st in states)
        self.hlc.extend(st.hlc for st in states)
        self.assets += bytes.fromhex("".join(st.asset for st in states))
        self.marks += bytes(len(paths))

    @classmethod
    def of(cls, items: Iterable[tuple[bytes, PathState]]) -> PresentPaths:
        out = cls()
        pairs = list(items)
        out.extend([p for p, _ in pairs], [st for _, st in pairs])
        return out

    # -- reading ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.rows)

    def __bool__(self) -> bool:
        return bool(self.rows)

    def __contains__(self, path: object) -> bool:
        return path in self.rows

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.rows)

    def asset(self, k: int) -> str:
        return self.assets[32 * k:32 * k + 32].hex()

    def state(self, k: int) -> PathState:
        return PathState(self.asset(k), self.size[k], self.mtime[k], self.inode[k],
                         self.hlc[k], True, self.ctime[k])

    def get(self, path: bytes) -> PathState | None:
        k = self.rows.get(path)
        return None if k is None else self.state(k)

    def asset_ids(self) -> set[str]:
        raw = self.assets
        return {raw[i:i + 32].hex() for i in range(0, len(raw), 32)}

    def only(self, path: bytes) -> PresentPaths:
        """Just ``path`` (``add FILE``)."""
        st = self.get(path)
        return PresentPaths.of([(path, st)] if st is not None else [])

    def put(self, path: bytes, st: PathState) -> None:
        """Add or replace one path's state."""
        k = self.rows.get(path)
        if k is None:
            self.extend([path], [st])
            return
        self.size[k], self.mtime[k], self.inode[k] = st.size, st.mtime_ns, st.inode
        self.ctime[k], self.hlc[k] = st.ctime_ns, st.hlc
        self.assets[32 * k:32 * k + 32] = bytes.fromhex(st.asset)

    # -- the walk's side ----------------------------------------------------------
    def take(self, path: bytes) -> int:
        """The row of ``path`` if the walk may skip it when its stat is unchanged, else
        -1; either way the path counts as found."""
        k = self.rows.get(path)
        if k is None:
            return -1
        mark = self.marks[k]
        self.marks[k] = TAKEN
        return k if mark == EXPECTED else -1

    def not_skippable(self, path: bytes) -> None:
        """The walk must yield ``path`` (read it) even when its stat is unchanged."""
        k = self.rows.get(path)
        if k is not None:
            self.marks[k] = NOT_SKIPPABLE

    def none_skippable(self) -> None:
        self.marks[:] = bytes([NOT_SKIPPABLE]) * len(self.marks)

    def not_taken(self) -> Iterator[bytes]:
        """Paths the walk never took: gone, unless the walk yielded them otherwise."""
        marks = self.marks
        return (p for p, k in self.rows.items() if marks[k] != TAKEN)
