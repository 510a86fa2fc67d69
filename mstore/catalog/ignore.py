"""Ignore patterns: system clutter that is never cataloged (configurable in config.toml)."""

from __future__ import annotations

import fnmatch
import re


class IgnoreRules:
    """Patterns match one name (not a path). A trailing '/' restricts a pattern to directories."""

    def __init__(self, patterns: list[str]) -> None:
        files, dirs = [], []
        for p in patterns:
            (dirs if p.endswith("/") else files).append(p.rstrip("/"))
        self._file_re = self._compile(files)
        self._dir_re = self._compile(files + dirs)

    @staticmethod
    def _compile(patterns: list[str]) -> re.Pattern[bytes] | None:
        if not patterns:
            return None
        rx = "|".join(fnmatch.translate(p) for p in patterns)
        return re.compile(rx.encode("utf-8", "surrogateescape"))

    def file_matcher(self):  # noqa: ANN201 - re.Pattern.match, or None when nothing is ignored
        """The bound ``match`` of the file patterns (truthy for an ignored name), for loops
        that test every name."""
        return self._file_re.match if self._file_re is not None else None

    def ignores_file(self, name: bytes) -> bool:
        return bool(self._file_re and self._file_re.match(name))

    def ignores_dir(self, name: bytes) -> bool:
        return bool(self._dir_re and self._dir_re.match(name))
