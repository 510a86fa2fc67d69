"""The vector index behind ``similar:``: an hnswlib graph over the ``embedding`` artifacts,
kept in ``local/similar/`` as this machine's cache (docs/similar.md).

The truth is the embedding artifacts (objects + records). The index is built from them
when it is missing, unreadable or stale, and caught up incrementally when new ones
arrive; deleting ``local/similar/`` loses nothing. What it holds is written beside it
(``state.msgpack``), so catching up reads only what is new:

* a *generation*: the index's artifact counts (``Reader.artifact_counts``) when the cache
  was last brought up to date. Equal counts mean nothing arrived and nothing was dropped:
  a query then reads no run at all;
* per run that made embeddings, how many of its artifacts were read; a run whose count
  did not change is skipped, one that grew is read again (only its new embeddings are
  added);
* per label (hnswlib's integer id), the asset and the embedding artifact it came from.

An artifact dropped by ``gc`` makes the cache rebuild (gc is rare; a rebuild re-reads
every embedding). Each asset is one point: its newest embedding of this *space*. A space
is one embedding tool, version, model and width: embeddings of another model are not
comparable, so each space has an index of its own (``local/similar/<space>/``).

Vectors are projected from the model's width (1,280) to ``INDEX_DIM`` (256) by a fixed
random Gaussian matrix before they go in (Johnson-Lindenstrauss: cosines move by
about (1 - c^2)/16, so near copies at c > 0.9 stay nearest), which makes the index 5x
smaller and its queries faster; the artifacts keep the full vector.
"""

from __future__ import annotations

import fcntl
import os
import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mstore.model.records import ArtifactMade
    from mstore.store.store import Store

KIND = "embedding"
EMBED_TOOLS = ("embed",)  # the steps whose runs the index reads
INDEX_DIM = 256
SEED = 20261206  # the projection's; changing it changes every index (the state says so)
M = 16  # hnswlib graph degree: ~2*M*4 bytes of links per point at level 0
EF_CONSTRUCTION = 200
FORMAT = 1


class State(msgspec.Struct, kw_only=True):
    format: int = FORMAT
    space: str = ""
    projection: str = ""  # which projection the vectors went through
    generation: list[int] = []  # Reader.artifact_counts() when last caught up
    runs: dict[str, int] = {}  # run -> its artifact count when last read
    assets: list[str] = []  # label -> asset id
    arts: list[str] = []  # label -> embedding artifact id
    hlcs: list[int] = []  # label -> that artifact's hlc (the newest wins)


def space_of(art: ArtifactMade) -> str:
    """The name of the embedding space an artifact belongs to (a directory name)."""
    meta = art.meta or {}
    raw = f"{art.tool}-v{art.version}-{meta.get('model', 'model')}-{meta.get('dim', 0)}"
    return re.sub(r"[^A-Za-z0-9._-]", "_", raw)[:120]


def _projection(dim: int) -> Any:
    import numpy as np

    # a Gaussian matrix is what Johnson-Lindenstrauss asks for (its columns are nearly
    # orthogonal already); orthonormalising it (QR) took a second here for nothing
    gauss = np.random.default_rng(SEED).standard_normal((dim, INDEX_DIM), dtype=np.float32)
    return gauss / np.float32(np.sqrt(INDEX_DIM))


def vector_of(store: Store, art: ArtifactMade) -> Any:
    """The artifact's full vector (float32), or None when its payload is not one."""
    import numpy as np

    dim = int((art.meta or {}).get("dim", 0))
    if not art.payload or dim <= 0:
        return None
    raw = store.objects.get(art.payload)
    dtype = "<f2" if (art.meta or {}).get("dtype") == "float16" else "<f4"
    if len(raw) != dim * np.dtype(dtype).itemsize:
        return None
    return np.frombuffer(raw, dtype=dtype).astype(np.float32)


class VectorIndex:
    """One space's index, caught up with the store by :meth:`refresh`."""

    def __init__(self, store: Store, space: str, dim: int) -> None:
        self.store, self.space, self.dim = store, space, dim
        self.dir = store.layout.local / "similar" / space
        self.proj = _projection(dim)
        self.proj_name = f"gauss-{SEED}-{dim}x{INDEX_DIM}"
        self.state = State(space=space, projection=self.proj_name)
        self.label: dict[str, int] = {}
        self.hnsw: Any = None
        self.rebuilds = 0  # how often this object had to start from nothing (tests read it)

    # -- the files ------------------------------------------------------------------------
    def _load(self) -> bool:
        """Read the saved index; False when it is missing, unreadable or of another kind."""
        import hnswlib

        try:
            state = msgspec.msgpack.decode((self.dir / "state.msgpack").read_bytes(), type=State)
            if (state.format != FORMAT or state.space != self.space
                    or state.projection != self.proj_name
                    or not len(state.assets) == len(state.arts) == len(state.hlcs)):
                return False
            index = hnswlib.Index(space="ip", dim=INDEX_DIM)
            index.load_index(str(self.dir / "index.bin"), max_elements=max(len(state.assets), 1))
            if index.get_current_count() != len(state.assets):
                return False  # the two files are not of one save
        except (OSError, ValueError, RuntimeError, msgspec.DecodeError):
            return False
        self.state, self.hnsw = state, index
        self.label = {a: i for i, a in enumerate(state.assets)}
        return True

    def _save(self) -> None:
        """Write both files (index first: a state never names points the index lacks).
        A store whose local/ this user cannot write keeps the index in memory only."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = self.dir / f"index.bin.tmp-{os.getpid()}"
            self.hnsw.save_index(str(tmp))
            os.replace(tmp, self.dir / "index.bin")
            tmp = self.dir / f"state.msgpack.tmp-{os.getpid()}"
            tmp.write_bytes(msgspec.msgpack.encode(self.state))
            os.replace(tmp, self.dir / "state.msgpack")
        except PermissionError:
            pass

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """One process at a time catches up a space (others wait, then find it done)."""
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.dir.parent / f"{self.space}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError:
            yield
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def _fresh(self) -> None:
        import hnswlib

        self.hnsw = hnswlib.Index(space="ip", dim=INDEX_DIM)
        self.hnsw.init_index(max_elements=1024, ef_construction=EF_CONSTRUCTION, M=M)
        self.state = State(space=self.space, projection=self.proj_name)
        self.label = {}
        self.rebuilds += 1

    # -- catching up ----------------------------------------------------------------------
    def refresh(self) -> None:
        """Bring the index up to date with the store's embedding artifacts."""
        with self.store.reader() as r:
            gen = list(r.artifact_counts())
        if self.hnsw is not None and self.state.generation == gen:
            return
        with self._locked():
            if self.hnsw is None or self.state.generation != gen:
                if not self._load():
                    self._fresh()
                if self.state.generation != gen:
                    self._catch_up()
                    self._save()

    def _catch_up(self) -> None:
        with self.store.reader() as r:
            gen = list(r.artifact_counts())
            if self.state.generation and gen[1] != self.state.generation[1]:
                self._fresh()  # gc dropped artifacts: start again from what remains
            every = r.runs()
            runs = {rid: info for rid, info in every
                    if info.started is not None
                    and any(s.tool in EMBED_TOOLS for s in info.started.steps)}
            # artifacts of a run whose run record has not arrived yet (synced out of order):
            # their run cannot be told apart, so the next query looks again
            waiting = any(info.started is None and info.artifacts for _, info in every)
            if any(rid not in runs for rid in self.state.runs):
                self._fresh()  # a run we read is gone (a rebuilt index of another store?)
            found: list[ArtifactMade] = []
            for rid, info in sorted(runs.items()):
                if self.state.runs.get(rid) == info.artifacts:
                    continue
                for art in r.run_artifacts(rid, newest_first=False):
                    if art.kind == KIND and space_of(art) == self.space:
                        found.append(art)
                self.state.runs[rid] = info.artifacts
        self._add(found)
        self.state.generation = [] if waiting else gen

    def _add(self, arts: list[ArtifactMade]) -> None:
        import numpy as np

        newest: dict[str, ArtifactMade] = {}
        for art in arts:
            have = self.label.get(art.asset)
            if have is not None and (self.state.hlcs[have] >= art.hlc
                                     or self.state.arts[have] == art.id):
                continue
            if art.asset not in newest or newest[art.asset].hlc < art.hlc:
                newest[art.asset] = art
        rows, labels = [], []
        for asset, art in newest.items():
            vec = vector_of(self.store, art)
            if vec is None or vec.shape[0] != self.dim:
                continue  # not a vector of this space: left out, like a failed unit
            label = self.label.get(asset)
            if label is None:
                label = self.label[asset] = len(self.state.assets)
                self.state.assets.append(asset)
                self.state.arts.append(art.id)
                self.state.hlcs.append(art.hlc)
            else:
                self.state.arts[label], self.state.hlcs[label] = art.id, art.hlc
            rows.append(vec)
            labels.append(label)
        if not rows:
            return
        data = self.project(np.stack(rows))
        need = len(self.state.assets)
        if need > self.hnsw.get_max_elements():
            self.hnsw.resize_index(max(need, 2 * self.hnsw.get_max_elements()))
        # one thread: the same inputs in the same order give the same graph
        self.hnsw.add_items(data, np.asarray(labels, dtype=np.int64), num_threads=1)

    # -- asking ---------------------------------------------------------------------------
    def project(self, vecs: Any) -> Any:
        import numpy as np

        out = vecs.astype(np.float32) @ self.proj
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)

    def __len__(self) -> int:
        return len(self.state.assets)

    def nearest(self, vec: Any, k: int) -> list[tuple[str, float]]:
        """Up to k (asset id, cosine distance) nearest to ``vec`` (a full vector), nearest
        first."""
        n = len(self.state.assets)
        if n == 0 or k <= 0:
            return []
        k = min(k, n)
        self.hnsw.set_ef(max(2 * k, 64))
        labels, dists = self.hnsw.knn_query(self.project(vec[None, :]), k=k, num_threads=1)
        return [(self.state.assets[int(lb)], float(d))
                for lb, d in zip(labels[0], dists[0], strict=True)]


_open: dict[tuple[str, str], VectorIndex] = {}  # per process: a UI keeps its index loaded


def index_for(store: Store, art: ArtifactMade) -> VectorIndex:
    """The up-to-date index of the space ``art`` (an embedding) belongs to."""
    space = space_of(art)
    key = (str(store.layout.local), space)
    idx = _open.get(key)
    if idx is None or idx.store is not store:
        idx = _open[key] = VectorIndex(store, space, int((art.meta or {}).get("dim", 0)))
    idx.refresh()
    return idx


def newest_embedding(store: Store, asset: str) -> ArtifactMade | None:
    with store.reader() as r:
        arts = [a for a in r.artifacts_of(asset, KIND) if a.tool in EMBED_TOOLS and a.payload]
    return max(arts, key=lambda a: a.hlc) if arts else None


def similar_to(store: Store, asset: str, k: int) -> list[tuple[str, float]]:
    """The k assets that look most like ``asset`` (not itself), nearest first, with their
    cosine distance. LookupError when the asset has no embedding yet."""
    art = newest_embedding(store, asset)
    if art is None:
        raise LookupError(f"asset {asset[:12]} has no embedding yet: "
                          "run the 'similar' pipeline over it (mstore run similar)")
    vec = vector_of(store, art)
    if vec is None:
        raise LookupError(f"asset {asset[:12]}'s embedding {art.id[:12]} is not a vector")
    idx = index_for(store, art)
    return [(a, d) for a, d in idx.nearest(vec, k + 1) if a != asset][:k]


def index_memory(n: int, dim: int = INDEX_DIM) -> int:
    """Bytes the hnswlib index of n points takes in memory, by hnswlib's layout: per point
    the vector (dim float32), its level-0 links (2*M ids and a count), its label, a
    pointer to and the level of its upper links, a lock (40 B) and its entry in the label
    map (~40 B); upper levels hold 1/M of the points, each M links and a count."""
    per_point = dim * 4 + (2 * M * 4 + 4) + 8 + 8 + 4 + 40 + 40 + (M * 4 + 4) // M
    return n * per_point
