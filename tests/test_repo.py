"""The repository holds sources, not what is generated from them: no virtualenv, no
installed packages, no caches, no large binaries (test media are made by the tests)."""

from __future__ import annotations

import subprocess
from pathlib import PurePosixPath

from tests.helpers import REPO

GENERATED_DIRS = {".venv", "venv", "site-packages", "__pycache__", ".pytest_cache",
                  ".ruff_cache", "build", "dist", ".mstore"}
MAX_BINARY = 1 << 20


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True)
    return [p for p in out.stdout.decode("utf-8", "surrogateescape").split("\0") if p]


def _is_binary(data: bytes) -> bool:
    """As git decides: a NUL byte in the first 8000 bytes."""
    return b"\0" in data[:8000]


def generated_paths(paths: list[str]) -> list[str]:
    return [p for p in paths
            if GENERATED_DIRS & set(PurePosixPath(p).parts[:-1])
            or p.endswith((".pyc", ".egg-info")) or ".egg-info/" in p]


def test_the_tracked_file_check_catches_what_it_is_meant_to() -> None:
    assert generated_paths([".venv/bin/python", "mstore/__pycache__/x.cpython-311.pyc",
                            "lib/python3.11/site-packages/a.py", "venv/pyvenv.cfg",
                            "mstore.egg-info/PKG-INFO"]) == [
        ".venv/bin/python", "mstore/__pycache__/x.cpython-311.pyc",
        "lib/python3.11/site-packages/a.py", "venv/pyvenv.cfg", "mstore.egg-info/PKG-INFO"]
    assert generated_paths(["mstore/store/store.py", "docs/build.md"]) == []
    assert _is_binary(b"\x7fELF\x02\x01\x01\0\0") and not _is_binary(b"text\n")


def test_nothing_generated_is_tracked() -> None:
    tracked = _tracked()
    assert tracked, "git ls-files listed nothing"
    assert generated_paths(tracked) == []


def test_no_large_binary_is_tracked() -> None:
    large = []
    for p in _tracked():
        f = REPO / p
        if f.is_file() and not f.is_symlink() and f.stat().st_size > MAX_BINARY:
            with open(f, "rb") as fh:
                if _is_binary(fh.read(8000)):
                    large.append(p)
    assert large == []
