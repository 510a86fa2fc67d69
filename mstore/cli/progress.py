"""Self-rewriting progress lines on stderr, drawn only on a terminal."""

from __future__ import annotations

import sys
import time


class ProgressLine:
    """One self-rewriting stderr line, only on a terminal."""

    def __init__(self) -> None:
        self.enabled = sys.stderr.isatty()
        self.t0 = time.monotonic()
        self._last = 0.0
        self.drawn = False

    def due(self, done: int, total: int) -> float | None:
        """Now, when the line should be redrawn (at most 5 times a second, and at the end)."""
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.2 and done < total):
            return None
        self._last = now
        self.drawn = True
        return now

    def __call__(self, done: int, total: int, nbytes: int) -> None:
        if (now := self.due(done, total)) is None:
            return
        rate = done / max(now - self.t0, 1e-6)
        width = 30
        filled = int(width * done / total) if total else width
        eta = (total - done) / rate if rate > 0 else 0
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} files, "
                         f"{nbytes / 1e6:.0f} MB, {rate:.0f} files/s, ETA {eta:.0f}s \x1b[K")
        sys.stderr.flush()

    def close(self) -> None:
        if self.drawn:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


class IndexingLine(ProgressLine):
    """A query provider's index catching up on the records (the text index's first build
    over a big store reads thousands of segments): ``find`` draws it meanwhile."""

    LEAST = 100  # segments: fewer are read in a moment, and a line would only flicker

    def __call__(self, done: int, total: int) -> None:  # type: ignore[override]
        if total < self.LEAST or self.due(done, total) is None:
            return
        sys.stderr.write(f"\rindexing: {done}/{total} segments of records \x1b[K")
        sys.stderr.flush()
