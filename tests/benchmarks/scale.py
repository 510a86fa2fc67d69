"""The catalog at scale, measured once by hand (not in CI, not in ``make bench``).

    python -m tests.benchmarks.scale [--files 1000000] [--work DIR] [--keep]

Builds an archive of ``--files`` small files (tests/fixtures/archive.py build_bulk:
1-64 KiB, 10 % images, 5 % text; ~15 GB per million), catalogs it, and prints: the
initial add (and the bare BLAKE3 + Pillow-header loop over the same files), an
unchanged rescan (and the bare scandir + stat walk), status / show / find, the add's
peak RSS, and the sizes of the index and the records. The archive is deleted at the
end unless ``--keep``; mind the disk.
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
    bare_hash_and_header,
    bare_walk,
    peak_rss_mb_of,
    print_table,
    run,
    timed,
)
from tests.fixtures.archive import build_bulk


def _size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--work", type=Path, default=None, help="work directory (default: a temp one)")
    ap.add_argument("--keep", action="store_true", help="keep the archive and the store")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="mstore-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    root, store = work / "archive", work / "store"
    n = args.files
    rows: list[tuple[str, str, str, str, str]] = []
    try:
        if not root.exists():
            root.mkdir()
            t = time.perf_counter()
            build_bulk(root, n, seed=1, image_fraction=0.1)
            print(f"built {n} files in {time.perf_counter() - t:.0f}s", file=sys.stderr)
        shutil.rmtree(store, ignore_errors=True)
        run("init", "--store", str(store), str(root))
        bare_walk(root)  # the same page cache state for both
        t_bare = timed(lambda: bare_hash_and_header(root))
        t_add, rss = peak_rss_mb_of([*MSTORE, "--store", str(store), "add"])
        k = f"{n // 1000}k"
        rows.append((f"initial add, {k} files", f"{t_add:.0f} s ({n / t_add:,.0f} files/s)",
                     f"{t_bare:.0f} s", f"{t_bare / t_add:.2f}x", ""))
        rows.append(("add peak RSS (largest process)", f"{rss:,.0f} MB", "-", "-",
                     f"{_size(root) / 1e9:.1f} GB archive"))
        run("add", store=store)  # the first rescan reads the index and keeps its cache
        t_walk = timed(lambda: bare_walk(root), repeat=3)
        t_rescan = timed(lambda: run("add", store=store), repeat=3)
        rows.append((f"unchanged rescan, {k} files", f"{t_rescan:.2f} s", f"{t_walk:.2f} s",
                     f"{t_rescan / t_walk:.2f}x", ""))
        t_py = timed(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), 5)
        aid = run("find", "--json", "--limit", "1", store=store).stdout.split(b'"id":"')[1][:12]
        for label, argv in (("status", ["status"]), ("show ID-PREFIX", ["show", aid.decode()]),
                            ("find kind:image --count", ["find", "kind:image", "--count"]),
                            ("find path:*/2019* size:>8k --limit 20",
                             ["find", "path:*/2019*", "size:>8k", "--limit", "20"])):
            run(*argv, store=store, check=False)
            t = timed(lambda a=argv: run(*a, store=store, check=False), repeat=5)
            rows.append((f"{label} @ {k}", f"{t * 1000:.0f} ms",
                         f"{t_py * 1000:.0f} ms (python -c pass)", f"{t / t_py:.1f}x", ""))
        index = store / "local" / "index"
        rows.append(("index (local/index)", f"{_size(index) / 1e6:,.0f} MB", "-", "-",
                     f"records {_size(store / 'records') / 1e6:,.0f} MB"))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print_table(rows)


if __name__ == "__main__":
    main()
