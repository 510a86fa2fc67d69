"""Errors that reach the user, each with the exit code the CLI returns for it.

Exit codes follow git: 0 ok, 1 nothing found / differences, 2 usage error.
The codes above 2 are mstore's own and stay stable for scripts.
"""

from __future__ import annotations

import errno

EXIT_OK = 0
EXIT_NOTHING = 1  # nothing found, or differences found
EXIT_USAGE = 2  # bad arguments, bad query
EXIT_NO_STORE = 3  # no store found / store not initialised / a newer store format
EXIT_LOCKED = 4  # another process holds the store's write lock
EXIT_DAMAGED = 5  # fsck found damage, or a record/object failed its checksum
EXIT_VETOED = 6  # a pre-* hook refused the operation
EXIT_READONLY = 7  # the store cannot be written here (a read-only mount, another user's store)
EXIT_NO_SPACE = 8  # the disk holding the store is full; nothing was half-written
EXIT_UNREACHABLE = 9  # the Temporal server a command needs does not answer
EXIT_REMOTE = 10  # a remote store cannot be reached, or refused a transfer
EXIT_INTERNAL = 70  # a bug: an unexpected error (EX_SOFTWARE); MSTORE_DEBUG=1 shows where


class MstoreError(Exception):
    """Base class: a message for the user plus an exit code."""

    exit_code = EXIT_USAGE

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(MstoreError):
    exit_code = EXIT_USAGE


class NoStoreError(MstoreError):
    exit_code = EXIT_NO_STORE


class StoreFormatError(NoStoreError):
    """A store this mstore cannot read: made by a newer version."""


class StoreLockedError(MstoreError):
    exit_code = EXIT_LOCKED


class StoreDamagedError(MstoreError):
    exit_code = EXIT_DAMAGED


class HookVetoError(MstoreError):
    exit_code = EXIT_VETOED


class ReadOnlyStoreError(MstoreError):
    exit_code = EXIT_READONLY


class NoSpaceError(MstoreError):
    exit_code = EXIT_NO_SPACE
class TemporalUnreachableError(MstoreError):
    exit_code = EXIT_UNREACHABLE


class RemoteError(MstoreError):
    """A remote store (docs/sync.md) cannot be reached, is not a store, or broke off."""

    exit_code = EXIT_REMOTE


class QueryError(UsageError):
    """A query that does not parse. ``pos`` is the 0-based offset of ``token`` in the query."""

    def __init__(self, message: str, query: str, pos: int, token: str) -> None:
        super().__init__(message)
        self.query = query
        self.pos = pos
        self.token = token

    def render(self, width: int = 100) -> str:
        """The message plus the query with a caret under the bad token, like a compiler.

        A query longer than ``width`` characters is cut to a window around the token
        (``...`` marks the cuts) and the message says at which character it is; a message
        that quotes a huge value is cut in the middle. A generated or pasted megabyte of
        query still gives three short lines."""
        query, start, length = self.query, self.pos, max(1, len(self.token))
        message = self.message
        if len(message) > 2 * width:  # it quotes a huge value: keep its start and its end
            message = message[:width] + "..." + message[-width // 2:]
        if len(query) <= width:
            return f"{message}\n  {_one_line(query)}\n  {' ' * start}{'^' * length}"
        length = min(length, width // 2)
        lo = max(0, min(start - width // 4, len(query) - width))
        hi = min(len(query), lo + width)
        head, tail = ("..." if lo else ""), ("..." if hi < len(query) else "")
        shown = head + _one_line(query[lo:hi]) + tail
        caret = " " * (len(head) + start - lo) + "^" * min(length, hi - start)
        return f"{message} (at character {self.pos + 1})\n  {shown}\n  {caret}"


def _one_line(text: str) -> str:
    """``text`` with each newline, tab or other unprintable character shown as a space (one
    for one, so the caret line below still lines up)."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else " " for c in text)


def storage_error(e: OSError) -> MstoreError | None:
    """The user-facing error for a write the file system refused, or None for other
    OSErrors. Writes are all-or-nothing (temp file, rename), so nothing is half-written."""
    where = f" ({e.filename})" if e.filename else ""
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return NoSpaceError(f"no space left on device{where}; nothing was half-written: free "
                            "some space and run the command again")
    if e.errno == errno.EROFS:
        return ReadOnlyStoreError(f"read-only file system{where}")
    return None
