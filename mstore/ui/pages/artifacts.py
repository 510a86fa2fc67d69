"""An artifact's page (lineage both ways, content) and its payload."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from mstore.store.store import Store
from mstore.ui import files
from mstore.ui.core import ui_of


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


async def artifact(request: Request) -> Response:
    ui = ui_of(request)
    d = await ui.lookup("artifact", request.path_params["art"], artifact_data)
    rendered = await ui.call(ui.render_slot, request, "artifact-detail", d["id"], d)
    return ui.page(request, "artifact.html", title=f"artifact {d['id'][:12]}", d=d,
                   panels=rendered)


async def artifact_payload(request: Request) -> Response:
    """The payload by the artifact's full id only (what ``<img src>`` and downloads use:
    the same address always means the same bytes)."""
    ui = ui_of(request)
    art_id = request.path_params["art"]
    if not files.ID_RE.match(art_id):
        return PlainTextResponse("not found", status_code=404)
    got = await ui.call(payload, ui.store, art_id)
    if got is None:
        return PlainTextResponse("not found", status_code=404)
    body, ctype, _filename = got
    ctype, inline = files.safe_type(ctype) if ctype != "application/json" else (
        "application/json", True)
    headers = {"Content-Security-Policy": "sandbox; default-src 'none'",
               "Cache-Control": "private, max-age=86400"}  # same id, same bytes
    if not inline:
        headers["Content-Disposition"] = f'attachment; filename="{art_id[:16]}.bin"'
    return Response(body, media_type=ctype, headers=headers)


ROUTES = [
    Route("/artifact/{art}", artifact),
    Route("/artifact/{art}/payload", artifact_payload),
]
