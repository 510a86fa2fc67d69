"""The records: immutable, msgspec-encoded facts, one tagged union.

A record is never changed once written. Mutable things (where a path points,
whether a path is in error) are the latest claim about them, ordered by the
record's hybrid-logical-clock stamp ``hlc`` and then by machine id.

Compatibility rules (see docs/format.md): a new field always gets a default;
readers ignore fields they do not know; a record type a reader does not know
is skipped, never fatal.
"""

from __future__ import annotations

import msgspec

from mstore.model.meta import Meta

SCHEMA_VERSION = 1


class Record(msgspec.Struct, tag_field="t", omit_defaults=True, kw_only=True):
    hlc: int  # hybrid logical clock: (wall milliseconds << 16) | counter


class AssetRecorded(Record, tag="asset"):
    """An asset's content was hashed and probed. Same id => same content => same facts."""

    id: str  # BLAKE3 hex of the content
    size: int
    meta: Meta


class PathSeen(Record, tag="seen"):
    """``path`` under archive root ``root`` holds asset ``asset`` (new, changed or moved there)."""

    root: str
    path: bytes  # relative to the root, raw file-system bytes ("/"-separated)
    asset: str
    size: int
    mtime_ns: int
    inode: int


class PathGone(Record, tag="gone"):
    """``path`` no longer exists; the asset it held is kept with its history."""

    root: str
    path: bytes
    asset: str


class PathError(Record, tag="error"):
    """``path`` could not be cataloged. Cleared by a later PathSeen or PathGone of that path."""

    root: str
    path: bytes
    reason: str  # short machine-stable reason, e.g. "unreadable", "fifo", "symlink-outside"
    detail: str = ""


class AddFinished(Record, tag="add"):
    """One ``mstore add`` (or watcher batch) ended; its summary."""

    roots: list[str]
    started_ms: int
    finished_ms: int
    new: int = 0
    changed: int = 0
    moved: int = 0
    missing: int = 0
    unchanged: int = 0
    errors: int = 0
    interrupted: bool = False


AnyRecord = AssetRecorded | PathSeen | PathGone | PathError | AddFinished


class Unknown(msgspec.Struct, tag_field="t", kw_only=True):
    """Placeholder for a record type written by a newer mstore."""

    hlc: int = 0
