"""The UI's run buttons go through the ``mstore`` command line, in a child process.

The web server is long-lived and multi-threaded; the Temporal SDK's native client is
built for short calls from one thread (see ``mstore.orchestration.client``). So the UI
never imports it: starting, steering and rerunning a run is what a person would type —
``mstore run``, ``pause``/``resume``/``cancel``, ``rerun --failed`` — and the UI shows
the records those commands write. Each call runs outside the UI's store lock, so pages
and the event stream keep answering meanwhile.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mstore.errors import UsageError

TIMEOUT_S = 180.0  # the first run may start the embedded Temporal server


def mstore_cli(store_dir: Path, *args: str) -> str:
    """Run ``mstore --store STORE ARGS...``; its stdout, or UsageError with its message."""
    argv = [sys.executable, "-m", "mstore", "--store", str(store_dir), *args]
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=TIMEOUT_S,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise UsageError(f"mstore {args[0]} did not answer in {TIMEOUT_S:.0f} s") from None
    if p.returncode != 0:
        # the error's own line; a bad query's is followed by the query and a caret line
        lines = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
        msg = next((ln for ln in lines if ln.startswith("mstore: ")
                    and not ln.startswith("mstore: warning: ")),
                   lines[-1] if lines else f"mstore {args[0]} failed (exit {p.returncode})")
        raise UsageError(msg.removeprefix("mstore: "))
    return p.stdout


def _run_args(pipeline: str, query: str, policy: str, sample: str, *flags: str) -> list[str]:
    """``mstore run``'s arguments for the start form's values: the query after ``--``, so
    a query word is never read as an option."""
    args = ["run", pipeline, f"--{policy}", *flags, "--json"]
    if sample:
        args += ["--sample", sample]
    return [*args, "--", *([query] if query else [])]


def start_run(store_dir: Path, pipeline: str, query: str, policy: str, sample: str) -> str:
    """``mstore run``: the new run's id."""
    out = mstore_cli(store_dir, *_run_args(pipeline, query, policy, sample))
    return str(json.loads(out.strip().splitlines()[-1])["run"])


def plan_run(store_dir: Path, pipeline: str, query: str, policy: str, sample: str) -> dict:
    """``mstore run --dry-run --json``: what the run would be and cost (nothing started)."""
    out = mstore_cli(store_dir, *_run_args(pipeline, query, policy, sample, "--dry-run"))
    return dict(json.loads(out))


def steer(store_dir: Path, run_id: str, action: str) -> None:
    """``mstore pause|resume|cancel RUN``."""
    mstore_cli(store_dir, action, run_id)


def rerun_failed(store_dir: Path, run_id: str) -> str:
    """``mstore rerun RUN --failed``: the new run's id."""
    return mstore_cli(store_dir, "rerun", run_id, "--failed").strip().splitlines()[-1]
