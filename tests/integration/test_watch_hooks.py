"""``mstore watch`` and hooks, through real processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import REPO, mstore, mstore_proc

JPEG_MAGIC = b"\xff\xd8\xff"


def _wait_for(pred, timeout: float = 20.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def _found(store: Path, *query: str) -> list[dict]:
    r = mstore("find", "--json", *query, store=store)
    return r.json_lines() if r.code == 0 else []


@pytest.mark.parametrize("polling", [False, True], ids=["inotify", "polling"])
def test_watch_catalogs_new_files_after_they_settle(fresh_store: tuple[Path, Path],
                                                    polling: bool) -> None:
    store, root = fresh_store
    hook = store / "hooks" / "post-add"
    log = store.parent / "post-add.log"
    hook.write_text(f"#!/bin/sh\ncat >> {log}\n")
    hook.chmod(0o755)
    args = [sys.executable, "-m", "mstore", "--store", str(store), "watch", "--rescan", "3600"]
    if polling:
        args.append("--polling")
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert proc.stdout.readline().startswith(b"watching")
        assert _wait_for(lambda: len(_found(store)) > 0)  # the initial scan
        # a file written in pieces is cataloged once, complete
        target = root / "incoming" / "slow.txt"
        target.parent.mkdir(exist_ok=True)
        with open(target, "wb") as f:
            for i in range(5):
                f.write(f"line {i}\n".encode())
                f.flush()
                time.sleep(0.15)
        assert _wait_for(lambda: bool(_found(store, "path:incoming/slow.txt")))
        [row] = _found(store, "path:incoming/slow.txt")
        assert row["size"] == target.stat().st_size
        assert row["kind"] == "text"
        # deletion is noticed too
        target.unlink()
        assert _wait_for(lambda: bool(_found(store, "missing:", "path:incoming/slow.txt")))
        assert _wait_for(lambda: log.exists() and row["id"] in log.read_text())
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()


def test_post_add_hook_gets_new_ids_and_its_failure_is_reported(
        fresh_store: tuple[Path, Path]) -> None:
    store, root = fresh_store
    log = store.parent / "ids.txt"
    hook = store / "hooks" / "post-add"
    hook.write_text(f"#!/bin/sh\ncat > {log}\nexit 3\n")
    hook.chmod(0o755)
    r = mstore_proc("add", store=store)
    assert r.code == 0
    assert "post-add hook failed (exit 3)" in r.err
    ids = log.read_text().split()
    assert sorted(ids) == sorted({row["id"] for row in _found(store)})
    # the catalog is intact and the next add has nothing new: the hook is not run
    log.unlink()
    assert mstore_proc("add", store=store).code == 0
    assert not log.exists()
    assert mstore_proc("fsck", store=store).code == 0


def test_pre_add_hook_can_veto(fresh_store: tuple[Path, Path]) -> None:
    store, root = fresh_store
    hook = store / "hooks" / "pre-add"
    hook.write_text("#!/bin/sh\necho 'not today' >&2\nexit 1\n")
    hook.chmod(0o755)
    r = mstore_proc("add", store=store)
    assert r.code == 6
    assert "not today" in r.err
    assert mstore("find", store=store).code == 1  # nothing was cataloged
    hook.chmod(0o644)  # not executable = not a hook (git semantics)
    assert mstore_proc("add", store=store).code == 0


def test_init_installs_samples_that_do_not_run(fresh_store: tuple[Path, Path]) -> None:
    store, _ = fresh_store
    samples = sorted(p.name for p in (store / "hooks").iterdir())
    assert "post-add.sample" in samples and "pre-add.sample" in samples
    assert not any(os.access(store / "hooks" / s, os.X_OK) for s in samples)
    # the shipped sample works when enabled
    sample = store / "hooks" / "post-add"
    sample.write_bytes((store / "hooks" / "post-add.sample").read_bytes())
    sample.chmod(0o755)
    r = mstore_proc("add", store=store)
    assert r.code == 0 and "post-add:" in r.err and "arrived:" in r.err
