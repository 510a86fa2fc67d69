"""Hooks with git's semantics: executable files in the store's ``hooks/`` directory.

``init`` copies the shipped samples as ``<name>.sample`` (not executable, so not
run). A hook gets ``MSTORE_DIR`` in its environment; ``pre-*`` hooks can veto
with a non-zero exit; a failing ``post-*`` hook is reported, never fatal, and
never touches the store's state.
"""

from __future__ import annotations

import os
from pathlib import Path

import msgspec

from mstore.errors import HookVetoError
from mstore.shipped import shipped_dir

HOOK_TIMEOUT = 600.0
# the project's top-level hooks/, shipped with the package
SAMPLES_DIR = shipped_dir("hooks")


class HookResult(msgspec.Struct):
    ran: bool
    returncode: int = 0
    output: str = ""


def hook_path(hooks_dir: Path, name: str) -> Path | None:
    p = hooks_dir / name
    if p.is_file() and os.access(p, os.X_OK):
        return p
    return None


def run_hook(hooks_dir: Path, name: str, store_dir: Path, args: list[str] | None = None,
             stdin: str = "") -> HookResult:
    p = hook_path(hooks_dir, name)
    if p is None:
        return HookResult(False)
    import subprocess  # here: a store without hooks (most) never starts one

    env = dict(os.environ, MSTORE_DIR=str(store_dir), MSTORE_HOOK=name)
    try:
        proc = subprocess.run([str(p), *(args or [])], input=stdin.encode(), env=env,
                              capture_output=True, timeout=HOOK_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return HookResult(True, 127, f"hook {name} could not run: {e}")
    out = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    return HookResult(True, proc.returncode, out)


def run_pre_hook(hooks_dir: Path, name: str, store_dir: Path, args: list[str]) -> HookResult:
    res = run_hook(hooks_dir, name, store_dir, args)
    if res.ran and res.returncode != 0:
        raise HookVetoError(f"{name} hook refused (exit {res.returncode})"
                            + (f": {res.output.strip()}" if res.output.strip() else ""))
    return res


def install_samples(hooks_dir: Path) -> list[str]:
    """Copy every shipped sample hook to ``hooks_dir/<name>.sample``."""
    import shutil

    hooks_dir.mkdir(parents=True, exist_ok=True)
    names = []
    if not SAMPLES_DIR.is_dir():
        return names
    for entry in sorted(SAMPLES_DIR.iterdir()):
        if not entry.is_file() or entry.name.startswith((".", "_")) or entry.suffix == ".md":
            continue
        target = hooks_dir / f"{entry.name}.sample"
        shutil.copyfile(entry, target)
        target.chmod(0o644)
        names.append(entry.name)
    return sorted(names)
