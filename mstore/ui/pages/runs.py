"""Runs: the dashboard (``/runs``, live over Server-Sent Events), the start form, a run's
page (its body re-read every second or two while it runs) and its buttons, which run the
``mstore`` command (``orchestrate.py``)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import NamedTuple

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from mstore.errors import MstoreError
from mstore.store.store import Store
from mstore.ui import files, orchestrate
from mstore.ui.core import params, ui_of

RUN_ID_RE = re.compile(r"^r\d[0-9a-f-]{1,40}$")
SAMPLE_RE = re.compile(r"^\d{1,9}(\.\d+)?%?$")


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


async def runs(request: Request) -> Response:
    ui = ui_of(request)
    views = await ui.call(run_views, ui.store)
    pipes = await ui.call(pipeline_choices, ui.store)
    qp = params(request)
    start = {"q": qp.get("q"), "pipeline": qp.get("pipeline")}
    return ui.page(request, "runs.html", title="runs", runs=views, pipelines=pipes,
                   start=start)


class StartForm(NamedTuple):
    pipeline: str
    query: str
    policy: str
    sample: str


async def start_form(request: Request) -> StartForm | Response:
    """The start form's values, checked (its CSRF token too), or the page refusing them:
    only values the form offers reach the command line (no "--store=..." as a name)."""
    ui = ui_of(request)
    await ui.check_csrf(request)
    form = await request.form()
    policy = str(form.get("policy", "sandbox"))
    if policy not in ("sandbox", "production"):
        return ui.error(request, 400, f"unknown policy '{policy}'")
    sample = str(form.get("sample", "")).strip() if policy == "sandbox" else ""
    pipeline, query = str(form.get("pipeline", "")), str(form.get("q", "")).strip()
    known = {p["name"] for p in await ui.call(pipeline_choices, ui.store)}
    if pipeline not in known:
        return ui.error(request, 400, f"unknown pipeline '{pipeline}'")
    if sample and not SAMPLE_RE.match(sample):
        return ui.error(request, 400, f"a sample is N or P% (e.g. 50 or 10%), not '{sample}'")
    return StartForm(pipeline, query, policy, sample)


async def run_start(request: Request) -> Response:
    """Start a run from the form on /runs (or a plan's page): sandbox unless production
    is chosen."""
    ui = ui_of(request)
    f = await start_form(request)
    if isinstance(f, Response):
        return f
    return await ui.act(request, lambda new: f"/run/{new}", orchestrate.start_run,
                        ui.store_dir, *f, status=400, locked=False)


async def run_plan(request: Request) -> Response:
    """What the form's run would reuse, compute and cost (``mstore run --dry-run``), with
    a button that starts it."""
    ui = ui_of(request)
    f = await start_form(request)
    if isinstance(f, Response):
        return f
    try:
        d = await run_in_threadpool(orchestrate.plan_run, ui.store_dir, *f)
    except MstoreError as e:
        return ui.refusal(request, e, 400)
    return ui.page(request, "plan.html", title=f"plan: {f.pipeline}", d=d, form=f)


async def run_events(request: Request) -> Response:
    ui = ui_of(request)
    count = params(request).number("count")

    async def stream() -> AsyncIterator[str]:
        sent = 0
        while True:
            views = await ui.call(run_views, ui.store)
            yield f"data: {json.dumps(views, separators=(',', ':'))}\n\n"
            sent += 1
            if count and sent >= count:
                return
            await asyncio.sleep(1.0)
            if await request.is_disconnected():
                return

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def run(request: Request) -> Response:
    return await _run_page(request, "run.html", compare=True)


def counterpart(store: Store, rid: str) -> str | None:
    """The run to compare ``rid`` with: the newest run of the same pipeline under the other
    policy (a sandbox trial's production run, a production run's latest trial)."""
    with store.reader() as r:
        info = r.run(rid)
        if info is None or info.started is None:
            return None
        me = info.started
        others = [x.started for _, x in r.runs() if x.started is not None
                  and x.started.pipeline == me.pipeline and x.started.policy != me.policy]
    return max(others, key=lambda o: o.hlc).run if others else None


async def diff(request: Request) -> Response:
    """Two runs side by side (``mstore diff A B``): params that differ, results that do."""
    from mstore.services.diff import diff_runs

    ui = ui_of(request)
    qp = params(request)
    a, b = qp.get("a"), qp.get("b")
    if not a or not b:
        return ui.error(request, 400, "compare two runs: /diff?a=RUN&b=RUN")
    # a run no name gives, or damage: the app's handler of mstore errors answers (ui/app.py)
    d = await ui.call(diff_runs, ui.store, a, b)
    return ui.page(request, "diff.html", title=f"diff {d['a']['run']} {d['b']['run']}", d=d)


async def run_live(request: Request) -> Response:
    """The run page's body alone: the page's script swaps it in every second or two,
    so progress, failures and the results gallery move without a reload."""
    resp = await _run_page(request, "run_body.html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


async def _run_page(request: Request, template: str, compare: bool = False) -> Response:
    ui = ui_of(request)
    d = await ui.lookup("run", request.path_params["run"], run_data)
    rid = d["id"]
    rendered = await ui.call(ui.render_slot, request, "run-detail", rid, d)
    other = await ui.call(counterpart, ui.store, rid) if compare else None
    return ui.page(request, template, title=f"run {rid}", d=d, panels=rendered,
                   compare_with=other)


async def run_steer(request: Request) -> Response:
    ui = ui_of(request)
    await ui.check_csrf(request)
    rid, action = request.path_params["run"], request.path_params["action"]
    if action not in ("pause", "resume", "cancel") or not RUN_ID_RE.match(rid):
        return ui.error(request, 404, "no such action")
    return await ui.act(request, lambda _: f"/run/{rid}", orchestrate.steer, ui.store_dir,
                        rid, action, locked=False)


async def run_rerun(request: Request) -> Response:
    ui = ui_of(request)
    await ui.check_csrf(request)
    rid = request.path_params["run"]
    if not RUN_ID_RE.match(rid):
        return ui.error(request, 404, "no such run")
    return await ui.act(request, lambda new: f"/run/{new}", orchestrate.rerun_failed,
                        ui.store_dir, rid, locked=False)


ROUTES = [
    Route("/runs", runs),
    Route("/runs/events", run_events),
    Route("/runs/start", run_start, methods=["POST"]),
    Route("/runs/plan", run_plan, methods=["POST"]),
    Route("/run/{run}", run),
    Route("/diff", diff),
    Route("/run/{run}/live", run_live),
    Route("/run/{run}/rerun", run_rerun, methods=["POST"]),
    Route("/run/{run}/{action}", run_steer, methods=["POST"]),
]
