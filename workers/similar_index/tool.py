"""similar-index: the last step of the ``similar`` pipeline.

The vector index is not an artifact: it is a cache in the store's ``local/similar/``,
built from the ``embedding`` artifacts and caught up as they arrive (mstore/query/
vectors.py, docs/similar.md), because an artifact holding it would be synced to every
machine and, for a million photos, be a gigabyte that says nothing the embeddings do not.
What this step does is check, over the run's whole selection, that each embedding can
go into the index -- a vector of the width its model gives, of the model the others
use -- and fail the ones that cannot (``ToolResult.failed``: they show as failed units of
the step, and ``mstore rerun RUN --failed`` retries them). When the run finishes, the
worker brings this machine's index up to date with what the run made.
"""

from __future__ import annotations

from collections import Counter

from mstore.tools.api import Progress, ToolRequest, ToolResult

WIDTH = {"float16": 2, "float32": 4}


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    result = ToolResult()
    embedded = [(inp.asset, inp.artifacts["embedding"]) for inp in req.inputs
                if "embedding" in inp.artifacts]
    models = Counter((str(a.meta.get("model", "")), a.meta.get("dim")) for _, a in embedded)
    main = models.most_common(1)[0][0] if models else None
    for asset, art in embedded:
        model, dim = str(art.meta.get("model", "")), art.meta.get("dim")
        if not isinstance(dim, int) or dim <= 0 or art.meta.get("dtype") not in WIDTH:
            result.failed[asset] = f"embedding {art.id[:12]} has no valid dim/dtype in its meta"
        elif (model, dim) != main:
            result.failed[asset] = (f"embedding {art.id[:12]} is of {model} ({dim}), the "
                                    f"others of {main[0]} ({main[1]}): not one space")
    progress(1.0, f"{len(embedded) - len(result.failed)} embeddings for the index")
    return result
