"""What the pages read from the store, and the built-in panels.

The ``*_data`` / ``grid`` / ``run_views`` functions run in the app's store thread (see
``app.Ui.call``); panels get the page's data in ``ctx.data`` and render templates under
``templates/panels/``. Built-in panels register through ``register_panel`` like any other.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from mstore.model.records import ArtifactMade
from mstore.present import taken_text
from mstore.store.reader import Reader
from mstore.store.store import Store
from mstore.ui import files
from mstore.ui.panels import PanelContext, register_panel

GALLERY_KINDS = ("thumbnail", "keyframe", "keyframes")


def _best_thumb(arts: list[ArtifactMade]) -> ArtifactMade | None:
    """The thumbnail to show: production before sandbox, newest first, with a payload."""
    arts = [a for a in arts if a.payload]
    if not arts:
        return None
    return max(arts, key=lambda a: (a.policy == "production", a.hlc))


def _taken(tk: int) -> str:
    return taken_text(tk, date_only=True) or ""


# -- data for pages -----------------------------------------------------------------------
def grid(store: Store, query: str, offset: int, size: int) -> tuple[int, int, list[dict]]:
    """(number of tiles, number of sidecars shown with their file, the page of tiles at
    ``offset``): evaluates the query over the catalog table, folds each sidecar whose
    file is in the result into that file's tile (see ``query/sidecars.py``) and reads
    only the ``size`` rows shown."""
    from itertools import compress

    from mstore.query import sidecars
    from mstore.query.evaluate import evaluate_mask
    from mstore.query.labels import Labels
    from mstore.query.snapshot import load_table
    from mstore.query.table import F_SIDECAR, KIND_NAMES

    store.catch_up()
    table = load_table(store.index)
    mask = evaluate_mask(query, table, Labels(store))
    folded: dict[int, list[int]] = {}
    if not sidecars.asks_for_sidecars(query):
        mask, folded = sidecars.fold(table, mask)
    rows = list(compress(range(table.n), mask))
    page = rows[offset:offset + size]
    items = []
    with store.reader() as r:
        for i in page:
            aid = table.row_id(i)
            paths = table.row_paths(i)
            thumb = None
            if aid:
                t = _best_thumb(r.artifacts_of(aid, "thumbnail"))
                thumb = t.id if t else None
            items.append({
                "id": aid, "kind": KIND_NAMES.get(table.kinds[i], "other"),
                "size": table.sizes[i], "taken": _taken(table.taken[i]),
                "path": _text(paths[0]) if paths else "",
                "error": table.errors[i] or None, "thumb": thumb,
                "sidecars": [_text(table.row_paths(r)[0]) for r in folded.get(i, [])],
                "has_sidecar": bool(table.flags[i] & F_SIDECAR),
            })
    return len(rows), sum(map(len, folded.values())), items


def _text(path: bytes) -> str:
    return path.decode("utf-8", "backslashreplace")


def asset_mime(store: Store, aid: str) -> str:
    with store.reader() as r:
        a = r.asset(aid)
    return a.meta.mime if a else ""


def asset_data(store: Store, aid: str) -> dict:
    from mstore.services.assets import describe_asset
    from mstore.services.describe import asset_labels, hlc_ms

    store.catch_up()
    d = describe_asset(store, aid)
    d["labels"] = asset_labels(store, aid)
    # what the page is called: its first current path (a missing asset: its last one)
    shown = [p for p in d["paths"] if p["current"]] or d["paths"][-1:]
    d["shown_path"] = f"{shown[0]['root']}/{_text(shown[0]['path'])}" if shown else ""
    by_kind: dict[str, list[dict]] = {}
    with store.reader() as r:
        arts = r.artifacts_of(aid)
    for a in sorted(arts, key=lambda a: (a.kind, -a.hlc)):
        by_kind.setdefault(a.kind, []).append({
            "id": a.id, "tool": a.tool, "version": a.version, "run": a.run, "step": a.step,
            "params": a.params, "policy": a.policy, "expires_ms": a.expires_ms or None,
            "made_ms": hlc_ms(a.hlc), "aggregate": not a.asset, "inputs": len(a.inputs),
            "payload": bool(a.payload), "filename": a.filename,
            "image": bool(a.payload) and files.type_of_filename(a.filename).startswith("image/"),
        })
    d["artifacts"] = by_kind
    thumb = _best_thumb(arts and [a for a in arts if a.kind == "thumbnail"])
    d["thumb"] = thumb.id if thumb else None
    mime = (d["mime"] or "").lower()
    d["browser_image"] = mime in files.BROWSER_IMAGES
    d["excerpt"] = None
    if d["kind"] == "text":
        real = files.asset_file(store, aid)
        if real is not None:
            try:
                d["excerpt"] = files.read_excerpt(real)
            except OSError:
                d["excerpt"] = None
    d["has_file"] = d["kind"] in ("image", "video", "audio") and not d["missing"]
    return d


def artifact_data(store: Store, art_id: str) -> dict:
    from mstore.services.describe import describe_artifact

    d = describe_artifact(store, art_id, depth=8)  # with "derived": made from it
    p = d["payload"]
    d["payload_image"] = bool(p and p["present"] and files.type_of_filename(
        p["filename"] or "").startswith("image/"))
    return d


def payload(store: Store, art_id: str) -> tuple[bytes, str, str] | None:
    """(bytes, content type, filename) of an artifact's payload (or JSON data), by id."""
    import msgspec

    store.catch_up()
    with store.reader() as r:
        art = r.artifact(art_id)
    if art is None:
        return None
    if art.payload:
        try:
            body = store.objects.get(art.payload)
        except KeyError:
            return None
        return body, files.type_of_filename(art.filename), art.filename
    if art.data is None:
        return None
    return msgspec.json.encode(art.data), "application/json", ""


def run_views(store: Store) -> list[dict]:
    """all_views() as JSON-ready dicts (what the /runs page and its event stream show)."""
    from mstore.runs.progress import all_views
    from mstore.services.describe import temporal_url

    store.catch_up()
    out = []
    for v in all_views(store):
        d = v.as_dict()
        d.pop("failures", None)
        d["pending"] = max(v.total - v.done - v.failed, 0)
        d["temporal_url"] = temporal_url(store, v.id)
        out.append(d)
    return out


def pipeline_choices(store: Store) -> list[dict]:
    """The pipelines the start form offers: name, description, sandbox sample, steps."""
    from mstore.runs.pipelines import all_pipelines

    return [{"name": p.name, "description": p.description, "sample": p.sandbox_sample,
             "steps": [s.name for s in p.steps]}
            for p in sorted(all_pipelines(store.root).values(), key=lambda p: p.name)]


def run_data(store: Store, rid: str) -> dict:
    from mstore.services.describe import describe_run

    d = describe_run(store, rid, limit=60, failures=100)
    for a in d["recent_artifacts"]:
        a["image"] = bool(a["payload"]) and files.type_of_filename(
            a["filename"] or "").startswith("image/")
    return d


def asset_tile(store: Store, r: Reader, aid: str) -> dict:
    """What a grid tile shows of an asset read by id (kind, size, first current path,
    best thumbnail)."""
    from mstore.query.snapshot import taken_int
    from mstore.services.describe import current_paths

    a = r.asset(aid)
    thumb = _best_thumb(r.artifacts_of(aid, "thumbnail"))
    paths = current_paths(r, aid)
    return {"id": aid, "kind": a.meta.kind if a else "other", "size": a.size if a else None,
            "taken": _taken(taken_int(a.meta.taken)) if a else "",
            "dims": f"{a.meta.width}x{a.meta.height}" if a and a.meta.width else "",
            "path": paths[0] if paths else "(no current path)", "error": None,
            "thumb": thumb.id if thumb else None, "sidecars": [], "has_sidecar": False}


def collection_page(store: Store, name: str, offset: int, size: int) -> dict:
    """A collection's summary and one page of its members as grid tiles."""
    from mstore.services import collections as ce

    store.catch_up()
    c = ce.get(store, name)
    ids = ce.members(store, c)
    with store.reader() as r:
        items = [asset_tile(store, r, aid) for aid in ids[offset:offset + size]]
    return {"c": ce.summary(c, len(ids)), "total": len(ids), "items": items}


def collection_rows(store: Store) -> list[dict]:
    from mstore.services import collections as ce

    store.catch_up()
    return [ce.summary(c, n) for c, n in ce.all_collections(store)]


def review_data(store: Store, run: str, offset: int, size: int) -> dict:
    """The duplicate-review page: the dedupe runs, and a page of the chosen run's groups
    with every item's thumbnail, path and current mark (see ``mstore.services.review``)."""
    from mstore.services import review

    store.catch_up()
    runs = review.dedupe_runs(store)
    chosen = run if run in runs else (runs[0] if runs else "")
    all_groups = review.groups(store, chosen) if chosen else []
    page = []
    with store.reader() as r:
        for n, g in enumerate(all_groups[offset:offset + size], start=offset):
            items = []
            for i, (asset, key) in enumerate(review.item_keys(g)):
                mark = review.marks(store, asset).get(key)
                tile = asset_tile(store, r, asset)
                items.append({
                    **tile, "field": f"m{i}", "asset": asset,
                    # an exact group's items are its paths; a near group's, its assets
                    "label": key[len(review.PATH_KEY):] if key != review.KEEP else tile["path"],
                    "mark": mark.value if mark else "",
                    "elsewhere": mark.about if mark and mark.about != g.id else None,
                })
            data = g.data if isinstance(g.data, dict) else {}
            page.append({"n": n + 1, "id": g.id, "type": data.get("type", "?"),
                         "max_distance": data.get("max_distance"),
                         "pairs": data.get("pair_count"), "entries": items,
                         "marked": sum(1 for x in items if x["mark"])})
    return {"runs": runs, "run": chosen, "total": len(all_groups), "groups": page}


# -- panels -------------------------------------------------------------------------------
_META_LABELS = [("taken", "taken"), ("camera_make", "make"), ("camera_model", "model"),
                ("frames", "frames"), ("duration", "duration"), ("video_codec", "video"),
                ("audio_codec", "audio"), ("fps", "fps"), ("rotation", "rotation"),
                ("sample_rate", "sample rate"), ("channels", "channels"),
                ("encoding", "encoding"), ("lines", "lines")]


def meta_lines(meta: dict) -> list[tuple[str, str]]:
    """(label, value) lines of an asset's technical metadata, as ``mstore show`` has them."""
    out = []
    if meta.get("width"):
        out.append(("dimensions", f"{meta['width']}x{meta['height']}"
                    + (f" (orientation {meta['orientation']})" if meta.get("orientation")
                       else "")))
    for key, label in _META_LABELS:
        val = meta.get(key)
        if val is not None:
            out.append((label, f"{val:.3f}".rstrip("0").rstrip(".") if isinstance(val, float)
                        else str(val)))
    if meta.get("gps_lat") is not None:
        gps = f"{meta['gps_lat']:.6f}, {meta['gps_lon']:.6f}"
        if meta.get("gps_alt") is not None:
            gps += f" ({meta['gps_alt']:.1f} m)"
        out.append(("gps", gps))
    return out


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
_registered = False


def register() -> None:
    """Register the built-in panels (once; a plugin's later registration of the same name
    replaces one)."""
    global _registered
    if _registered:
        return
    _registered = True
    for slot, name, render, title, order in BUILTIN:
        register_panel(slot, name, render, title=title, order=order)
