"""Calling a tool: in-process for ``python:`` entries, as a child process for ``exec:``.

The exec protocol (docs/tools.md): the request JSON on stdin; output files in
``out_dir``; the result JSON on stdout; progress lines ``progress <0..1> <message>``
on stderr; exit 0 = success, 2 = bad input (not retried), 3 = the step does not apply
to this input (recorded as skipped, not retried), anything else = a transient failure
(retried).
"""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import msgspec

from mstore.tools.api import (
    BadInput,
    NotApplicable,
    Progress,
    PythonTool,
    ToolRequest,
    ToolResult,
)
from mstore.tools.loader import LoadFailed, load_function
from mstore.tools.manifest import Manifest

EXIT_BAD_INPUT = 2
EXIT_NOT_APPLICABLE = 3
EXEC_TIMEOUT = 3600.0

class ToolFailed(Exception):
    """A transient tool failure (retried)."""


# (folder, entry, id, version) -> the loaded function: a worker calls it unit after unit,
# and finding it again (resolving its file's path) cost more than a fast tool's call
_entries: dict[tuple[Path, str, str, str], PythonTool] = {}


def _python_entry(m: Manifest) -> PythonTool:
    key = (m.folder, m.entry, m.id, m.version)
    fn = _entries.get(key)
    if fn is None:
        try:
            fn = load_function(m.folder, m.entry.split(":", 1)[1], m.id, m.version)
        except LoadFailed as e:
            raise ToolFailed(str(e)) from None
        _entries[key] = fn
    return fn


def run_tool(m: Manifest, req: ToolRequest, progress: Progress | None = None) -> ToolResult:
    """Run one tool call. Raises BadInput (do not retry), NotApplicable (not a failure,
    do not retry) or ToolFailed/other (retry)."""
    progress = progress or (lambda _f, _m: None)
    Path(req.out_dir).mkdir(parents=True, exist_ok=True)
    if m.entry.startswith("python:"):
        return _python_entry(m)(req, progress)
    return _run_exec(m, req, progress)


def _run_exec(m: Manifest, req: ToolRequest, progress: Progress) -> ToolResult:
    exe = (m.folder / m.entry.split(":", 1)[1]).resolve()
    if not os.access(exe, os.X_OK):
        raise ToolFailed(f"tool {m.id}: {exe} is not executable")
    proc = subprocess.Popen([str(exe)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=req.out_dir,
                            env=dict(os.environ, MSTORE_TOOL=m.id, MSTORE_TOOL_VERSION=m.version))
    err_lines: list[str] = []
    # this thread owns stderr: communicate() must not read the same pipe
    err_pipe, proc.stderr = proc.stderr, None

    def read_stderr() -> None:
        assert err_pipe is not None
        for raw in err_pipe:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            parts = line.split(" ", 2)
            if len(parts) >= 2 and parts[0] == "progress":
                try:
                    progress(float(parts[1]), parts[2] if len(parts) > 2 else "")
                    continue
                except ValueError:
                    pass
            err_lines.append(line)

    t = threading.Thread(target=read_stderr, daemon=True)
    t.start()
    try:
        out, _ = proc.communicate(msgspec.json.encode(req), timeout=EXEC_TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise ToolFailed(f"tool {m.id}: timed out after {EXEC_TIMEOUT:.0f}s") from None
    t.join(timeout=5)
    tail = "; ".join(err_lines[-5:])
    if proc.returncode == EXIT_BAD_INPUT:
        raise BadInput(tail or f"tool {m.id} rejected the input")
    if proc.returncode == EXIT_NOT_APPLICABLE:
        raise NotApplicable(tail or f"tool {m.id} does not apply to this input")
    if proc.returncode != 0:
        raise ToolFailed(f"tool {m.id} exited {proc.returncode}: {tail}")
    try:
        return msgspec.json.decode(out, type=ToolResult)
    except msgspec.DecodeError as e:
        raise ToolFailed(f"tool {m.id}: result is not valid JSON: {e}") from None


