"""Every command fed hostile arguments, each in its own ``mstore`` process: the exit code is
the one docs/cli.md gives for the case, stderr never holds a traceback, and a command that
should not write leaves the store as it was (and ``fsck`` clean at the end).

Three places a vector runs: ``READ`` a cataloged store with runs, shared by the vectors of
commands that only read (run in parallel; the store is compared once at the end); ``WRITE``
a copy for commands that lock or write (run one at a time, the store compared after each
vector unless the vector may write); ``NONE`` an empty directory with no store. Both stores
point ``[temporal] address`` at a closed port, so nothing reaches a real server: commands
that need one say they cannot reach it (exit 9).

In ``argv``, ``{name}`` is replaced by a path or id from ``Places`` (see ``_places``);
``bytes`` arguments reach the command as they are (bytes that are not UTF-8 arrive in
Python as lone surrogates).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from mstore.errors import (
    EXIT_DAMAGED,
    EXIT_NO_STORE,
    EXIT_NOTHING,
    EXIT_OK,
    EXIT_REMOTE,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
)
from tests.helpers import REPO, mstore
from tests.integration.temporal_env import free_port
from tests.integration.test_run_reading import DirectRun, run_all

READ, WRITE, NONE = "read", "write", "none"
OK, NOTHING, USAGE, NO_STORE, DAMAGED, UNREACHABLE = (
    EXIT_OK, EXIT_NOTHING, EXIT_USAGE, EXIT_NO_STORE, EXIT_DAMAGED, EXIT_UNREACHABLE)
LONG = "x" * 10_000  # longer than any path the OS takes
BAD = b"\xff\xfe"  # not UTF-8
JUNK = bytes(range(1, 256)).replace(b"\n", b"")[:200]  # binary, NUL-free
HUGE = "99999999999999999999999999"
WRITE_LANES = 2  # store copies the writing vectors are spread over


@dataclass(frozen=True)
class V:
    argv: tuple[str | bytes, ...]
    code: int
    where: str = READ
    writes: bool = False  # the command may change the store (checked by fsck only)


def v(*argv: str | bytes, code: int, where: str = READ, writes: bool = False) -> V:
    return V(argv, code, where, writes)


TABLE: list[V] = [
    # -- global options, unknown commands -------------------------------------------------
    v(code=USAGE, where=NONE),  # no command at all: the help, as a usage error
    v("--store", code=USAGE, where=NONE),
    v("--nosuch", code=USAGE, where=NONE),
    v("nosuch", code=USAGE, where=NONE),
    v("", code=USAGE, where=NONE),
    v(BAD, code=USAGE, where=NONE),
    v(JUNK, code=USAGE, where=NONE),
    v(LONG, code=USAGE, where=NONE),
    v("-h", code=OK, where=NONE),
    v("--version", code=OK, where=NONE),
    v("--store", "{file}", "status", code=NO_STORE, where=NONE),
    v("--store", "{missing}", "status", code=NO_STORE, where=NONE),
    v("--store", "{empty_dir}", "status", code=NO_STORE, where=NONE),
    v("--store", "", "status", code=NO_STORE, where=NONE),
    v("--store", BAD, "status", code=NO_STORE, where=NONE),
    v("--store", LONG, "status", code=NO_STORE, where=NONE),
    v("--store", "{file}/sub", "find", code=NO_STORE, where=NONE),
    v("--store", "/dev/null", "log", code=NO_STORE, where=NONE),
    # -- no store here ----------------------------------------------------------------------
    v("status", code=NO_STORE, where=NONE),
    v("find", "kind:image", code=NO_STORE, where=NONE),
    v("show", "abcd", code=NO_STORE, where=NONE),
    v("log", code=NO_STORE, where=NONE),
    v("fsck", code=NO_STORE, where=NONE),
    v("reindex", code=NO_STORE, where=NONE),
    v("add", code=NO_STORE, where=NONE),
    v("gc", "--dry-run", code=NO_STORE, where=NONE),
    v("collection", "list", code=NO_STORE, where=NONE),
    v("label", "abcd", code=NO_STORE, where=NONE),
    v("cat", "abcd", code=NO_STORE, where=NONE),
    v("export", "--kind", "thumbnail", "--to", "{new_dir}", code=NO_STORE, where=NONE),
    v("server", "status", code=NO_STORE, where=NONE),
    v("run", "photos", code=NO_STORE, where=NONE),
    v("pause", "r1", code=NO_STORE, where=NONE),
    v("ui", "--port", "0", code=NO_STORE, where=NONE),
    v("unlock", code=NO_STORE, where=NONE),
    v("help-query", code=OK, where=NONE),
    v("help-query", "extra", code=USAGE, where=NONE),
    # -- init ---------------------------------------------------------------------------------
    v("init", "--store", "{file}", "{archive}", code=USAGE, where=NONE),
    v("init", "--store", "{file}/sub", "{archive}", code=USAGE, where=NONE),
    v("init", "--store", "/dev/null", "{archive}", code=USAGE, where=NONE),
    v("init", "--store", "{read_store}", "{archive}", code=USAGE, where=NONE),
    v("init", "--store", "{new_dir}", "{missing}", code=USAGE, where=NONE),
    v("init", "--store", "{new_dir}", "{file}", code=USAGE, where=NONE),
    v("init", "--store", "{new_dir}", BAD, code=USAGE, where=NONE),
    v("init", "--store", "{new_dir}", LONG, code=USAGE, where=NONE),
    v("init", "--store", LONG, "{archive}", code=USAGE, where=NONE),
    v("init", "--store", "/proc/mstore-test", "{archive}", code=USAGE, where=NONE),
    v("init", "--store", code=USAGE, where=NONE),
    v("init", "--bogus", code=USAGE, where=NONE),
    # -- add, watch ---------------------------------------------------------------------------
    v("add", "{missing}", code=USAGE, where=WRITE),
    v("add", "{outside_dir}", code=USAGE, where=WRITE),
    v("add", "{file}", code=USAGE, where=WRITE),
    v("add", BAD, code=USAGE, where=WRITE),
    v("add", LONG, code=USAGE, where=WRITE),
    v("add", "-j", "0", code=USAGE, where=WRITE),
    v("add", "-j", "-1", code=USAGE, where=WRITE),
    v("add", "-j", HUGE, code=USAGE, where=WRITE),
    v("add", "-j", "nan", code=USAGE, where=WRITE),
    v("add", "--bogus", code=USAGE, where=WRITE),
    v("add", code=OK, where=WRITE, writes=True),  # nothing new; it records that it ran
    v("watch", "--rescan", "nan", code=USAGE, where=WRITE),
    v("watch", "--rescan", "inf", code=USAGE, where=WRITE),
    v("watch", "--rescan", "0", code=USAGE, where=WRITE),
    v("watch", "--rescan", "-1", code=USAGE, where=WRITE),
    v("watch", "--rescan", "abc", code=USAGE, where=WRITE),
    v("watch", "--duration", "-1", code=USAGE, where=WRITE),
    v("watch", "{missing}", code=USAGE, where=WRITE),
    v("watch", "{outside_dir}", code=USAGE, where=WRITE),
    v("watch", "--bogus", code=USAGE, where=WRITE),
    # -- status, show, find --------------------------------------------------------------------
    v("status", "extra", code=USAGE),
    v("status", "--bogus", code=USAGE),
    v("status", "--json", code=OK),
    v("show", code=USAGE),
    v("show", "", code=USAGE),
    v("show", "0000", code=USAGE),
    v("show", "abc", code=USAGE),
    v("show", "zzzz", code=USAGE),
    v("show", "0" * 64, code=USAGE),
    v("show", "r", code=USAGE),  # two runs: an ambiguous prefix
    v("show", "r99999999", code=USAGE),
    v("show", BAD, code=USAGE),
    v("show", JUNK, code=USAGE),
    v("show", LONG, code=USAGE),
    v("show", "/", code=USAGE),
    v("show", "../../../etc/passwd", code=USAGE),
    v("show", "{file}", code=USAGE),
    v("show", "{missing}", code=USAGE),
    v("show", "{asset}", "--limit", "-1", code=USAGE),
    v("show", "{asset}", "--limit", "abc", code=USAGE),
    v("show", "{run}", "--limit", "nan", code=USAGE),
    v("show", "{artifact}", "--depth", "-1", code=USAGE),
    v("show", "{artifact}", "--depth", "1e9", code=USAGE),
    v("show", "{asset}", "extra", code=USAGE),
    v("show", "{asset}", code=OK),
    v("show", "{run}", "--json", "--limit", HUGE, code=OK),
    v("show", "{artifact}", "--depth", HUGE, code=OK),
    v("find", "(", code=USAGE),
    v("find", ")", code=USAGE),
    v("find", "--sort", "bogus", code=USAGE),
    v("find", "--sort", code=USAGE),
    v("find", "--sort", BAD, "kind:image", code=USAGE),
    v("find", "--sort", "-taken", "--limit", HUGE, code=OK),
    v("find", "--sort=-size", "--limit", "0", code=NOTHING),
    v("find", "--paths", "--json", code=USAGE),
    v("find", "near:", code=USAGE),
    v("find", "near:1e400,2", code=USAGE),
    v("find", "near:nan,nan", code=USAGE),
    v("find", "near:0,0," + HUGE + "km", code=USAGE),
    v("find", "taken:*-" + HUGE, code=USAGE),
    v("find", "-0", "--count", code=USAGE),
    v("find", "-0", "--limit", "0", code=NOTHING),
    v("find", "--paths", "-0", BAD, code=NOTHING),
    v("find", "a", "OR", code=USAGE),
    v("find", "AND", code=USAGE),
    v("find", "kind:image", "AND", code=USAGE),
    v("find", "-", code=USAGE),
    v("find", "()", code=USAGE),
    v("find", "kind:", code=USAGE),
    v("find", "label:", code=USAGE),
    v("find", "id:zz", code=USAGE),
    v("find", '"unterminated', code=USAGE),
    v("find", "size:>abc", code=USAGE),
    v("find", "size:>" + HUGE + "TB", code=USAGE),  # an empty range
    v("find", "taken:2019-13", code=USAGE),
    v("find", "taken:99999-01-01", code=USAGE),
    v("find", "has:nosuch", code=USAGE),
    v("find", "kind:nosuch", code=USAGE),
    v("find", "nosuchfield:x", code=USAGE),
    v("find", BAD, code=NOTHING),
    v("find", JUNK, code=USAGE),
    v("find", LONG, code=NOTHING),
    v("find", "(" * 50 + "kind:image" + ")" * 50, code=OK),
    v("find", "--limit", "-1", code=USAGE),
    v("find", "--limit", "nan", code=USAGE),
    v("find", "--limit", HUGE, code=OK),
    v("find", "--count", "--json", code=OK),
    v("find", "--bogus", code=NOTHING),  # a query word, not an option (a negated term)
    # -- fsck, reindex, unlock -------------------------------------------------------------------
    v("fsck", "extra", code=USAGE, where=WRITE),
    v("fsck", "--bogus", code=USAGE, where=WRITE),
    v("fsck", "--json", code=OK, where=WRITE),
    v("reindex", "extra", code=USAGE, where=WRITE),
    v("reindex", "--bogus", code=USAGE, where=WRITE),
    v("unlock", "extra", code=USAGE, where=WRITE),
    v("unlock", "--force", "junk", code=USAGE, where=WRITE),
    # -- runs: argument errors fail before Temporal is contacted; else it cannot be reached ------
    v("run", code=USAGE),
    v("run", "nosuch", code=USAGE),
    v("run", "", code=USAGE),
    v("run", BAD, code=USAGE),
    v("run", LONG, code=USAGE),
    v("run", "{junk_toml}", code=USAGE),
    v("run", "photos", "(", code=USAGE),
    v("run", "photos", "--param", "nosuch", code=USAGE),
    v("run", "photos", "--param", "thumbnail.nosuch=1", code=USAGE),
    v("run", "photos", "--param", "nosuch.size=1", code=USAGE),
    v("run", "photos", "--param", "thumbnail.size=abc", code=USAGE),
    v("run", "photos", "--max-units", "abc", code=USAGE),
    v("run", "photos", "--max-concurrency", "x", code=USAGE),
    v("run", "photos", "--max-units", code=USAGE),
    v("run", "photos", code=UNREACHABLE, where=WRITE, writes=True),
    v("log", "--limit", "-1", code=USAGE),
    v("log", "--limit", "abc", code=USAGE),
    v("log", "--limit", "1e3", code=USAGE),
    v("log", "extra", code=USAGE),
    v("log", "--json", "--limit", HUGE, code=OK),
    v("log", "--state", "finished", code=USAGE),
    v("log", "--state", code=USAGE),
    v("log", "--state", BAD, code=USAGE),
    v("log", "--pipeline", LONG, "--state", "failed", code=OK),
    v("run", "photos", "--dry-run", code=OK),
    v("run", "photos", "-n", "--production", "--json", code=OK),
    v("run", "photos", "-n", "--follow", code=USAGE),
    v("run", "photos", "-n", "path:nowhere-at-all/", code=NOTHING),
    v("diff", code=USAGE),
    v("diff", "{run}", code=USAGE),
    v("diff", "nosuch", "{run}", code=USAGE),
    v("diff", "{run}", BAD, code=USAGE),
    v("diff", "", "", code=USAGE),
    v("diff", "{run}", "{run}", code=OK),
    v("diff", "{run}", "{run}", "--json", code=OK),
    v("diff", "{run}", "{run}", "extra", code=USAGE),
    v("pause", code=USAGE),
    v("pause", "nosuch", code=USAGE),
    v("pause", "", code=USAGE),
    v("pause", BAD, code=USAGE),
    v("pause", "r", code=USAGE),
    v("resume", LONG, code=USAGE),
    v("resume", "r99999999", code=USAGE),
    v("cancel", JUNK, code=USAGE),
    v("cancel", "{run}", "extra", code=USAGE),
    v("pause", "{run}", code=USAGE),  # it is completed
    v("resume", "{run}", code=USAGE),
    v("cancel", "{run}", code=USAGE),
    # steering a running run needs the server (the state may be recorded first)
    v("pause", "{running}", code=UNREACHABLE, where=WRITE, writes=True),
    v("cancel", "{running}", code=UNREACHABLE, where=WRITE, writes=True),
    v("rerun", "{run}", code=USAGE),
    v("rerun", "nosuch", "--failed", code=USAGE),
    v("rerun", "{run}", "--failed", code=USAGE),  # it has no failed units
    v("rerun", "{run}", "--failed", "--bogus", code=USAGE),
    v("server", code=USAGE),
    v("server", "nosuch", code=USAGE),
    v("server", "start", "extra", code=USAGE),
    v("server", "status", code=NOTHING),  # down
    v("server", "status", "--json", code=NOTHING),
    v("server", "start", code=UNREACHABLE, where=WRITE),
    v("server", "stop", "extra", code=USAGE),
    v("server", "stop", code=OK, where=WRITE),  # an external server: nothing of ours to stop
    v("worker", code=UNREACHABLE, where=WRITE),
    v("worker", "--concurrency", "0", code=USAGE),
    v("worker", "--concurrency", "-1", code=USAGE),
    v("worker", "--concurrency", HUGE, code=USAGE),
    v("worker", "--concurrency", "abc", code=USAGE),
    v("worker", "--queues", "", code=USAGE),
    v("worker", "--queues", "nosuch", code=USAGE),
    v("worker", "--queues", BAD, code=USAGE),
    v("worker", "--gpu-concurrency", "0", code=USAGE),
    v("worker", "--gpu-concurrency", HUGE, code=USAGE),
    v("tools", "extra", code=USAGE),
    v("tools", "--json", code=OK),
    v("pipelines", "--bogus", code=USAGE),
    v("pipelines", code=OK),
    # -- ui (never left serving: every vector fails before it listens) -----------------------------
    v("ui", "--port", "-1", code=USAGE),
    v("ui", "--port", "65536", code=USAGE),
    v("ui", "--port", "abc", code=USAGE),
    v("ui", "--token", "", code=USAGE),
    v("ui", "extra", code=USAGE),
    # -- cat, export ----------------------------------------------------------------------------
    v("cat", code=USAGE),
    v("cat", "", code=USAGE),
    v("cat", "nosuch", code=USAGE),
    v("cat", "0000", code=USAGE),
    v("cat", "{asset}", code=USAGE),
    v("cat", "{run}", code=USAGE),
    v("cat", BAD, code=USAGE),
    v("cat", LONG, code=USAGE),
    v("export", "--kind", "thumbnail", code=USAGE),
    v("export", "kind:image", "--kind", "thumbnail", code=USAGE),
    v("export", "--to", "{new_dir}", code=USAGE),
    v("export", "--kind", "nosuch", "--to", "{new_dir}", code=NOTHING),
    v("export", "--kind", "", "--to", "{new_dir}", code=USAGE),
    v("export", "--kind", "thumbnail", "--to", "", code=USAGE),
    v("export", "--kind", "thumbnail", "--to", "{file}", code=USAGE),
    v("export", "--kind", "thumbnail", "--to", "{file}/sub", code=USAGE),
    v("export", "--kind", "thumbnail", "--to", "/proc/mstore-test", code=USAGE),
    v("export", "--kind", "thumbnail", "--to", LONG, code=USAGE),
    v("export", "(", "--kind", "thumbnail", "--to", "{new_dir}", code=USAGE),
    v("export", "--kind", "thumbnail", "--to", "{new_dir}", "--run", "nosuch", code=USAGE),
    v("export", "--kind", "thumbnail", "--to", "{new_dir}", "--run", "r", code=USAGE),
    # -- gc ---------------------------------------------------------------------------------------
    v("gc", "--grace", "1e308", code=USAGE, where=WRITE),
    v("gc", "--grace", "inf", code=USAGE, where=WRITE),
    v("gc", "--grace", "-inf", code=USAGE, where=WRITE),
    v("gc", "--grace", "nan", code=USAGE, where=WRITE),
    v("gc", "--grace", "-1", code=USAGE, where=WRITE),
    v("gc", "--grace", "abc", code=USAGE, where=WRITE),
    v("gc", "--grace", "", code=USAGE, where=WRITE),
    v("gc", "extra", code=USAGE, where=WRITE),
    v("gc", "--dry-run", "--grace", "1e6", "--json", code=OK, where=WRITE),
    # -- collections ----------------------------------------------------------------------------
    v("collection", code=USAGE, where=WRITE),
    v("collection", "nosuch", code=USAGE, where=WRITE),
    v("collection", "create", code=USAGE, where=WRITE),
    v("collection", "create", "c1", code=USAGE, where=WRITE),
    v("collection", "create", "", "--query", "kind:image", code=USAGE, where=WRITE),
    v("collection", "create", BAD, "--query", "kind:image", code=USAGE, where=WRITE),
    v("collection", "create", "a/b", "--query", "kind:image", code=USAGE, where=WRITE),
    v("collection", "create", LONG, "--query", "kind:image", code=USAGE, where=WRITE),
    v("collection", "create", "c1", "--query", "(", code=USAGE, where=WRITE),
    v("collection", "create", "c1", "--query", "kind:image", "--assets", "{ids_file}",
      code=USAGE, where=WRITE),
    v("collection", "create", "c1", "--assets", "{missing}", code=USAGE, where=WRITE),
    v("collection", "create", "c1", "--assets", "{empty_dir}", code=USAGE, where=WRITE),
    v("collection", "create", "c1", "--assets", "{bad_utf8_file}", code=USAGE, where=WRITE),
    v("collection", "create", "c1", "--assets", "{junk_file}", code=USAGE, where=WRITE),
    v("collection", "create", "c1", "--assets", "{junk_ids_file}", code=USAGE, where=WRITE),
    v("collection", "create", "existing", "--query", "kind:text", code=USAGE, where=WRITE),
    v("collection", "show", "nosuch", code=USAGE),
    v("collection", "show", "existing", "--limit", "-1", code=USAGE),
    v("collection", "show", BAD, code=USAGE),
    v("collection", "freeze", "nosuch", code=USAGE, where=WRITE),
    v("collection", "freeze", "frozen", code=USAGE, where=WRITE),
    v("collection", "delete", "nosuch", code=USAGE, where=WRITE),
    v("collection", "delete", "", code=USAGE, where=WRITE),
    v("collection", "list", "extra", code=USAGE),
    v("collection", "list", "--json", code=OK),
    # -- labels -----------------------------------------------------------------------------------
    v("label", code=USAGE, where=WRITE),
    v("label", "nosuch", code=USAGE, where=WRITE),
    v("label", "{run}", "--set", "k=v", code=USAGE, where=WRITE),
    v("label", "{artifact}", "--set", "k=v", code=USAGE, where=WRITE),
    v("label", LONG, "--set", "k=v", code=USAGE, where=WRITE),
    v("label", "{asset}", "--set", "noequals", code=USAGE, where=WRITE),
    v("label", "{asset}", "--set", "=v", code=USAGE, where=WRITE),
    v("label", "{asset}", "--set", b"k=" + BAD, code=USAGE, where=WRITE),
    v("label", "{asset}", "--set", BAD + b"=v", code=USAGE, where=WRITE),
    v("label", "{asset}", "--set", b"k=" + JUNK, code=USAGE, where=WRITE),
    v("label", "{asset}", "--set", "k=v", "--about", "nosuch", code=USAGE, where=WRITE),
    v("label", "{asset}", "--set", "k=v", "--about", "{asset}", code=USAGE, where=WRITE),
    v("label", "{asset}", "--json", code=OK, where=WRITE),
    v("label", "{asset}", "--set", "k" * 600 + "=v", code=OK, where=WRITE, writes=True),
    v("label", "{asset}", "--set", "k=" + "v" * 100_000, code=OK, where=WRITE, writes=True),
    # -- people (this store has no people run: nobody to name, merge or split) -----------------
    v("people", code=OK),
    v("people", "--json", "--unnamed-first", code=OK),
    v("people", "name", "p0123456789", "Ada", code=USAGE, where=WRITE),
    v("people", "name", BAD, "Ada", code=USAGE, where=WRITE),
    v("people", "name", "ada", LONG, code=USAGE, where=WRITE),
    v("people", "merge", "ada", "ada", code=USAGE, where=WRITE),
    v("people", "merge", BAD, JUNK, code=USAGE, where=WRITE),
    v("people", "split", "ada", "{asset}#1", code=USAGE, where=WRITE),
    v("people", "split", "ada", code=USAGE, where=WRITE),
    v("people", code=NO_STORE, where=NONE),
    v("find", "person:", code=USAGE),
    v("find", "faces:many", code=USAGE),
    v("find", "faces:>" + HUGE, code=USAGE),
    v("find", "person:?", code=NOTHING),
    # -- queries nested deeper than the parser takes --------------------------------------------
    v("find", "(" * 3000 + "kind:image" + ")" * 3000, code=USAGE),
    v("find", "-" * 3000 + "kind:image", code=OK),  # an even number of negations
    # -- run requests checked before anything is recorded or contacted ----------------------------
    v("run", "photos", "--param", "thumbnail.size=" + "9" * 20, code=USAGE),
    v("run", "photos", "--param", "thumbnail.size=-1", code=USAGE),
    v("run", "photos", "--sample", "-5", code=USAGE),
    v("run", "photos", "--sample", "0", code=USAGE),
    v("run", "photos", "--sample", "150%", code=USAGE),
    v("run", "photos", "--sample", "-5%", code=USAGE),
    v("run", "photos", "--max-units", "-1", code=USAGE),
    v("run", "photos", "--max-units", HUGE, code=USAGE),
    v("run", "photos", "--max-bytes", BAD, code=USAGE),
    v("run", "photos", "--max-bytes", HUGE + "XB", code=USAGE),
    v("run", "photos", "--production", "--sandbox", code=USAGE),
    v("run", "photos", "--production", "--sample", "5", code=USAGE),
    v("run", "photos", "--on", "nosuch", code=USAGE),
    v("run", "photos", "path:nothing-matches-this/", code=NOTHING),
    # -- remotes and transfers (docs/sync.md): checked before anything moves -----------------------
    v("clone", code=USAGE, where=NONE),
    v("clone", "{missing}", "{new_dir}", code=EXIT_REMOTE, where=NONE),
    v("clone", "{read_store}", "{file}", code=USAGE, where=NONE),
    v("clone", "{read_store}", "{outside_dir}", "--root", "nosuch=/x", code=USAGE, where=NONE),
    v("clone", "{read_store}", "{outside_dir}", "--root", BAD, code=USAGE, where=NONE),
    v("clone", "{read_store}", "{outside_dir}", "--kinds", ",", code=USAGE, where=NONE),
    v("clone", "{read_store}", "{outside_dir}", "--kinds", BAD, code=USAGE, where=NONE),
    v("clone", "ftp://host/x", "{outside_dir}", code=USAGE, where=NONE),
    v("clone", "ssh://", "{outside_dir}", code=USAGE, where=NONE),
    v("clone", "ssh://host:99999999/x", "{outside_dir}", code=USAGE, where=NONE),
    v("remote", "list", code=OK),
    v("remote", "list", "--json", code=OK),
    v("remote", "add", "x y", "/srv/store", code=USAGE, where=WRITE),
    v("remote", "add", BAD, "/srv/store", code=USAGE, where=WRITE),
    v("remote", "add", LONG, "/srv/store", code=USAGE, where=WRITE),
    v("remote", "add", "nas", "", code=USAGE, where=WRITE),
    v("remote", "add", "nas", "ftp://nas/x", code=USAGE, where=WRITE),
    v("remote", "remove", "nosuch", code=USAGE, where=WRITE),
    v("pull", code=USAGE),  # no remote known
    v("pull", "nosuch", code=USAGE),
    v("pull", "{missing}", code=EXIT_REMOTE),
    v("pull", "--all", "--kinds", "thumbnail", "{missing}", code=USAGE),
    v("pull", "--kinds", BAD, "{missing}", code=USAGE),
    v("push", "nosuch", code=USAGE),
    v("push", "{file}", code=EXIT_REMOTE),
    v("sync", "{read_store}", code=USAGE),  # the store itself
    v("sync", BAD, code=USAGE),
    v("sync-serve", code=USAGE, where=NONE),
    v("sync-serve", "{missing}", code=OK, where=NONE),  # no request came: nothing to answer
]


def _tree(store: Path) -> dict[str, str]:
    """What the store holds (its local/ cache aside): every file's content hash."""
    out = {}
    for p in sorted(store.rglob("*")):
        rel = p.relative_to(store)
        if p.is_file() and rel.parts[0] != "local":
            out[str(rel)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _make_archive(root: Path) -> None:
    from PIL import Image

    root.mkdir()
    for i in range(4):
        img = Image.new("RGB", (40 + 8 * i, 30), (60 * i, 90, 200 - 40 * i))
        img.save(root / f"img{i}.jpg", quality=90)
    (root / "notes.txt").write_text("a few words\n")


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    base = tmp_path_factory.mktemp("hostile")
    archive = base / "archive"
    _make_archive(archive)
    read_store = base / "read-store"
    assert mstore("init", "--store", read_store, archive).code == 0
    with open(read_store / "config.toml", "a") as f:  # nothing listens there
        f.write(f'\n[temporal]\naddress = "127.0.0.1:{free_port()}"\n')
    assert mstore("add", store=read_store).code == 0
    run = run_all(read_store, "photos")
    run_all(read_store, "photos", policy="sandbox")
    running = DirectRun(read_store, "photos", policy="sandbox")
    running.close()  # planned and recorded, no unit done: "running" until steered
    assets = [r["id"] for r in mstore("find", "--json", store=read_store).json_lines()]
    shown = mstore("show", run, "--json", store=read_store).json()
    artifact = shown["recent_artifacts"][0]["id"]
    for name, how in (("existing", ["--query", "kind:image"]),
                      ("frozen", ["--query", "kind:image", "--freeze"])):
        assert mstore("collection", "create", name, *how, store=read_store).code == 0
    for lane in range(WRITE_LANES):
        write_store = base / f"write-store-{lane}"
        shutil.copytree(read_store, write_store)
        shutil.rmtree(write_store / "local")  # a copy makes its own cache (and machine id)

    files = base / "files"
    files.mkdir()
    (files / "file.txt").write_text("just a file\n")
    (files / "empty").mkdir()
    (files / "outside").mkdir()
    (files / "junk.toml").write_bytes(b"[[steps]\n" + JUNK)
    (files / "ids.txt").write_text(assets[0] + "\n")
    (files / "bad-utf8.txt").write_bytes(assets[0].encode() + b"\n" + BAD + b"\n")
    (files / "junk.bin").write_bytes(JUNK)
    (files / "junk-ids.txt").write_text("zzzz\nnot an id\n")
    return {"archive": str(archive), "read_store": str(read_store),
            "run": run, "running": running.id,
            "asset": assets[0],
            "artifact": artifact, "file": str(files / "file.txt"),
            "empty_dir": str(files / "empty"), "outside_dir": str(files / "outside"),
            "missing": str(files / "missing"), "new_dir": str(base / "new" / "dir"),
            "junk_toml": str(files / "junk.toml"), "ids_file": str(files / "ids.txt"),
            "bad_utf8_file": str(files / "bad-utf8.txt"), "junk_file": str(files / "junk.bin"),
            "junk_ids_file": str(files / "junk-ids.txt"), "nowhere": str(base / "nowhere")}


def _argv(vec: V, places: dict[str, str], store: Path | None) -> list[str | bytes]:
    out: list[str | bytes] = [sys.executable, "-m", "mstore"]
    if store is not None:
        out += ["--store", str(store)]
    for a in vec.argv:
        if isinstance(a, str):
            for key, value in places.items():
                a = a.replace("{" + key + "}", value)
        out.append(a)
    return out


def _run(vec: V, places: dict[str, str], store: Path | None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MSTORE_DIR", "MSTORE_DEBUG")}
    env["PYTHONPATH"] = str(REPO)  # `-m mstore` from an empty cwd still finds this tree
    cwd = Path(places["nowhere"])
    cwd.mkdir(exist_ok=True)  # no .mstore here or above: NONE has no store to find
    try:
        p = subprocess.run(_argv(vec, places, store), cwd=cwd, env=env, capture_output=True,
                           stdin=subprocess.DEVNULL, timeout=60)
    except subprocess.TimeoutExpired:  # e.g. a watcher that took `inf` and never stops
        return -1, "still running after 60 s (killed)"
    return p.returncode, p.stderr.decode("utf-8", "replace")


def _shown(vec: V) -> str:
    return " ".join(a if isinstance(a, str) else repr(a) for a in vec.argv)[:120]


def _check(vec: V, code: int, err: str) -> list[str]:
    problems = []
    if code != vec.code:
        problems.append(f"exit {code}, expected {vec.code}: {err.strip()[-300:]}")
    if "Traceback" in err:
        problems.append("a traceback on stderr:\n" + err[-1500:])
    if code not in (OK, NOTHING) and not err.strip():
        problems.append(f"exit {code} with nothing on stderr")
    return problems


def test_the_table_is_big_and_covers_every_command() -> None:
    from click import Group

    from mstore.cli.main import cli

    assert len(TABLE) >= 150
    named = {a for vec in TABLE for a in vec.argv[:2] if isinstance(a, str)}
    commands = set(cli.commands)
    commands |= {f"{n} {s}" for n, c in cli.commands.items() if isinstance(c, Group)
                 for s in c.commands}
    used = named | {f"{vec.argv[0]} {vec.argv[1]}" for vec in TABLE
                    if len(vec.argv) > 1 and all(isinstance(a, str) for a in vec.argv[:2])}
    assert commands - used == set()


def _read_vector(vec: V, places: dict[str, str]) -> list[str]:
    store = Path(places["read_store"]) if vec.where == READ else None
    return [f"{_shown(vec)}: {p}" for p in _check(vec, *_run(vec, places, store))]


def _write_lane(vectors: list[V], places: dict[str, str], store: Path) -> list[str]:
    """One at a time on this lane's store copy (the commands lock it), each compared."""
    failures = []
    for vec in vectors:
        before = _tree(store)
        failures += [f"{_shown(vec)}: {p}" for p in _check(vec, *_run(vec, places, store))]
        if not vec.writes and _tree(store) != before:
            failures.append(f"{_shown(vec)}: changed the store")
    return failures


def test_hostile_arguments(places: dict[str, str]) -> None:
    read_store = Path(places["read_store"])
    write_stores = [read_store.parent / f"write-store-{lane}" for lane in range(WRITE_LANES)]
    read_before = _tree(read_store)
    writing = [vec for vec in TABLE if vec.where == WRITE]
    with ThreadPoolExecutor(max_workers=4 + WRITE_LANES) as pool:
        lanes = [pool.submit(_write_lane, writing[lane::WRITE_LANES], places, store)
                 for lane, store in enumerate(write_stores)]
        failures = [f for found in pool.map(lambda vec: _read_vector(vec, places),
                                            [vec for vec in TABLE if vec.where != WRITE])
                    for f in found]
        failures += [f for lane in lanes for f in lane.result()]
    assert _tree(read_store) == read_before, "a read-only command changed the store"
    for store in (read_store, *write_stores):
        r = mstore("fsck", "--json", store=store)
        assert r.code == 0 and json.loads(r.out)["clean"], r.out + r.err
    assert not failures, f"{len(failures)} of {len(TABLE)} vectors:\n" + "\n".join(failures)
