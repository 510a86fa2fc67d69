"""Crash safety: kill -9 at random points, copies taken mid-write, stale locks."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.fixtures.archive import build_bulk
from tests.helpers import REPO, catalog_answers, mstore, mstore_proc

KILLS = 20


@pytest.fixture(scope="module")
def bulk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bulk") / "archive"
    root.mkdir()
    build_bulk(root, 1500, seed=7, image_fraction=0.2)
    return root


@pytest.fixture(scope="module")
def reference(bulk: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """What one uninterrupted add of the bulk archive answers."""
    store = tmp_path_factory.mktemp("ref") / "st"
    mstore("init", "--store", store, bulk)
    assert mstore("add", store=store).code == 0
    return catalog_answers(store)


def _spawn_add(store: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "mstore", "--store", str(store), "add"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)


def _kill9(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)  # the add process itself, like a crash
    proc.wait()
    try:  # then its hashing workers, so they do not linger in the test machine
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_kill9_during_add_leaves_a_clean_store(bulk: Path, reference: dict,
                                               tmp_path: Path) -> None:
    store = tmp_path / "st"
    assert mstore("init", "--store", store, bulk).code == 0
    rng = random.Random(1234)
    for i in range(KILLS):
        proc = _spawn_add(store)
        time.sleep(rng.uniform(0.05, 1.5))
        _kill9(proc)
        r = mstore_proc("fsck", store=store)
        assert r.code == 0, f"fsck after kill #{i}: {r.out}{r.err}"
    r = mstore_proc("add", store=store)
    assert r.code == 0, r.err
    assert mstore_proc("fsck", "--full", store=store).code == 0
    assert catalog_answers(store) == reference


def test_a_lock_left_by_a_killed_add_is_taken_over(bulk: Path, tmp_path: Path) -> None:
    store = tmp_path / "st"
    mstore("init", "--store", store, bulk)
    proc = _spawn_add(store)
    deadline = time.monotonic() + 20
    lock = store / "local" / "locks" / "write.lock"
    while time.monotonic() < deadline and not (lock.exists() and lock.read_text()):
        time.sleep(0.02)
    # while it runs, a second writer is refused with the "locked" exit code and the holder
    busy = mstore_proc("add", store=store)
    if proc.poll() is None:
        assert busy.code == 4, busy.err
        assert f"pid {proc.pid}" in busy.err
    _kill9(proc)
    assert str(proc.pid) in lock.read_text()  # the dead holder is still written there
    r = mstore_proc("add", store=store)
    assert r.code == 0, r.err


def test_store_copied_file_by_file_during_add_opens_after_reindex(
        bulk: Path, reference: dict, tmp_path: Path) -> None:
    store = tmp_path / "st"
    copy = tmp_path / "copy"
    mstore("init", "--store", store, bulk)
    proc = _spawn_add(store)
    stop = threading.Event()

    def copier() -> None:
        # like rsync: walk and copy file by file, repeatedly, while the writer runs
        while not stop.is_set():
            for dirpath, _dirs, files in os.walk(store):
                for name in files:
                    src = Path(dirpath) / name
                    dst = copy / src.relative_to(store)
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    try:
                        with open(src, "rb") as f, open(dst, "wb") as g:
                            while chunk := f.read(4096):
                                g.write(chunk)
                                time.sleep(0)  # a slow copier
                    except FileNotFoundError:
                        pass

    t = threading.Thread(target=copier)
    t.start()
    # copy while the add writes, until the copy holds some of its segments (a busy machine
    # may take a while to get there) or the add has finished
    deadline = time.monotonic() + 60
    while (proc.poll() is None and time.monotonic() < deadline
           and not any((copy / "records").glob("*/*.seg"))):
        time.sleep(0.05)
    stop.set()
    t.join()
    proc.wait(timeout=120)
    assert proc.returncode == 0
    # the copy (including a torn copy of local/) answers after reindex
    assert mstore_proc("reindex", store=copy).code == 0
    r = mstore_proc("status", "--json", store=copy)
    assert r.code == 0, r.err
    assert mstore_proc("fsck", store=copy).code == 0
    # the copy holds a prefix of the work; finishing the add there gives the full catalog
    assert mstore_proc("add", store=copy).code == 0
    answers = catalog_answers(copy)
    assert answers["find"] == reference["find"]
    shutil.rmtree(copy)
