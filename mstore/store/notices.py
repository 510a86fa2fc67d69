"""Warnings the store gives while it keeps working (a damaged cache rebuilt, a damaged
segment skipped): one line each on stderr, where a command's user or a server's log
sees them."""

from __future__ import annotations

import sys


def warn(message: str) -> None:
    print(f"mstore: warning: {message}", file=sys.stderr, flush=True)
