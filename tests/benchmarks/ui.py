"""Web UI benchmarks: grid pages over a big store, served by a real ``mstore ui``.

    python -m tests.benchmarks.ui STORE

The baseline is ``GET /healthz`` on the same server (HTTP + the app's middleware, no
store work), so the ratio is what the grid itself costs. Target (UI issue): the first
page < 300 ms at 100k+ assets.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.benchmarks.__main__ import MSTORE, REPO, print_table, timed


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(store: Path) -> Iterator[Callable[[str], bytes]]:
    """A real ``mstore ui`` over ``store`` while the block runs; yields ``get(path)``."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen([*MSTORE, "--store", str(store), "ui", "--port", str(port)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def get(path: str) -> bytes:
        with urllib.request.urlopen(base + path, timeout=60) as r:
            return r.read()

    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                get("/healthz")
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("mstore ui did not start") from None
                time.sleep(0.1)
        yield get
    finally:
        proc.terminate()
        proc.wait(timeout=15)


def benchmarks(store: Path, n: int) -> list[tuple[str, str, str, str, str]]:
    with served(store) as get:
        t_cold = timed(lambda: get("/"))  # the first request opens the index and its table
        t_base = timed(lambda: get("/healthz"), repeat=10)
        rows = [("ui: first grid page, cold server", f"{t_cold * 1000:.0f} ms",
                 f"{t_base * 1000:.1f} ms (GET /healthz)", f"{t_cold / t_base:.0f}x", "-")]
        label = f"@ {n // 1000}k" if n >= 1000 else f"@ {n}"
        for name, path in (("first grid page", "/"),
                           ("grid kind:image", "/?kind=image"),
                           ("grid page in the middle", f"/?offset={n // 2 // 60 * 60}"),
                           ("grid path:*/2019* size:>8k", "/?q=path%3A*%2F2019*+size%3A%3E8k")):
            t = timed(lambda p=path: get(p), repeat=5)
            rows.append((f"ui: {name} {label}", f"{t * 1000:.0f} ms",
                         f"{t_base * 1000:.1f} ms (GET /healthz)", f"{t / t_base:.0f}x",
                         "< 300 ms"))
        return rows

if __name__ == "__main__":
    store = Path(sys.argv[1])
    out = subprocess.run([*MSTORE, "--store", str(store), "status", "--json"], cwd=REPO,
                         capture_output=True, check=True).stdout
    import json

    print_table(benchmarks(store, int(json.loads(out).get("assets", 0))))
