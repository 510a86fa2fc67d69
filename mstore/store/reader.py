"""The one way to read the index from outside ``mstore/store/``.

``with store.reader() as r:`` is one consistent view of the index (one LMDB read
transaction): everything read through ``r`` belongs to the same moment, and writes made
meanwhile are not seen. The methods return typed rows (the structs below and the records
of ``mstore.model.records``); how the index keys them (``keys.py``) stays inside the
store. A reader must not outlive its ``with`` block.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import lmdb
import msgspec

from mstore.model.records import AddFinished, ArtifactMade, CollectionDefined, Label
from mstore.store import index_links, index_runs, keys, path_cache
from mstore.store.index import AssetInfo, ErrorState, HistoryEvent, PathState, SetAside
from mstore.store.index_links import LinkState
from mstore.store.index_runs import RunInfo, UnitState
from mstore.store.present_paths import EXPECTED, TAKEN, PresentPaths
from mstore.store.scan import prefix_keys

if TYPE_CHECKING:
    from mstore.store.index import Index

__all__ = ["EXPECTED", "TAKEN", "ArtifactRef", "AssetInfo", "ErrorState", "HistoryEvent",
           "LinkState", "PathState", "PresentPaths",
           "Reader", "RunInfo", "SetAside", "UnitState"]


class ArtifactRef(msgspec.Struct, kw_only=True):
    """The few fields of an artifact that a pass over all of them needs (gc): decoding only
    these keeps such a pass cheap in time and memory."""

    id: str
    policy: str = "production"
    expires_ms: int = 0
    inputs: list[str] = []
    payload: str = ""


_dec_ref = msgspec.msgpack.Decoder(ArtifactRef)


class Reader:
    def __init__(self, index: Index, txn: lmdb.Transaction) -> None:
        self._index, self._txn = index, txn

    # -- the catalog ------------------------------------------------------------------
    def asset(self, aid: str) -> AssetInfo | None:
        return self._index.asset(self._txn, aid)

    def assets(self) -> Iterator[AssetInfo]:
        return self._index.iter_assets(self._txn)

    def asset_count(self) -> int:
        return self._txn.stat(self._index.db["assets"])["entries"]

    def catalog_empty(self) -> bool:
        """Whether no asset and no path holding one was ever recorded (a first add)."""
        return all(self._txn.stat(self._index.db[name])["entries"] == 0
                   for name in ("assets", "asset_paths"))

    def data_gen(self) -> int:
        """The catalog's data generation: it moves with every change to the catalog."""
        return self._index.meta_int(self._txn, b"data_gen")

    def asset_seen(self, aid: str) -> bool:
        """Whether any path was ever recorded holding asset ``aid``."""
        return self._index.asset_seen(self._txn, aid)

    def present_states(self, root: str, prefix: bytes = b"") -> PresentPaths:
        """One root's present paths starting with ``prefix`` with their states, packed:
        what ``add`` compares its walk with. A whole root comes from the cache of the
        last reading while it is current (store/path_cache.py), and is kept for the next."""
        if prefix:
            return self._index.present_states_under(self._txn, root, prefix)
        states = path_cache.load(self._index, self._txn, root)
        if states is None:
            states = self._index.present_states_under(self._txn, root)
            path_cache.save(self._index, root, self.data_gen(), states)
        return states

    def asset_ids(self, prefix: str, limit: int = 2) -> list[str]:
        """Asset ids starting with the hex ``prefix`` (at most ``limit``)."""
        return self._index.assets_with_prefix(self._txn, prefix, limit)

    def path_state(self, root: str, path: bytes) -> PathState | None:
        return self._index.path_state(self._txn, root, path)

    def paths(self, root: str | None = None, prefix: bytes = b""
              ) -> Iterator[tuple[str, bytes, PathState]]:
        """(root, path, state) in key order; with ``root``, that root's paths under
        ``prefix``."""
        return self._index.iter_paths(self._txn, root, prefix)

    def dir_members(self, root: str, d: bytes) -> list[tuple[bytes, str]]:
        """(file name, asset id) of the present files directly in directory ``d`` of
        ``root`` (b"": the root itself), in name order: who sidecars and Takeout JSONs
        pair with (query/related.py)."""
        return self._index.present_in_dir(self._txn, root, d)

    def paths_under(self, root: str, prefix: bytes = b"") -> Iterator[tuple[bytes, PathState]]:
        """(path, state) of one root's paths starting with ``prefix`` (the rescan's loop)."""
        return self._index.path_states_under(self._txn, root, prefix)

    def errors(self, root: str | None = None, prefix: bytes = b""
               ) -> Iterator[tuple[str, bytes, ErrorState]]:
        return self._index.iter_errors(self._txn, root, prefix)

    def error_at(self, root: str, path: bytes) -> ErrorState | None:
        return self._index.error_at(self._txn, root, path)

    def asset_paths(self, aid: str) -> list[tuple[str, bytes]]:
        """(root, path) of every path the asset was ever seen at."""
        return self._index.asset_path_keys(self._txn, aid)

    def history(self, root: str, path: bytes) -> list[tuple[int, str, HistoryEvent]]:
        """(hlc, machine, event) of one path, oldest first."""
        return self._index.path_history(self._txn, root, path)

    def last_add(self) -> AddFinished | None:
        return self._index.last_add(self._txn)

    def link_at(self, root: str, path: bytes) -> LinkState | None:
        return index_links.link_at(self._index, self._txn, root, path)

    def links_under(self, root: str, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        return index_links.links_under(self._index, self._txn, root, prefix)

    def links_to(self, root: str, target: bytes) -> list[bytes]:
        return index_links.links_to(self._index, self._txn, root, target)

    def segment_applied(self, lane: str, seq: int) -> bool:
        """Whether the index holds the records of that lane's segment ``seq``."""
        return self._index.is_applied(self._txn, keys.segment_key(lane, seq))

    def set_aside(self) -> list[SetAside]:
        return self._index.set_aside(self._txn)

    def set_aside_count(self) -> int:
        return self._index.set_aside_count(self._txn)

    # -- runs and coverage --------------------------------------------------------------
    def run(self, run: str) -> RunInfo | None:
        return index_runs.run_info(self._index, self._txn, run)

    def runs(self) -> list[tuple[str, RunInfo]]:
        return index_runs.all_runs(self._index, self._txn)

    def run_states(self) -> list[tuple[str, str]]:
        """(run id, state) of the runs that have started, cheaply."""
        return index_runs.run_states(self._index, self._txn)

    def run_ids(self, prefix: str, limit: int = 3) -> list[str]:
        """Run ids starting with ``prefix`` (keys only: nothing is decoded)."""
        out: list[str] = []
        for k in prefix_keys(self._txn, self._index.db["runs"], keys.run_key(prefix)):
            out.append(k.decode())
            if len(out) >= limit:
                break
        return out

    def units(self, run: str, step: str | None = None) -> list[tuple[str, str, UnitState]]:
        """(step, unit, state) of a run's units, optionally of one step."""
        return index_runs.run_units(self._index, self._txn, run, step)

    def unit(self, run: str, step: str, unit: str) -> UnitState | None:
        return index_runs.unit_state(self._index, self._txn, run, step, unit)

    def failures(self, run: str, limit: int) -> list[tuple[str, str, UnitState]]:
        return index_runs.run_failures(self._index, self._txn, run, limit)

    # -- artifacts ------------------------------------------------------------------------
    def artifact(self, art_id: str) -> ArtifactMade | None:
        return index_runs.artifact(self._index, self._txn, art_id)

    def artifact_ids(self, prefix: str, limit: int = 2) -> list[str]:
        return index_runs.artifacts_with_prefix(self._index, self._txn, prefix, limit)

    def is_dropped(self, art_id: str) -> bool:
        """Whether garbage collection dropped this artifact (it may be re-derived later)."""
        return self._txn.get(keys.artifact_key(art_id), db=self._index.db["dropped"]) is not None

    def artifacts_of(self, asset: str, kind: str | None = None) -> list[ArtifactMade]:
        """The asset's artifacts (its own, and aggregate ones naming it), of one kind."""
        return index_runs.asset_artifacts(self._index, self._txn, asset, kind)

    def run_artifacts(self, run: str, limit: int | None = None, newest_first: bool = True
                      ) -> list[ArtifactMade]:
        return index_runs.run_artifacts(self._index, self._txn, run, limit, newest_first)

    def recent_artifacts(self, run: str, limit: int, known: int | None = None
                         ) -> tuple[int, list[ArtifactMade]]:
        """(number of live artifacts of the run, the newest ``limit`` of them), by one
        backwards scan of the run's results; ``known``: the count when the caller knows
        it, so the scan stops after ``limit``."""
        return index_runs.recent_artifacts(self._index, self._txn, run, limit, known)

    def reusable(self, reuse_key: str) -> list[ArtifactMade]:
        return index_runs.reusable(self._index, self._txn, reuse_key)

    def derived_from(self, input_id: str) -> list[ArtifactMade]:
        """The live artifacts made with ``input_id`` (an asset or artifact id) as input."""
        return index_runs.derived_from(self._index, self._txn, input_id)

    def artifact_counts(self) -> tuple[int, int]:
        """(artifacts the index holds, artifacts gc dropped): one of them changes whenever
        an artifact arrives or is dropped, so a cache built from artifacts (the vector
        index) knows in O(1) that it is still up to date."""
        return (self._txn.stat(self._index.db["artifacts"])["entries"],
                self._txn.stat(self._index.db["dropped"])["entries"])

    def artifacts(self) -> Iterator[ArtifactMade]:
        return index_runs.all_artifacts(self._index, self._txn)

    def artifact_refs(self) -> Iterator[ArtifactRef]:
        """Every artifact's id, policy, expiry, inputs and payload, decoded lightly."""
        for _k, v in self._txn.cursor(db=self._index.db["artifacts"]):
            yield _dec_ref.decode(v)

    # -- collections and labels -------------------------------------------------------------
    def collections(self, deleted: bool = False) -> list[CollectionDefined]:
        """The collections (with ``deleted``, also the latest claims that deleted one)."""
        return index_runs.collections(self._index, self._txn, deleted)

    def collection(self, name: str) -> CollectionDefined | None:
        return index_runs.collection(self._index, self._txn, name)

    def labels(self, asset: str) -> list[Label]:
        return index_runs.labels(self._index, self._txn, asset)

    def all_labels(self) -> Iterator[Label]:
        return index_runs.all_labels(self._index, self._txn)

    def label_claims(self) -> Iterator[tuple[tuple[int, str], Label]]:
        """Every current label with its order (hlc, lane): of two marks that compete (the
        same key about different artifacts), the one with the larger order is the newer,
        on every machine alike (docs/format.md §3.4)."""
        return index_runs.label_claims(self._index, self._txn)
