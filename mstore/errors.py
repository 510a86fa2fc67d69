"""Errors that reach the user, each with the exit code the CLI returns for it.

Exit codes follow git: 0 ok, 1 nothing found / differences, 2 usage error.
The codes above 2 are mstore's own and stay stable for scripts.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NOTHING = 1  # nothing found, or differences found
EXIT_USAGE = 2  # bad arguments, bad query
EXIT_NO_STORE = 3  # no store found / store not initialised / a newer store format
EXIT_LOCKED = 4  # another process holds the store's write lock
EXIT_DAMAGED = 5  # fsck found damage, or a record/object failed its checksum
EXIT_VETOED = 6  # a pre-* hook refused the operation
EXIT_UNREACHABLE = 7  # the Temporal server a command needs does not answer
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


class TemporalUnreachableError(MstoreError):
    exit_code = EXIT_UNREACHABLE


class QueryError(UsageError):
    """A query that does not parse. ``pos`` is the 0-based offset of ``token`` in the query."""

    def __init__(self, message: str, query: str, pos: int, token: str) -> None:
        super().__init__(message)
        self.query = query
        self.pos = pos
        self.token = token

    def render(self) -> str:
        """The message plus the query with a caret under the bad token, like a compiler."""
        caret = " " * self.pos + "^" * max(1, len(self.token))
        return f"{self.message}\n  {self.query}\n  {caret}"
