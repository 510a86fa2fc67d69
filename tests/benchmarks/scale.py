"""The catalog at scale: ``make bench-scale`` (not in CI, not in ``make bench``).

    python -m tests.benchmarks.scale [--files 1000000] [--work DIR] [--keep] [--no-runs]

Builds an archive of ``--files`` small files once (tests/fixtures/archive.py build_bulk:
1-64 KiB, 10 % images, 5 % text; ~15 GB per million) in ``--work``/archive and keeps it
for the next run (mind the disk), catalogs it into a new store, and prints: the initial
add (and the bare BLAKE3 + Pillow-header loop over the same files), an unchanged rescan
(and the bare scandir + stat walk), status / show / find (and a bare ``python -c pass``),
the peak memory of add, rescan and find, the web UI's grid pages (tests/benchmarks/ui.py),
the sizes of the index and the records, and a no-op run over every asset: planning,
overhead per unit, ``show RUN`` while it runs, continue-as-new (tests/benchmarks/scale_runs.py;
``--no-runs`` leaves it out). The store is deleted at the end unless ``--keep``.

Memory is reported as the largest process's peak resident set and, apart, its peak
*anonymous* memory (sampled from /proc every 10 ms): the resident set also counts the
pages of the index file mapped while reading it, which are the kernel's page cache —
shared, and given back under memory pressure — not memory the process holds.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks.__main__ import (
    MSTORE,
    bare,
    bare_walk,
    print_table,
    run,
    timed,
)
from tests.fixtures.archive import build_bulk


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def _status_kb(pid: int) -> tuple[int, int]:
    """(RssAnon, VmHWM) of a live process, in kB; zeros once it is gone."""
    anon = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    anon = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return anon, hwm


def memory_of(argv: list[str], *, output: bool = False) -> tuple:
    """Wall seconds, peak RSS (MB) and peak anonymous memory (MB) of a command's main
    process, sampled from /proc every 10 ms; and its standard output with ``output``."""
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdout=out if output else subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        anon = hwm = 0
        while proc.poll() is None:
            a, h = _status_kb(proc.pid)
            anon, hwm = max(anon, a), max(hwm, h)
            time.sleep(0.01)
        wall = time.perf_counter() - t
        if proc.returncode != 0:
            raise SystemExit(f"{argv} failed: {proc.stderr.read().decode()}")
        out.seek(0)
        text = out.read().decode()
    return (wall, hwm / 1024, anon / 1024, text) if output else (wall, hwm / 1024, anon / 1024)


def index_rows(store: Path, n: int, when: str) -> list[tuple[str, str, str, str, str]]:
    """The index's size on disk, and what each of its tables holds per asset (pages in
    use, from LMDB's own counts), largest first."""
    from mstore.store.store import Store

    index = store / "local" / "index"
    rows = [(f"index (local/index){when}", f"{_size(index) / 1e6:,.0f} MB", "-", "-",
             f"records {_size(store / 'records') / 1e6:,.0f} MB")]
    st = Store(store)
    try:
        idx = st.index
        with idx.read() as txn:
            used = {}
            for name, db in idx.db.items():
                s = txn.stat(db)
                used[name] = s["psize"] * (s["branch_pages"] + s["leaf_pages"]
                                           + s["overflow_pages"])
    finally:
        st.close()
    for name, size in sorted(used.items(), key=lambda kv: -kv[1])[:8]:
        rows.append((f"  table {name}{when}", f"{size / 1e6:,.0f} MB ({size / n:,.0f} B/asset)",
                     "-", "-", "-"))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, default=Path("build/scale"),
                    help="where the archive is built and kept (default: build/scale)")
    ap.add_argument("--keep", action="store_true", help="keep the store too")
    ap.add_argument("--no-runs", dest="runs", action="store_false",
                    help="leave out the run over every asset (tests/benchmarks/scale_runs.py)")
    args = ap.parse_args()
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    n = args.files
    root, store = work / f"archive-{n}", work / "store"
    rows: list[tuple[str, str, str, str, str]] = []
    try:
        if not (work / f"archive-{n}.complete").exists():
            shutil.rmtree(root, ignore_errors=True)
            root.mkdir()
            t = time.perf_counter()
            build_bulk(root, n, seed=1, image_fraction=0.1)
            (work / f"archive-{n}.complete").touch()
            print(f"built {n} files in {time.perf_counter() - t:.0f}s", file=sys.stderr)
        shutil.rmtree(store, ignore_errors=True)
        run("init", "--store", str(store), str(root))
        bare_walk(root)  # the same page cache state for both
        t_bare = timed(lambda: bare("hash_and_header", root))
        t_add, rss, anon = memory_of([*MSTORE, "--store", str(store), "add"])
        k = f"{n // 1000}k"
        rows.append((f"initial add, {k} files", f"{t_add:.0f} s ({n / t_add:,.0f} files/s)",
                     f"{t_bare:.0f} s", f"{t_bare / t_add:.2f}x", ""))
        rows.append(("add peak memory", f"{anon:,.0f} MB anon, {rss:,.0f} MB RSS", "-", "-",
                     "anon <= 500 MB"))
        _, rss, anon = memory_of([*MSTORE, "--store", str(store), "add"])  # reads the index
        rows.append(("first rescan peak memory", f"{anon:,.0f} MB anon, {rss:,.0f} MB RSS",
                     "-", "-", "anon <= 300 MB"))
        _, rss, anon = memory_of([*MSTORE, "--store", str(store), "add"])  # reads the cache
        rows.append(("rescan peak memory", f"{anon:,.0f} MB anon, {rss:,.0f} MB RSS",
                     "-", "-", "anon <= 300 MB"))
        t_walk = timed(lambda: bare_walk(root), repeat=3)
        t_rescan = timed(lambda: run("add", store=store), repeat=3)
        rows.append((f"unchanged rescan, {k} files", f"{t_rescan:.2f} s", f"{t_walk:.2f} s",
                     f"{t_rescan / t_walk:.2f}x", "<= 1.5x"))
        t_py = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 5)
        aid = run("find", "--json", "--limit", "1", store=store).stdout.split(b'"id":"')[1][:12]
        for label, argv in (("status", ["status"]), ("show ID-PREFIX", ["show", aid.decode()]),
                            ("find kind:image --count", ["find", "kind:image", "--count"]),
                            ("find path:*/2019* size:>8k --limit 20",
                             ["find", "path:*/2019*", "size:>8k", "--limit", "20"])):
            run(*argv, store=store, check=False)
            t = timed(lambda a=argv: run(*a, store=store, check=False), repeat=5)
            rows.append((f"{label} @ {k}", f"{t * 1000:.0f} ms",
                         f"{t_py * 1000:.0f} ms (python -c pass)", f"{t / t_py:.1f}x",
                         "< 100 ms" if label.startswith("find") else ""))
        _, rss, anon = memory_of([*MSTORE, "--store", str(store), "find", "path:*/2019*",
                                  "size:>8k", "--limit", "20"])
        rows.append(("find path:*/2019* ... peak memory", f"{anon:,.0f} MB anon, {rss:,.0f} MB RSS",
                     "-", "-", "< 100 MB"))
        from tests.benchmarks.ui import benchmarks as ui_benchmarks

        rows += ui_benchmarks(store, n)  # the web UI's grid: first page, middle, filtered
        rows += index_rows(store, n, "")
        if args.runs:
            from tests.benchmarks.scale_runs import benchmarks as run_benchmarks

            rows += run_benchmarks(store.resolve(), work.resolve())
            rows += index_rows(store, n, " after the run")
    finally:
        if not args.keep:
            shutil.rmtree(store, ignore_errors=True)
    print_table(rows)


if __name__ == "__main__":
    main()
