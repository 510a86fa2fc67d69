"""What ``mstore worker`` on another host needs of the store transport: pull from and
push to the remote named by ``[worker] push`` (docs/sync.md, "Workers on other hosts").

The transport is ``mstore.services.sync`` (``push(store, remote)`` / ``pull(store,
remote)``). Where that is not installed, a remote given as the absolute path of a store
on a mounted file system is served by a plain copy of the objects and record segments
the other side lacks (both are write-once: a file's name is its content), never
overwriting and never touching ``local/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mstore.errors import UsageError
from mstore.store.fsutil import temp_name
from mstore.store.store import Store

SYNCED = ("objects", "records")


def transfers(store: Store, remote: str) -> tuple[Callable[[Any], object],
                                                  Callable[[Any], object]]:
    """(pull, push), each taking the worker's Store."""
    try:
        from mstore.services import sync  # type: ignore[attr-defined]
    except ImportError:
        return _plain_copy(store, remote)
    return (lambda st: sync.pull(st, remote)), (lambda st: sync.push(st, remote))


def _plain_copy(store: Store, remote: str) -> tuple[Callable[[Any], object],
                                                    Callable[[Any], object]]:
    there = Path(remote)
    if not there.is_absolute() or not (there / "config.toml").exists():
        raise UsageError(f"[worker] push = \"{remote}\": not a store on this machine (this "
                         "mstore reaches a remote store by its absolute path)")
    return (lambda st: copy_missing(there, st.root)), (lambda st: copy_missing(st.root, there))


def copy_missing(src: Path, dst: Path) -> int:
    """The objects and record segments of ``src`` that ``dst`` lacks, each written whole
    (a temp name, then a rename); returns how many."""
    n = 0
    for top in SYNCED:
        base = src / top
        for dirpath, _dirs, files in os.walk(base):
            rel = Path(dirpath).relative_to(base)
            for name in files:
                if name.endswith(".tmp") or name.startswith("."):
                    continue
                target = dst / top / rel / name
                if target.exists():
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                tmp = target.parent / ("." + temp_name(name))
                shutil.copyfile(Path(dirpath) / name, tmp)
                os.replace(tmp, target)
                n += 1
    return n
