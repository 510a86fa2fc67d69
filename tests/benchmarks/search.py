"""``find text:`` at scale: a doctext artifact for every asset of a cataloged store
(generated text, one page each), then the latency of ``mstore find text:...`` as a user
runs it (a whole process) against a bare query of the same tantivy index (a whole process
too: ``python -c`` opening it, the best 20 hits and their assets). Target: < 100 ms at
100k documents.

    python -m tests.benchmarks.search [--docs 100000] [--keep DIR]

(``make bench`` runs it over the store of its catalog benchmarks.)
"""

from __future__ import annotations

import argparse
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# a real vocabulary for the common words, a made-up one for the long tail (Zipf-like use)
COMMON = ("the of and to in is was for on that with as at by from this have are it not "
          "invoice total amount date paid receipt letter dear sincerely meeting report "
          "garden house travel photo family school account bank insurance tax").split()
RARE_PHRASE = "lighthouse keeper"  # in 10 documents
COMMON_WORD = "invoice"


def make_text(rng: random.Random, tail: list[str], i: int) -> str:
    words = [rng.choice(COMMON) if rng.random() < 0.6 else tail[int(rng.paretovariate(1.1))
                                                                 % len(tail)]
             for _ in range(80)]
    if i % 10_000 == 7:
        words[40:40] = RARE_PHRASE.split()
    return " ".join(words)


def add_doctext(store_dir: Path, seed: int = 3) -> int:
    """One doctext artifact (inline payload) per asset of the store; returns how many."""
    from mstore.model.records import ArtifactMade
    from mstore.store.store import Store

    rng = random.Random(seed)
    tail = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(4, 10)))
            for _ in range(20_000)]
    st = Store(store_dir)
    try:
        with st.reader() as r:
            ids = [a.id for a in r.assets()]
        writer, lock = st.lane_writer("w*")
        try:
            for i, aid in enumerate(ids):
                payload = {"version": 1, "lang": None, "source": "pdf", "blocks": [
                    {"text": make_text(rng, tail, i), "page": 1, "box": None, "start": None,
                     "end": None, "conf": None}]}
                writer.append(ArtifactMade(
                    hlc=writer.now(), id=f"{i:064x}", kind="doctext", run="r-bench",
                    step="doctext", tool="doctext", version="1", asset=aid, inputs=[aid],
                    data=payload))
            writer.flush()
        finally:
            lock.release()
    finally:
        st.close()
    return len(ids)


def _timed(argv: list[str], repeat: int = 7) -> float:
    best = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=False)
        best.append(time.perf_counter() - t)
    best.sort()
    return best[len(best) // 2]


BARE = """\
import sys, tantivy
an = (tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple()).filter(tantivy.Filter.lowercase())
      .filter(tantivy.Filter.ascii_fold()).filter(tantivy.Filter.stemmer("english")).build())
index = tantivy.Index.open(sys.argv[1])
index.register_tokenizer("mstore", an)
searcher = index.searcher()
hits = searcher.search(index.parse_query(sys.argv[2], ["text"]), 20, count=False).hits
assets = [searcher.doc(address).get_first("asset") for _, address in hits]
"""


def benchmarks(store: Path, n: int) -> list[tuple[str, str, str, str, str]]:
    mstore = [sys.executable, "-m", "mstore", "--store", str(store)]
    docs = add_doctext(store)
    t = time.perf_counter()
    subprocess.run([*mstore, "find", f"text:{COMMON_WORD}", "--count"], capture_output=True,
                   check=True)
    t_build = time.perf_counter() - t
    from mstore.query.textsearch import index_path
    from mstore.store.store import Store

    words = str(index_path(Store(store)).with_name("words"))
    rows = [(f"text index: build over {docs // 1000}k documents (first find text:)",
             f"{t_build:.1f} s", "-", "-", "-")]
    # what the same store answers without a text: term, for scale
    t_plain = _timed([*mstore, "find", "kind:text", "--json", "--limit", "20"])
    t_py = _timed([sys.executable, "-c", "pass"])
    rows.append((f"find kind:text --json --limit 20 @ {n // 1000}k (no text: term)",
                 f"{t_plain * 1000:.0f} ms", f"{t_py * 1000:.0f} ms (python -c pass)",
                 f"{t_plain / t_py:.1f}x", "-"))
    for label, value, expr in (
            (f'find text:"{RARE_PHRASE}" --json', f'text:"{RARE_PHRASE}"', f'"{RARE_PHRASE}"'),
            (f"find text:{COMMON_WORD} --json --limit 20", f"text:{COMMON_WORD}",
             f'"{COMMON_WORD}"')):
        argv = [*mstore, "find", value, "--json", "--limit", "20"]
        t_find = _timed(argv)
        t_bare = _timed([sys.executable, "-c", BARE, words, expr])
        hits = subprocess.run([*mstore, "find", value, "--count"], capture_output=True,
                              check=False).stdout.decode().strip()
        rows.append((f"{label} @ {n // 1000}k ({hits} hits)", f"{t_find * 1000:.0f} ms",
                     f"{t_bare * 1000:.0f} ms (bare tantivy query)", f"{t_find / t_bare:.1f}x",
                     "< 100 ms"))
    return rows


def main() -> None:
    from tests.benchmarks.__main__ import print_table
    from tests.fixtures.archive import build_bulk

    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="mstore-search-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        root, store = work / "archive", work / "store"
        if not root.exists():
            root.mkdir()
            build_bulk(root, args.docs, seed=1, image_fraction=0.0)
        shutil.rmtree(store, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "mstore", "init", "--store", str(store),
                        str(root)], capture_output=True, check=True)
        subprocess.run([sys.executable, "-m", "mstore", "--store", str(store), "add"],
                       capture_output=True, check=True)
        print_table(benchmarks(store, args.docs))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
