"""The UI's own panels: they get the page's data in ``ctx.data`` and render templates
under ``templates/panels/``, registered through a ``ToolUi`` exactly as a tool's are."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from mstore.present import meta_lines
from mstore.ui.api import PanelContext, ToolUi


# -- panels -------------------------------------------------------------------------------
def _meta_panel(ctx: PanelContext) -> Markup | None:
    d = ctx.data
    lines = [("kind", f"{d['kind']} ({d['mime']})")] + meta_lines(d["meta"])
    return ctx.render("panels/meta.html", lines=lines, a=d)


def _paths_panel(ctx: PanelContext) -> Markup | None:
    return ctx.render("panels/paths.html", a=ctx.data) if ctx.data["paths"] else None


def _errors_panel(ctx: PanelContext) -> Markup | None:
    return ctx.render("panels/errors.html", a=ctx.data) if ctx.data["errors"] else None


def _labels_panel(ctx: PanelContext) -> Markup | None:
    d = ctx.data
    if not d["labels"] and not d["related"]:
        return None
    return ctx.render("panels/labels.html", a=d)


def _preview_panel(ctx: PanelContext) -> Markup | None:
    return ctx.render("panels/preview.html", a=ctx.data)


def _artifacts_panel(ctx: PanelContext) -> Markup | None:
    return ctx.render("panels/artifacts.html", a=ctx.data)


def _coverage_panel(ctx: PanelContext) -> Markup | None:
    return ctx.render("panels/coverage.html", d=ctx.data)


def _failures_panel(ctx: PanelContext) -> Markup | None:
    return ctx.render("panels/failures.html", d=ctx.data) if ctx.data["failures"] else None


def _gallery_panel(ctx: PanelContext) -> Markup | None:
    d = ctx.data
    return ctx.render("panels/gallery.html", d=d) if d["recent_artifacts"] else None


def _lineage_panel(ctx: PanelContext) -> Markup | None:
    return ctx.render("panels/lineage.html", d=ctx.data)


def _content_panel(ctx: PanelContext) -> Markup | None:
    import msgspec

    d = ctx.data
    data_text = None
    if d["data"] is not None:
        data_text = msgspec.json.format(msgspec.json.encode(d["data"]), indent=2).decode()
        lines = data_text.splitlines()
        if len(lines) > 200:
            data_text = "\n".join(lines[:200]) + f"\n... ({len(lines) - 200} more lines)"
    if not d["payload"] and data_text is None and not d["meta"]:
        return None
    return ctx.render("panels/content.html", d=d, data_text=data_text)


BUILTIN: list[tuple[str, str, Any, str, int]] = [
    ("asset-main", "preview", _preview_panel, "Preview", 10),
    ("asset-main", "artifacts", _artifacts_panel, "Artifacts", 50),
    ("asset-sidebar", "metadata", _meta_panel, "Metadata", 10),
    ("asset-sidebar", "paths", _paths_panel, "Paths", 20),
    ("asset-sidebar", "errors", _errors_panel, "Errors", 30),
    ("asset-sidebar", "labels", _labels_panel, "Labels and related files", 40),
    ("run-detail", "coverage", _coverage_panel, "Coverage per step", 10),
    ("run-detail", "failures", _failures_panel, "Failures", 20),
    ("run-detail", "gallery", _gallery_panel, "Results so far", 30),
    ("artifact-detail", "lineage", _lineage_panel, "Lineage", 10),
    ("artifact-detail", "content", _content_panel, "Content", 20),
]


def register(ui: ToolUi) -> None:
    """Register the built-in panels (a tool registering the same name replaces one)."""
    for slot, name, render, title, order in BUILTIN:
        ui.panel(slot, name, render, title=title, order=order)
