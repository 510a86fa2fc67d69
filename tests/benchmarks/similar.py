"""Look-alike benchmarks: the embed step against a bare loop of the same model, and the
vector index's queries and memory.

    python -m tests.benchmarks            (these rows come last)
    python -m tests.benchmarks.similar [--photos N] [--vectors N] [--keep DIR]

1. Embeddings per second of the ``similar`` pipeline (production, one worker on both
   cores) over N photo-like JPEGs (1600x1200, drawn: tests/scenes.py) against a bare
   loop of the same model: 2 processes, each loading EfficientNet-Lite0 once and
   embedding its half of the files with the tool's own functions (decode in draft mode,
   resize, the network). Both sides load the model before the clock starts (the worker's
   tool processes through a warm-up run of four units). Target: >= 0.9x.
2. The vector index (hnswlib, as mstore/query/vectors.py builds it: 256 dimensions after
   the projection, M = 16, ef_construction = 200) over N synthetic unit vectors (default
   200k; ``--vectors 1000000`` for the million-photo figure, ~25 min to build here):
   insertion rate, the median time of a query for the 500 nearest (what ``similar:``
   asks) and for 10, and the memory it takes (measured growth of this process's RSS, and
   the estimate ``vectors.index_memory`` that docs/similar.md states). Target: < 50 ms.
3. ``mstore find similar:X --limit 10`` end to end over the pipeline's store (a new
   process: start, catalog table, the index loaded from local/similar/).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks.runs import Row, _mstore, _timed_run, _units, warm_up
from tests.integration.temporal_env import DevServer, free_port, make_store

REPO = Path(__file__).resolve().parents[2]


def build_scenes(root: Path, n: int) -> None:
    from tests.scenes import jpeg, scene

    root.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (root / f"scene-{i:05d}.jpg").write_bytes(jpeg(scene(i, (1600, 1200)), 88))


_TOOL: dict = {}


def _bare_embed(path: str) -> int:
    """One file through the embed tool's own functions, its model loaded once per process."""
    if not _TOOL:
        import importlib.util

        spec = importlib.util.spec_from_file_location("embed_tool",
                                                      REPO / "workers/embed/tool.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        mod.load_model()
        _TOOL["mod"] = mod
    from mstore.tools.api import load_image

    mod = _TOOL["mod"]
    vec = mod.embed_images([load_image(path, size=mod.SIZE)])[0]
    return int(vec.shape[0])


def bare_embeddings(files: list[str], procs: int = 2) -> float:
    """Seconds for 2 spawned processes to embed ``files`` (model loads not counted: a
    worker's tool processes keep theirs too)."""
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that opened LMDB
    # each process loads the model and embeds one file before the clock starts
    with ctx.Pool(procs, initializer=_bare_embed, initargs=(files[0],)) as pool:
        t = time.perf_counter()
        pool.map(_bare_embed, files, chunksize=4)
        return time.perf_counter() - t


def embed_rows(work: Path, server: DevServer, photos: Path) -> tuple[list[Row], Path, str]:
    base = work / "run-similar"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir()
    rs = make_store(base, photos, server.address)
    rs.start_worker()
    try:
        files = sorted(str(p) for p in photos.iterdir() if p.is_file())
        for f in files:  # warm the page cache for both sides
            Path(f).read_bytes()
        # max_frames only matters for videos, so the timed run reuses nothing of this one
        warm_up(rs, "similar", "embed.max_frames=9")
        t_run, run_id, state = _timed_run(rs.path, "similar")
        if state != "completed":
            raise SystemExit(f"similar run ended {state}: {rs.worker_logs()}")
        n = len(_units(rs.path, run_id))
        t_bare = bare_embeddings(files)
    finally:
        rs.stop_workers()
    return [(f"similar pipeline (embed), {n} photos 1600x1200", f"{n / t_run:.1f} embeddings/s",
             f"{len(files) / t_bare:.1f} embeddings/s (same model, 2 procs)",
             f"{(n / t_run) / (len(files) / t_bare):.2f}x", ">= 0.9x")], rs.path, files[0]


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def index_rows(n: int) -> list[Row]:
    """Build an index of n synthetic vectors exactly as vectors.py does; query it."""
    import hnswlib
    import numpy as np

    from mstore.query import vectors
    from mstore.query.similar import NEAREST

    rng = np.random.default_rng(7)
    before = _rss_mb()
    index = hnswlib.Index(space="ip", dim=vectors.INDEX_DIM)
    index.init_index(max_elements=n, ef_construction=vectors.EF_CONSTRUCTION, M=vectors.M)
    t = time.perf_counter()
    batch = 20_000
    for start in range(0, n, batch):
        k = min(batch, n - start)
        data = rng.standard_normal((k, vectors.INDEX_DIM)).astype(np.float32)
        data /= np.linalg.norm(data, axis=1, keepdims=True)
        index.add_items(data, np.arange(start, start + k))  # all cores: a bench, not a cache
    t_build = time.perf_counter() - t
    grown = _rss_mb() - before
    queries = rng.standard_normal((50, vectors.INDEX_DIM)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    rows: list[Row] = [(f"vector index: build over {n // 1000}k vectors",
                        f"{n / t_build:,.0f} vectors/s", "-", "-", "-")]
    for k in (NEAREST, 10):
        index.set_ef(max(2 * k, 64))
        took = []
        for q in queries:
            t = time.perf_counter()
            index.knn_query(q[None, :], k=k, num_threads=1)
            took.append(time.perf_counter() - t)
        rows.append((f"vector index: query, {k} nearest of {n // 1000}k",
                     f"{statistics.median(took) * 1000:.2f} ms", "-", "-", "< 50 ms"))
    rows.append((f"vector index: memory for {n // 1000}k", f"{grown:,.0f} MB (RSS growth)",
                 f"{vectors.index_memory(n) / 2**20:,.0f} MB (estimate)", "-",
                 f"1M: {vectors.index_memory(1_000_000) / 2**30:.1f} GiB (estimate)"))
    return rows


def find_row(store: Path, photo: str) -> list[Row]:
    import json

    hits = [json.loads(r) for r in _mstore(store, "find", "--json").stdout.splitlines()]
    aid = next(h["id"] for h in hits if Path(h["paths"][0]).name == Path(photo).name)
    took = []
    for _ in range(5):
        t = time.perf_counter()
        p = _mstore(store, "find", f"similar:{aid[:12]}", "--limit", "10")
        took.append(time.perf_counter() - t)
        if p.returncode != 0:
            raise SystemExit(f"find similar: failed: {p.stderr}")
    return [("`mstore find similar:X --limit 10` (whole command)",
             f"{statistics.median(took) * 1000:.0f} ms", "-", "-", "-")]


def benchmarks(work: Path, *, n_photos: int = 200, n_vectors: int = 200_000) -> list[Row]:
    """Every look-alike benchmark's rows; builds what it needs under ``work``."""
    photos = work / "scenes"
    if not photos.exists():
        build_scenes(photos, n_photos)
    server = DevServer(free_port()).start(work / "temporal-similar.log")
    try:
        rows, store, first = embed_rows(work, server, photos)
    finally:
        server.stop()
    rows += find_row(store, first)
    # in a child: the index's memory is measured against a process holding nothing else
    p = subprocess.run([sys.executable, "-c", (
        "import json, sys; from tests.benchmarks.similar import index_rows; "
        f"print(json.dumps(index_rows({n_vectors})))")], cwd=REPO, capture_output=True,
        text=True)
    if p.returncode != 0:
        raise SystemExit(f"index benchmark failed: {p.stderr}")
    rows += [tuple(r) for r in json.loads(p.stdout.strip().splitlines()[-1])]
    return rows


def main() -> None:
    from tests.benchmarks.__main__ import print_table

    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=int, default=200, help="photo-like JPEGs to embed")
    ap.add_argument("--vectors", type=int, default=200_000, help="vectors in the index")
    ap.add_argument("--keep", type=Path, default=None, help="work directory to keep")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="mstore-similarbench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print_table(benchmarks(work, n_photos=args.photos, n_vectors=args.vectors))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
