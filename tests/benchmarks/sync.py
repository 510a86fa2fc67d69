"""Store transfers (docs/sync.md) against ``rsync -a`` of the same files in the same run,
both over real ssh to this machine (the test sshd of tests/fixtures/sshd.py).

- pull (``mstore clone`` over ssh) and push (``mstore push`` into an empty store over ssh)
  of a store holding OBJECTS small objects (thumbnail-sized, incompressible) and a few large
  ones, against ``rsync -a`` of its objects/ and records/ over the same ssh: >= 0.8x.
- an incremental ``mstore sync`` between two copies of a 100k-asset store after one run's
  records were written on one side, against ``rsync -a`` of both directories (which lists
  and compares the same files): < 2 s.

    python -m tests.benchmarks.sync [--objects 20000] [--store DIR] [--keep DIR]

(``make bench`` runs it over the store of its catalog benchmarks.)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MSTORE = [sys.executable, "-m", "mstore"]


def _timed(argv: list[str], env: dict | None = None) -> float:
    t = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, env=env)
    if p.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)}: {p.stderr.decode()[-500:]}")
    return time.perf_counter() - t


def fill(store: Path, n_small: int, n_large: int, seed: int = 5) -> int:
    """Payload objects like a run's: small ones of 4-60 KiB, large ones of 8 MiB."""
    from mstore.store.store import Store

    rng = random.Random(seed)
    st = Store(store)
    total = 0
    try:
        for _ in range(n_small):
            data = os.urandom(rng.randint(4 << 10, 60 << 10))
            st.objects.put(data)
            total += len(data)
        for _ in range(n_large):
            data = os.urandom(8 << 20)
            st.objects.put(data)
            total += len(data)
        st.objects.flush()
    finally:
        st.close()
    return total


def write_run_records(store: Path, units: int, seed: int = 9) -> None:
    """One run's worth of records on ``store``: a run, a unit and an artifact per asset."""
    import msgspec

    from mstore.model.records import ArtifactMade, RunStarted, UnitDone
    from mstore.store.store import Store

    st = Store(store)
    try:
        with st.reader() as r:
            ids = [a.id for _, a in zip(range(units), r.assets(), strict=False)]
        units_object = st.objects.put(msgspec.msgpack.encode(ids))
        st.objects.flush()
        writer, lock = st.lane_writer("w*")
        try:
            run = f"r-sync-bench-{seed}"
            writer.append(RunStarted(hlc=writer.now(), run=run, pipeline="bench", steps=[],
                                     policy="sandbox", selection="", units_object=units_object,
                                     total=len(ids)))
            for i, aid in enumerate(ids):
                writer.append(ArtifactMade(hlc=writer.now(), id=f"{seed:08x}{i:056x}",
                                           kind="bench", run=run, step="s", tool="t",
                                           version="1", asset=aid, inputs=[aid],
                                           data={"n": i}))
                writer.append(UnitDone(hlc=writer.now(), run=run, step="s", unit=aid,
                                       status="done"))
            writer.flush()
        finally:
            lock.release()
    finally:
        st.close()


def benchmarks(work: Path, big_store: Path | None, n_objects: int = 20_000
               ) -> list[tuple[str, str, str, str, str]]:
    from tests.fixtures.sshd import start_ssh_host

    (work / "sshd").mkdir(exist_ok=True)
    host = start_ssh_host(work / "sshd")
    env = {**os.environ, **host.env}
    rsync = ["rsync", "-a", "-e", f"ssh -F {host.config}"]
    rows = []
    try:
        # a store of objects, moved three ways
        src = work / "sync-src"
        shutil.rmtree(src, ignore_errors=True)
        subprocess.run([*MSTORE, "init", "--store", str(src), str(work)], check=True,
                       capture_output=True)
        nbytes = fill(src, n_objects, 10)
        for d in ("rsync-dst", "pull-dst", "push-dst"):
            shutil.rmtree(work / d, ignore_errors=True)
        (work / "rsync-dst").mkdir()
        t_rsync = _timed([*rsync, f"{src}/objects", f"{src}/records",
                          f"{host.alias}:{work / 'rsync-dst'}/"])
        t_pull = _timed([*MSTORE, "clone", host.url(src), str(work / "pull-dst")], env)
        subprocess.run([*MSTORE, "init", "--store", str(work / "push-dst"), str(work)],
                       check=True, capture_output=True)
        subprocess.run([*MSTORE, "--store", str(src), "remote", "add", "bench",
                        host.url(work / "push-dst")], check=True, capture_output=True)
        t_push = _timed([*MSTORE, "--store", str(src), "push", "bench"], env)
        label = f"{n_objects // 1000}k small + 10 large objects, {nbytes / 1e6:.0f} MB, over ssh"
        for what, t in (("pull (clone)", t_pull), ("push", t_push)):
            rows.append((f"{what}: {label}", f"{nbytes / t / 1e6:.0f} MB/s",
                         f"{nbytes / t_rsync / 1e6:.0f} MB/s (rsync -a)",
                         f"{t_rsync / t:.2f}x", ">= 0.8x"))
        # an incremental sync between two copies of a big store
        if big_store is not None:
            other = work / "sync-other"
            shutil.rmtree(other, ignore_errors=True)
            subprocess.run([*MSTORE, "clone", str(big_store), str(other)], check=True,
                           capture_output=True)
            subprocess.run([*MSTORE, "--store", str(other), "status"], check=True,
                           capture_output=True)  # its index, built once, as in use
            subprocess.run([*MSTORE, "--store", str(other), "remote", "add", "big",
                            host.url(big_store)], check=True, capture_output=True)
            write_run_records(other, 1000)
            base_copy = work / "rsync-big"
            shutil.rmtree(base_copy, ignore_errors=True)
            base_copy.mkdir()
            subprocess.run(["cp", "-a", f"{big_store}/records", f"{big_store}/objects",
                            str(base_copy)], check=True)
            write_run_records(other, 1000, seed=10)  # what the rsync baseline moves too
            t_base = _timed([*rsync, f"{other}/records", f"{other}/objects",
                             f"{host.alias}:{base_copy}/"])
            t_sync = _timed([*MSTORE, "--store", str(other), "sync", "big"], env)
            with_assets = subprocess.run([*MSTORE, "--store", str(big_store), "status",
                                          "--json"], capture_output=True, check=True)
            n = json.loads(with_assets.stdout)["assets"]
            rows.append((f"incremental sync of one run's records, {n // 1000}k-asset stores",
                         f"{t_sync:.2f} s", f"{t_base:.2f} s (rsync -a)",
                         f"{t_sync / t_base:.2f}x", "< 2 s"))
    finally:
        host.close()
    return rows


def main() -> None:
    from tests.benchmarks.__main__ import print_table

    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=20_000)
    ap.add_argument("--store", type=Path, default=None, help="a big store to sync a copy of")
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="mstore-sync-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print_table(benchmarks(work, args.store, args.objects))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
