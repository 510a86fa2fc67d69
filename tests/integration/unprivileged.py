"""Running mstore as an unprivileged user: root reads mode-000 files and writes anywhere,
so permission cases run as 'nobody' through runuser."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, Result

NOBODY = "nobody"


@pytest.fixture(scope="session")
def nobody_python(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A python command line the 'nobody' user can run mstore with.

    The project's virtualenv may sit under a directory nobody cannot enter, so the
    package and its installed dependencies are put in a world-readable place and run
    with the interpreter the virtualenv was made from. The dependencies (~3 GB with the
    models) are hard-linked there when the temp directory is on the virtualenv's
    filesystem, copied otherwise; made once per session."""
    if os.geteuid() != 0 or shutil.which("runuser") is None:
        pytest.skip("needs root and runuser to switch to an unprivileged user")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(sys.base_prefix) / "bin" / f"python{version}"
    site = next(p for p in sys.path if p.endswith("site-packages") and sys.prefix in p)
    dest = tmp_path_factory.mktemp("nobody-env")
    open_up(dest)
    shutil.copytree(site, dest / "site", copy_function=_link_or_copy,
                    ignore=shutil.ignore_patterns("mstore*", "__editable__*", "*.pth"))
    shutil.copytree(REPO / "mstore", dest / "site" / "mstore",
                    ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(["chmod", "-R", "a+rX", str(dest)], check=True)
    return ["runuser", "-u", NOBODY, "--", "env", f"PYTHONPATH={dest / 'site'}",
            "HOME=/tmp", str(base), "-m", "mstore"]


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)  # the same inode: the chmod a+rX below opens the original too
    except OSError:  # another filesystem
        shutil.copy2(src, dst)


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
