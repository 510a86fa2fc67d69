"""Shared helpers for tests: run mstore in-process (click's runner) or as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from click.testing import CliRunner

from mstore.cli.main import cli

REPO = Path(__file__).resolve().parent.parent


def proc_stat(pid: int | str) -> list[bytes]:
    """The fields of ``/proc/PID/stat`` after the command name (state first, then the
    parent pid; field N of proc(5) is item N - 3). Raises OSError when there is no such
    process."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        return f.read().rsplit(b")", 1)[1].split()


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> object:
        return json.loads(self.out)

    def json_lines(self) -> list[dict]:
        return [json.loads(line) for line in self.out.splitlines() if line.strip()]


def mstore(*args: str | os.PathLike, store: Path | None = None) -> Result:
    """Run a command through click's test runner, in this process."""
    argv = [str(a) for a in args]
    if store is not None:
        argv = ["--store", str(store), *argv]
    r = CliRunner().invoke(cli, argv, catch_exceptions=False)
    return Result(r.exit_code, r.stdout, r.stderr)


def mstore_proc(*args: str | os.PathLike, store: Path | None = None, timeout: float = 120,
                user: str | None = None, env: dict | None = None,
                python: str | None = None) -> Result:
    """Run mstore as a real subprocess (optionally as another user via runuser)."""
    argv = [python or sys.executable, "-m", "mstore"]
    if store is not None:
        argv += ["--store", str(store)]
    argv += [str(a) for a in args]
    if user is not None:
        argv = ["runuser", "-u", user, "--", *argv]
    p = subprocess.run(argv, capture_output=True, timeout=timeout, env=env or dict(os.environ),
                       cwd=REPO)
    return Result(p.returncode, p.stdout.decode("utf-8", "replace"),
                  p.stderr.decode("utf-8", "replace"))


def mstore_on_terminal(*args: str | os.PathLike, store: Path | None = None,
                       timeout: float = 120) -> tuple[int, bytes, bytes]:
    """Run mstore as a subprocess whose stderr is a terminal (a pty), as a person at a
    shell sees it: (exit code, standard output, everything written to the terminal)."""
    import pty

    argv = [sys.executable, "-m", "mstore"]
    if store is not None:
        argv += ["--store", str(store)]
    primary, secondary = pty.openpty()
    try:
        p = subprocess.run([*argv, *map(str, args)], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=secondary, cwd=REPO,
                           timeout=timeout)
    finally:
        os.close(secondary)
    seen = b""
    while True:
        try:
            block = os.read(primary, 65536)
        except OSError:  # the terminal's other end is closed: all of it was read
            break
        if not block:
            break
        seen += block
    os.close(primary)
    return p.returncode, p.stdout, seen


def machine_id(store: Path) -> str:
    """The machine id a store copy writes its records under (minted on first use)."""
    from mstore.store.store import Store

    st = Store(store)
    try:
        return st.machine_id
    finally:
        st.close()


def catalog_answers(store: Path) -> dict:
    """Everything a user reads from the catalog, for before/after comparisons."""
    rows = mstore("find", "--json", store=store).json_lines()
    errors = mstore("find", "error:", "--json", store=store).json_lines()
    status = mstore("status", "--json", store=store).json()
    for k in ("last_add", "machine", "store"):
        status.pop(k, None)
    shows = {r["id"]: mstore("show", r["id"], "--json", store=store).json() for r in rows}
    for s in shows.values():
        s.pop("first_seen_hlc", None)
        for p in s["paths"]:
            for h in p["history"]:
                h.pop("machine", None)
                h.pop("hlc", None)  # clock stamps differ between runs; the events may not
    return {"find": rows, "errors": errors, "status": status, "show": shows}
