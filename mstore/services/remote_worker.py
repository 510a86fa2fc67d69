"""What ``mstore worker`` on another host needs of the store transport: pull from and
push to the remote named by ``[worker] push`` (docs/sync.md, "Workers on other hosts"),
through the same calls as ``mstore pull`` and ``mstore push``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mstore.services import sync
from mstore.store.store import Store
from mstore.sync import remotes


def transfers(store: Store, remote: str) -> tuple[Callable[[Any], object],
                                                  Callable[[Any], object]]:
    """(pull, push), each taking the worker's Store; an unknown remote is a usage error
    now, when the worker starts, not at its first chunk."""
    name = remotes.remote(store, remote).name
    return (lambda st: sync.pull(st, name)), (lambda st: sync.push(st, name))
