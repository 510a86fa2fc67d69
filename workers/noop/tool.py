"""noop: one ``{"ok": true}`` artifact per input; optional sleep and injected failure.

It measures what orchestration alone costs (activities, records, artifacts) and lets
tests provoke a non-retried failure on chosen files without corrupting any media.
"""

from __future__ import annotations

import time

from mstore.tools.api import BadInput, OutputArtifact, Progress, ToolRequest, ToolResult


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    fail_on = str(req.params.get("fail_on", ""))
    sleep = float(req.params.get("sleep", 0.0))
    result = ToolResult()
    n = len(req.inputs)
    for i, inp in enumerate(req.inputs, start=1):
        if sleep > 0:
            time.sleep(sleep)
        if fail_on and inp.path.endswith(fail_on):
            if n == 1:
                raise BadInput(f"noop: path ends with {fail_on!r}")
            # several inputs (a batch): fail this one, keep the others
            result.failed[inp.asset] = f"noop: path ends with {fail_on!r}"
        else:
            result.artifacts.append(OutputArtifact(kind="noop", asset=inp.asset,
                                                   data={"ok": True}))
        progress(i / n, inp.asset)
    return result
