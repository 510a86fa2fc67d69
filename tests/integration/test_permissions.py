"""Permission errors, seen as an unprivileged user (root reads mode-000 files)."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.archive import build_archive, listing, make_readonly, make_writable
from tests.helpers import REPO, Result

NOBODY = "nobody"


@pytest.fixture(scope="module")
def nobody_python(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A python command line the 'nobody' user can run mstore with.

    The project's virtualenv may sit under a directory nobody cannot enter, so the
    package and its installed dependencies are copied to a world-readable place and
    run with the interpreter the virtualenv was made from."""
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and runuser to switch to an unprivileged user")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(sys.base_prefix) / "bin" / f"python{version}"
    site = next(p for p in sys.path if p.endswith("site-packages") and sys.prefix in p)
    dest = tmp_path_factory.mktemp("nobody-env")
    open_up(dest)
    shutil.copytree(site, dest / "site", ignore=shutil.ignore_patterns("mstore*", "__editable__*",
                                                                       "*.pth"))
    shutil.copytree(REPO / "mstore", dest / "site" / "mstore",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["chmod", "-R", "a+rX", str(dest)], check=True)
    return ["runuser", "-u", NOBODY, "--", "env", f"PYTHONPATH={dest / 'site'}",
            "HOME=/tmp", str(base), "-m", "mstore"]


def open_up(path: Path) -> None:
    """Let other users traverse to ``path`` (pytest's temp dirs are mode 700)."""
    for d in (path, *path.parents):
        if str(d) in ("/", "/tmp"):
            break
        d.chmod(d.stat().st_mode | 0o005)


def shown(rel: str) -> str:
    """A manifest path as mstore's JSON writes it (undecodable bytes as \\xNN)."""
    return os.fsencode(rel).decode("utf-8", "backslashreplace")


def run_as_nobody(cmd: list[str], *args: str | os.PathLike) -> Result:
    p = subprocess.run([*cmd, *map(str, args)], capture_output=True, timeout=120, cwd="/tmp")
    return Result(p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"))


def test_unreadable_files_and_dirs_become_errors_as_nobody(
        nobody_python: list[str], tmp_path: Path) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    manifest = build_archive(root, hostile=True, seed=3)
    make_readonly(root)
    open_up(tmp_path)
    store = tmp_path / "store"
    store.mkdir()
    shutil.chown(store, NOBODY)
    before = listing(root)
    try:
        r = run_as_nobody(nobody_python, "init", "--store", store / "st", root)
        assert r.code == 0, r.err
        r = run_as_nobody(nobody_python, "--store", store / "st", "add", "--json")
        assert r.code == 0, r.err
        errors = run_as_nobody(nobody_python, "--store", store / "st", "find", "error:",
                               "--json")
        by_path = {row["paths"][0].split("/", 1)[1]: row["error"] for row in errors.json_lines()}
        unreadable = [shown(p) for p, why in manifest.hostile_errors.items()
                      if why.startswith("unreadable")]
        assert unreadable, "the fixture archive has unreadable entries"
        for p in unreadable:
            assert p in by_path, f"{p} not reported; errors: {sorted(by_path)}"
            assert by_path[p].startswith("unreadable")
        # everything readable was still cataloged (files owned by root: no O_NOATIME for nobody)
        rows = run_as_nobody(nobody_python, "--store", store / "st", "find", "--json")
        paths = {p.split("/", 1)[1] for row in rows.json_lines() for p in row["paths"]}
        missing = [f for f in manifest.files if shown(f) not in paths]
        assert not missing, missing[:5]
    finally:
        assert listing(root) == before
        make_writable(root)


def test_nobody_is_a_real_unprivileged_user() -> None:
    assert pwd.getpwnam(NOBODY).pw_uid != 0
