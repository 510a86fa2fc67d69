"""The write lock: one writer, the holder named in refusals, dead holders taken over."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mstore.errors import StoreLockedError
from mstore.store.locks import WriteLock, holder_alive


def test_second_writer_is_refused_with_holder(tmp_path: Path) -> None:
    lock_path = tmp_path / "write.lock"
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys,time; from pathlib import Path; from mstore.store.locks import WriteLock;"
         f"l=WriteLock(Path({str(lock_path)!r})); l.acquire(); print('held', flush=True);"
         "time.sleep(60)"], stdout=subprocess.PIPE)
    try:
        assert child.stdout.readline().strip() == b"held"
        with pytest.raises(StoreLockedError, match=f"pid {child.pid}"):
            WriteLock(lock_path).acquire()
        assert holder_alive(WriteLock(lock_path).read_holder())
    finally:
        child.kill()
        child.wait()
    info = WriteLock(lock_path).read_holder()
    assert info["pid"] == child.pid and not holder_alive(info)
    with WriteLock(lock_path):  # the dead holder's lock is taken over
        assert WriteLock(lock_path).read_holder()["pid"] == os.getpid()
