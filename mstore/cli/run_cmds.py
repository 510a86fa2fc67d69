"""Runs: ``run``, ``log``, ``pause``, ``resume``, ``cancel``, ``rerun``, ``server``,
``worker``, ``tools``, ``pipelines``."""

from __future__ import annotations

import sys
import time

import click

from mstore.cli import complete
from mstore.cli.main import Context, QueryCommand, emit_shaped, store_option
from mstore.model.records import RUN_STATES
from mstore.present import duration, ms_text, param_text, seconds_text


def follow_run(store, run_id: str) -> str:  # noqa: ANN001
    """A live progress line (or plain lines when not a terminal); failures as they happen."""
    from mstore.runs.progress import TERMINAL, view

    tty = sys.stderr.isatty()
    shown_failures: set[tuple[str, str]] = set()
    last_line = ""
    while True:
        store.catch_up()
        v = view(store, run_id, failures=1000)
        if v is None:
            time.sleep(0.3)
            continue
        for f in v.failures:
            key = (f["unit"], f["step"])
            if key not in shown_failures:
                shown_failures.add(key)
                prefix = "\r\x1b[K" if tty else ""
                sys.stderr.write(f"{prefix}failed: {f['unit'][:12]} {f['step']}: {f['error']}\n")
        width = 30
        finished = v.done + v.failed
        filled = int(width * finished / v.total) if v.total else width
        line = (f"[{'#' * filled}{'.' * (width - filled)}] {finished}/{v.total} units "
                f"({v.done} done, {v.failed} failed), {v.throughput:.1f} units/s, "
                f"ETA {duration(v.eta_s)}, {v.state}")
        if tty:
            sys.stderr.write("\r" + line + "\x1b[K")
        elif line != last_line:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()
        last_line = line
        if v.state in TERMINAL:
            if tty:
                sys.stderr.write("\n")
            return v.state
        time.sleep(0.5)


MAX_CONCURRENCY = 1000  # chunks in flight: far past what one machine's workers can take


def run_line(started, name: str = "") -> str:  # noqa: ANN001 - services.runs.Started
    """The first line of every run: its policy and its sample, so nobody takes a sandbox
    trial for the real thing (or starts the real thing by accident). ``name``: what to
    call it instead of "run ID"."""
    r = started.run
    of = f"{r.total:,} of {started.selected:,} units"
    if r.policy == "sandbox":
        what = f"sandbox, sample {r.sample}: {of}" if r.sample else f"sandbox: {of}"
        if r.total < started.selected:
            what += " (use --production for all)"
    elif r.total < started.selected:
        caps = [f"--{k.replace('_', '-')} {r.caps[k]}" for k in ("max_units", "max_bytes")
                if r.caps.get(k)]
        what = f"production: {of} ({', '.join(caps)})"
    else:
        what = f"production: all {r.total:,} units"
    return f"{name or 'run ' + r.run}: {r.pipeline}, {what}"


def unserved_note(store, started) -> str:  # noqa: ANN001
    """A line for the steps whose resource class this machine's worker does not serve
    (a gpu step where [worker] queues has no gpu): their units wait for such a worker."""
    from mstore.orchestration.settings import worker_settings

    served = worker_settings(store).queues
    missing = started.unserved(served)
    if not missing:
        return ""
    steps = ", ".join(f"{name} ({res})" for name, res in missing)
    classes = ",".join(dict.fromkeys(res for _n, res in missing))
    which = f"step {steps} waits" if len(missing) == 1 else f"steps {steps} wait"
    return (f"note: this machine's worker serves {', '.join(served)} ([worker] queues in "
            f"config.toml): {which} for a worker started with `mstore worker --queues "
            f"{classes}`")


def resolve_on(store, on: str, query: tuple[str, ...]) -> str:  # noqa: ANN001
    """``--on NAME`` / ``--on @NAME``: a collection, which must exist (a query goes after the
    pipeline name instead: a word that is not a collection is never run as a query)."""
    from mstore.errors import UsageError

    if query:
        raise UsageError("give a collection (--on) or a query, not both (save the query as a "
                         "collection, or add its terms to the collection's query)")
    name = on[1:] if on.startswith("@") else on
    with store.reader() as r:
        if r.collection(name) is not None:
            return f"@{name}"
        known = sorted(c.name for c in r.collections())
    listed = f"collections: {', '.join(known[:10])}" if known else "there are no collections"
    raise UsageError(f"--on: no collection '{name}' ({listed}); to run over a query, give it "
                     "after the pipeline name")


def _byte_cap(text: str | None) -> int:
    """``--max-bytes SIZE`` in bytes (0: no cap); a usage error unless a size of 1 byte
    or more."""
    from mstore.errors import UsageError
    from mstore.query.lexer import parse_size

    if text is None:
        return 0
    try:
        value = parse_size(text)
    except ValueError as e:
        raise UsageError(f"--max-bytes {text}: {e}") from None
    if value < 1:
        raise UsageError(f"--max-bytes {text}: must be at least 1 byte")
    return value


@click.command(cls=QueryCommand)
@click.argument("pipeline", shell_complete=complete.pipelines)
@click.argument("query", nargs=-1, shell_complete=complete.query)
@click.option("--on", "on", default=None, metavar="COLLECTION",
              help="A collection (NAME or @NAME) to run over.")
@click.option("--sandbox", is_flag=True,
              help="A cheap, sampled try with expiring results (the default).")
@click.option("--production", is_flag=True,
              help="Every selected unit, results kept: ask for it explicitly.")
@click.option("--sample", default="", help="Sandbox sample: N units or P% (default: the "
                                           "pipeline's).")
@click.option("--param", "params", multiple=True, metavar="STEP.KEY=VALUE",
              help="Override a step parameter (repeatable).")
@click.option("--force", is_flag=True, help="Recompute instead of reusing artifacts.")
@click.option("--follow", "-f", is_flag=True, help="Show live progress until the run ends.")
@click.option("--max-units", type=int, default=None, help="Cap: at most N units.")
@click.option("--max-bytes", default=None, metavar="SIZE",
              help="Cap: the first units holding at most SIZE bytes (e.g. 500MB, 2GiB).")
@click.option("--max-concurrency", type=int, default=None, help="Cap: chunks in flight.")
@click.option("--chunk-size", type=int, default=None, hidden=True)
@click.option("--dry-run", "-n", "dry_run", is_flag=True,
              help="Plan the run and say what it would do; record and start nothing.")
@click.option("--json", "as_json", is_flag=True)
@store_option
@click.pass_obj
def run(obj: Context, pipeline: str, query: tuple[str, ...], on: str | None, sandbox: bool,
        production: bool, sample: str, params: tuple[str, ...], force: bool, follow: bool,
        max_units: int | None, max_bytes: str | None, max_concurrency: int | None,
        chunk_size: int | None, dry_run: bool, as_json: bool) -> None:
    """Start PIPELINE over the assets matching QUERY (or --on COLLECTION).

    A sandbox run (the default) takes a deterministic sample with the pipeline's cheaper
    params, and its results expire; --production runs every selected unit."""
    from mstore.errors import UsageError
    from mstore.runs.pipelines import get_pipeline
    from mstore.runs.plan import RunRequest, parse_param_overrides
    from mstore.services.runs import start_run

    if sandbox and production:
        raise UsageError("--sandbox and --production exclude each other")
    if dry_run and follow:
        raise UsageError("--dry-run starts nothing to --follow")
    for opt, value, most in (("--max-units", max_units, 2**63 - 1),
                             ("--max-concurrency", max_concurrency, MAX_CONCURRENCY),
                             ("--chunk-size", chunk_size, 2**31 - 1)):
        if value is not None and not 1 <= value <= most:
            raise UsageError(f"{opt} {value}: must be at least 1" if value < 1 else
                             f"{opt} {value}: must be at most {most:,}")
    byte_cap = _byte_cap(max_bytes)
    store = obj.store()
    selection = resolve_on(store, on, query) if on is not None else " ".join(query)
    req = RunRequest(pipeline=get_pipeline(store.root, pipeline), selection=selection,
                     policy="production" if production else "sandbox", sample=sample,
                     params=parse_param_overrides(list(params)), force=force,
                     max_units=max_units or 0, max_concurrency=max_concurrency or 0,
                     max_bytes=byte_cap)
    if dry_run:
        _dry_run(store, req, as_json)
        return
    started = start_run(store, req, chunk_size=chunk_size or 0)
    r = started.run
    click.echo(run_line(started), err=True)
    if note := unserved_note(store, started):
        click.echo(note, err=True)
    if as_json:
        from mstore.present import emit_json

        emit_json({"run": r.run, "pipeline": r.pipeline, "policy": r.policy, "units": r.total,
                   "selected": started.selected, "sample": r.sample or None,
                   "temporal": started.temporal_url})
    else:
        click.echo(r.run)
        if started.temporal_url:
            click.echo(f"Temporal: {started.temporal_url}", err=True)
    if follow:
        state = follow_run(store, r.run)
        if state != "completed":
            raise click.exceptions.Exit(1)


@click.command()
@click.argument("run_a", shell_complete=complete.runs())
@click.argument("run_b", shell_complete=complete.runs())
@click.option("--json", "as_json", is_flag=True)
@store_option
@click.pass_obj
def diff(obj: Context, run_a: str, run_b: str, as_json: bool) -> None:
    """What differs between two runs: steps, params, units, results.

    RUN_A and RUN_B are run ids or unique prefixes: a sandbox trial against a production
    run, say, to see what other params changed before running them for real."""
    from mstore.services.diff import diff_runs

    d = diff_runs(obj.store(), run_a, run_b)
    if as_json:
        emit_shaped(d, "RunDiff")
        return
    echo = click.echo
    for side in ("a", "b"):
        x = d[side]
        what = f"sample {x['sample']}, " if x["sample"] else ""
        echo(f"{side}  {x['run']}  {x['pipeline']} {x['policy']}, {what}{x['units']:,} units"
             + (f"  ({x['selection']})" if x["selection"] else ""))
    u = d["units"]
    echo(f"units  {u['both']:,} in both, {u['only_a']:,} only in a, {u['only_b']:,} only in b")
    echo(f"  {'step':<12}{'a':<16}{'b':<16}{'same':>7}{'differs':>9}{'one only':>10}  params")
    for st in d["steps"]:
        changed = "; ".join(f"{k} {param_text(v[0])} -> {param_text(v[1])}"
                            for k, v in st["params"].items())
        echo(f"  {st['name']:<12}{st['a'] or '-':<16}{st['b'] or '-':<16}{st['same']:>7,}"
             f"{st['differs']:>9,}{st['one_only']:>10,}  {changed or 'same'}".rstrip())


def _dry_run(store, req, as_json: bool) -> None:  # noqa: ANN001 - Store, RunRequest
    """``run --dry-run``: what the run would be and cost (services/runs.dry_run)."""
    from mstore.services.runs import dry_run

    started, d = dry_run(store, req)
    if as_json:
        from mstore.present import emit_json

        emit_json(d)
        return
    steps, processes, wall = d["steps"], d["processes"], d["estimate_s"]
    click.echo(run_line(started, name="dry run")
               + "  (nothing recorded or started)")
    width = max(len(f"{st['tool']}@{st['version']}") for st in steps)
    for st in steps:
        params = " ".join(f"{k}={v}" for k, v in sorted(st["params"].items()))
        click.echo(f"  {st['name']:<12}{st['tool'] + '@' + st['version']:<{width + 2}}"
                   f"{st['resource']:<5}{st['shape']:<11}{params}".rstrip())
        click.echo(" " * 14 + _cost_text(st))
    if d["units_followed"] < d["units"]:
        click.echo(f"reuse and compute counted over {d['units_followed']:,} of the "
                   f"{d['units']:,} units, evenly spaced, and scaled")
    if any(st["compute"] for st in steps):
        click.echo(f"about {seconds_text(wall)} on {processes} tool process"
                   f"{'es' * (processes != 1)}" if wall is not None else
                   "no estimate of the time: a step no earlier run computed")


def _cost_text(st: dict) -> str:
    """What a step would cost: units reused and computed, and the tool time."""
    if st["applies"] is None:
        return "one call over the units (an aggregate: not estimated)"
    if not st["applies"]:
        return "applies to none of the units"
    text = f"reuse {st['reuse']:,}, compute {st['compute']:,}"
    if not st["compute"]:
        return text
    if st["ms_per_unit"] is None:
        return text + ", time unknown (no earlier run computed it)"
    other = "" if st["same_params"] else " with other params"
    return (text + f": ~{seconds_text(st['seconds'])} of tool time "
            f"({ms_text(st['ms_per_unit'])} a unit in {st['measured_in']}{other})")


@click.command()
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="At most N runs.")
@click.option("--state", "states", multiple=True, metavar="STATE",
              type=click.Choice(RUN_STATES),
              help="Only runs in this state (repeatable): " + ", ".join(RUN_STATES) + ".")
@click.option("--pipeline", "pipelines", multiple=True, metavar="NAME",
              help="Only runs of this pipeline (repeatable).")
@click.option("--json", "as_json", is_flag=True)
@store_option
@click.pass_obj
def log(obj: Context, limit: int, states: tuple[str, ...], pipelines: tuple[str, ...],
        as_json: bool) -> None:
    """Runs, newest first."""
    from mstore.present import ms_time
    from mstore.runs.progress import all_views

    store = obj.store()
    views = [v for v in all_views(store) if (not states or v.state in states)
             and (not pipelines or v.pipeline in pipelines)][:limit]
    if as_json:
        for v in views:
            emit_shaped(v.as_dict(), "LogRow")
        return
    for v in views:
        dur = (v.last_ms - v.started_ms) / 1000
        click.echo(f"{v.id}  {v.pipeline:<10} {v.policy:<10} {v.state:<10} "
                   f"{v.done}/{v.failed}/{v.total}  {ms_time(v.started_ms)}  {duration(dur)}")


def _steer(action: str):  # noqa: ANN202
    @click.command(name=action, help=f"{action.capitalize()} a run.")
    @click.argument("run_id", shell_complete=complete.steerable(action))
    @store_option
    @click.pass_obj
    def cmd(obj: Context, run_id: str) -> None:
        from mstore.services import resolve
        from mstore.services.runs import steer

        store = obj.store()
        rid = resolve.run(store, run_id)
        click.echo(f"{rid}: {steer(store, rid, action)}")

    return cmd


@click.command()
@click.argument("run_id", shell_complete=complete.steerable("rerun"))
@click.option("--failed", is_flag=True, required=True, help="Rerun the failed units.")
@click.option("--follow", "-f", is_flag=True)
@store_option
@click.pass_obj
def rerun(obj: Context, run_id: str, failed: bool, follow: bool) -> None:
    """Start a new run over the failed units of RUN_ID, linked to it."""
    from mstore.services import resolve
    from mstore.services.runs import rerun_failed

    store = obj.store()
    started = rerun_failed(store, resolve.run(store, run_id))
    click.echo(run_line(started), err=True)
    if note := unserved_note(store, started):
        click.echo(note, err=True)
    click.echo(started.run.run)
    if follow and follow_run(store, started.run.run) != "completed":
        raise click.exceptions.Exit(1)


@click.group()
def server() -> None:
    """The embedded Temporal dev server and the store's background worker."""


@server.command("start")
@click.option("--bind", default=None, metavar="ADDR",
              help="The address the embedded server listens on (default 127.0.0.1; "
                   "0.0.0.0 for every one: workers on other hosts can then reach it).")
@store_option
@click.pass_obj
def server_start(obj: Context, bind: str | None) -> None:
    from mstore.orchestration import server as srv

    store = obj.store()
    # without --bind a running server stays where it listens; a stopped one starts on
    # loopback (`mstore run` starts it where `server start` last said)
    if bind is not None or (srv.settings(store).embedded and not srv.status(store).server_pid):
        _ts, warning = srv.choose_bind(store, bind or "127.0.0.1")
        if warning:
            click.echo(warning, err=True)
    ts = srv.ensure_running(store)
    st = srv.status(store)
    click.echo(f"temporal {ts.address} (namespace {ts.namespace})"
               + (f", web UI {ts.ui_url}" if ts.ui_url else ""))
    click.echo(f"worker pid {st.worker_pid}")


@server.command("stop")
@store_option
@click.pass_obj
def server_stop(obj: Context) -> None:
    from mstore.orchestration import server as srv

    stopped = srv.stop(obj.store())
    click.echo("stopped " + (", ".join(stopped) if stopped else "nothing (not running)"))


@server.command("status")
@click.option("--json", "as_json", is_flag=True)
@store_option
@click.pass_obj
def server_status(obj: Context, as_json: bool) -> None:
    from mstore.orchestration import server as srv

    st = srv.status(obj.store())
    if as_json:
        from mstore.present import emit_json

        emit_json(st.__dict__)
        if not (st.server_up and st.own):
            raise click.exceptions.Exit(1)
        return
    if st.server_up and not st.own:
        click.echo(f"temporal {st.address}: taken by a server that is not this store's "
                   "embedded one (set [temporal] port or address in config.toml)")
    else:
        click.echo(f"temporal {st.address}: {'up' if st.server_up else 'down'}"
                   + (f" (embedded, listening on {st.bind})" if st.embedded else " (external)")
                   + (f", web UI {st.ui_url}" if st.ui_url and st.server_up else ""))
    click.echo(f"worker: {'pid ' + str(st.worker_pid) if st.worker_pid else 'not running'}")
    if not (st.server_up and st.own):
        raise click.exceptions.Exit(1)


@click.command()
@click.option("--queues", default=None,
              help="Resource classes to serve, comma-separated, from cpu, io, gpu "
                   "(default: [worker] queues in config.toml, else cpu,io).")
@click.option("--concurrency", type=click.IntRange(1, 1024), default=None,
              help="cpu tool processes and io threads (default: [worker] concurrency, "
                   "else cores).")
@click.option("--gpu-concurrency", type=click.IntRange(1, 1024), default=None,
              help="gpu tool processes (default: [worker] gpu_concurrency, else 1).")
@store_option
@click.pass_obj
def worker(obj: Context, queues: str | None, concurrency: int | None,
           gpu_concurrency: int | None) -> None:
    """Run Temporal workers for this store's task queues (until Ctrl-C / SIGTERM)."""
    from mstore.errors import UsageError
    from mstore.model.records import RESOURCES
    from mstore.orchestration.settings import settings, worker_settings
    from mstore.orchestration.worker import run_worker

    names = None
    if queues is not None:
        names = [q.strip() for q in queues.split(",") if q.strip()]
        if not names or set(names) - set(RESOURCES):
            raise UsageError(f"--queues takes resource classes from {', '.join(RESOURCES)}, "
                             f"comma-separated, not '{queues}'")
    store = obj.store()
    ts = settings(store)
    ws = worker_settings(store, names, concurrency, gpu_concurrency)
    served = ", ".join(f"{q} x{ws.slots(q)}" for q in ws.queues)
    relay = None
    w = store.config.raw.get("worker", {})
    if w.get("push"):
        from mstore.orchestration.relay import Relay
        from mstore.services.remote_worker import transfers

        pull, push = transfers(store, w["push"])
        every = w.get("push_every", "chunk")
        relay = Relay(w["push"], pull, push, 0.0 if every == "chunk" else float(every))
        served += f"; pulls from and pushes to {w['push']}"
    click.echo(f"worker for {store.root} on {ts.address}: queues {served}", err=True)
    run_worker(str(store.root), ts, ws, relay)


@click.command()
@click.option("--json", "as_json", is_flag=True)
@store_option
@click.pass_obj
def tools(obj: Context, as_json: bool) -> None:
    """The tools this store can run."""
    from mstore.tools.registry import Registry

    try:
        root = obj.store().root
    except Exception:  # noqa: BLE001 - listing built-in tools needs no store
        root = None
    reg = Registry.for_store(root)
    width = max((len(m.id) for m in reg.tools.values()), default=0)
    for m in sorted(reg.tools.values(), key=lambda m: m.id):
        if as_json:
            from mstore.present import emit_json

            emit_json({"id": m.id, "version": m.version, "inputs": list(m.inputs),
                       "outputs": list(m.outputs), "resource": m.resource, "shape": m.shape,
                       "entry": m.entry, "params": {
                           n: {"type": p.type, "default": p.default, "min": p.min, "max": p.max,
                               "choices": list(p.choices) or None}
                           for n, p in m.params.items()}})
        else:
            params = ", ".join(f"{n}={p.default!r}" for n, p in m.params.items())
            click.echo(f"{m.id:<{width}} v{m.version:<4} {','.join(m.inputs):<28} -> "
                       f"{','.join(m.outputs):<16} {m.shape:<9} {params}".rstrip())


@click.command()
@store_option
@click.pass_obj
def pipelines(obj: Context) -> None:
    """The pipelines this store can run."""
    from mstore.runs.pipelines import all_pipelines

    try:
        root = obj.store().root
    except Exception:  # noqa: BLE001
        root = None
    for p in all_pipelines(root).values():
        steps = " -> ".join(s.name for s in p.steps)
        click.echo(f"{p.name:<10} {steps:<40} {p.description}")


COMMANDS = [run, log, diff, _steer("pause"), _steer("resume"), _steer("cancel"), rerun,
            server, worker, tools, pipelines]
