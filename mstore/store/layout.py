"""Where things live inside a store directory (see docs/format.md)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import msgspec

from mstore.errors import ReadOnlyStoreError

STORE_DIRNAME = ".mstore"


class Layout(msgspec.Struct, frozen=True):
    root: Path
    # where this machine's cache lives: <root>/local, or a private directory of this user's
    # when the store cannot be written here (store.py, read-only stores)
    local_dir: Path | None = None

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def objects(self) -> Path:
        return self.root / "objects"

    @property
    def records(self) -> Path:
        return self.root / "records"

    @property
    def hooks(self) -> Path:
        return self.root / "hooks"

    @property
    def local(self) -> Path:
        return self.local_dir or self.root / "local"

    @property
    def index(self) -> Path:
        return self.local / "index"

    @property
    def locks(self) -> Path:
        return self.local / "locks"

    @property
    def tmp(self) -> Path:
        return self.local / "tmp"

    @property
    def quarantine(self) -> Path:
        return self.local / "quarantine"

    @property
    def machine_id(self) -> Path:
        return self.local / "machine-id"

    @property
    def watch_state(self) -> Path:
        return self.local / "watch"

    @property
    def text_index(self) -> Path:
        """The full-text index (store/textindex.py): ``text/docs.sqlite`` (and ``text/words/``)."""
        return self.local / "text" / "docs.sqlite"


def private_local(root: Path) -> Path:
    """This user's own ``local/`` for a store it cannot write: under $XDG_CACHE_HOME (or
    ~/.cache), else a directory of its own in the system's temp directory. Keyed by the
    store's real path, so each store keeps its cache between commands."""
    import tempfile  # only a read-only store needs these: every command starts without them

    import blake3

    key = blake3.blake3(os.fsencode(os.path.realpath(root))).hexdigest()[:16]
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    uid = os.getuid()
    for parent in (Path(base) / "mstore", Path(tempfile.gettempdir()) / f"mstore-{uid}"):
        try:
            parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            st = parent.lstat()
        except OSError:
            continue
        # in a shared temp directory, only a directory of ours that others cannot write
        if (stat.S_ISDIR(st.st_mode) and st.st_uid == uid and not st.st_mode & 0o022
                and os.access(parent, os.W_OK | os.X_OK)):
            return parent / "stores" / key
    raise ReadOnlyStoreError(f"the store {root} is read-only here and no private cache "
                             "directory is writable (set XDG_CACHE_HOME)")
