"""The tool API: what a tool receives and what it returns, and the media views.

The same shapes travel as JSON over the exec protocol (docs/tools.md), so the
fields are plain data: strings, numbers, lists, dicts.

This module is the one public way into mstore for a tool's code (with ``mstore.ui.api``
for its web UI). The media views (``decoding``, ``load_image``, ``fit``, ``to_srgb``,
``frame_source``...) are defined in ``mstore.tools.views`` and offered here, imported on
first use: importing this module never loads Pillow or PyAV.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:  # pragma: no cover - typing only
    from mstore.tools.views import (
        FramePolicy,
        FrameSource,
        decoding,
        fit,
        frame_policy,
        frame_source,
        load_image,
        raw_exif,
        register_heif,
        to_srgb,
    )

# what mstore.tools.views offers tools, read from it when first asked for (views imports
# this module, and pulling it in eagerly would also make every importer pay for it)
VIEWS = ("FramePolicy", "FrameSource", "decoding", "fit", "frame_policy", "frame_source",
         "load_image", "raw_exif", "register_heif", "to_srgb")

__all__ = ["BadInput", "FramePolicy", "FrameSource", "InputArtifact", "NotApplicable",
           "OutputArtifact", "Progress", "PythonTool", "ToolInput", "ToolRequest", "ToolResult",
           "box_iou",
           "decoding", "fit", "frame_policy", "frame_source", "load_image", "raw_exif",
           "register_heif", "to_srgb"]


def __getattr__(name: str) -> Any:
    if name in VIEWS:
        from mstore.tools import views

        return getattr(views, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class BadInput(Exception):
    """The input cannot be processed (corrupt file, unsupported content).

    Not retried: the unit fails with this message. Any other exception is treated
    as transient and retried with backoff (see also NotApplicable).
    """


class NotApplicable(Exception):
    """This step does not apply to this input (a video without an audio track for a tool
    that extracts audio). Not a failure: the unit-step is recorded ``skipped`` with this
    message, counts as covered, and the steps that need this one's output are skipped for
    the unit too. Not retried."""


class InputArtifact(msgspec.Struct, kw_only=True):
    id: str  # artifact id
    kind: str
    path: str | None = None  # payload file (read-only), when the artifact has one
    data: Any = None  # small JSON payload, when the artifact has one
    meta: dict[str, Any] = {}


class ToolInput(msgspec.Struct, kw_only=True):
    """One asset as a tool sees it."""

    asset: str  # asset id (BLAKE3 of the content)
    kind: str  # image / video / audio / text / other
    mime: str
    path: str  # the original file, absolute; open it read-only
    meta: dict[str, Any] = {}  # technical metadata from the catalog
    artifacts: dict[str, InputArtifact] = {}  # upstream artifacts of this asset, by kind


class ToolRequest(msgspec.Struct, kw_only=True):
    tool: str
    version: str
    params: dict[str, Any]
    inputs: list[ToolInput]  # one for a per-asset step; many for an aggregate step
    out_dir: str  # write output files here (and nowhere else)
    views: dict[str, Any] = {}  # media views offered to the tool, e.g. {"frames": {...}}
    # incremental aggregate tools: what their newest earlier call (same policy) made
    previous: list[InputArtifact] = []
    # aggregate tools that name label key prefixes: the newest non-empty label per
    # (asset, key, about) under them, {"asset", "key", "value", "about"}, oldest first
    labels: list[dict[str, str]] = []


class OutputArtifact(msgspec.Struct, kw_only=True, omit_defaults=True):
    kind: str
    asset: str | None = None  # the asset it describes (default: the only input)
    file: str | None = None  # a file the tool wrote, relative to out_dir
    data: Any = None  # or a small JSON payload
    meta: dict[str, Any] = {}  # small facts shown with the artifact (size, format, ...)
    members: list[str] = []  # aggregate outputs: the assets it is about (e.g. a group)


class ToolResult(msgspec.Struct, kw_only=True, omit_defaults=True):
    artifacts: list[OutputArtifact] = []
    # per-input failures of an aggregate or batch tool: asset id -> message
    failed: dict[str, str] = {}


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes given as (x, y, width, height): how tools match
    a face (or any region) found in one result with the same one found in another."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


Progress = Callable[[float, str], None]  # (fraction done 0..1, message)
PythonTool = Callable[[ToolRequest, Progress], ToolResult]
