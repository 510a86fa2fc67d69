"""Reading the catalog: ``status``, ``show`` (assets, paths, runs, artifacts), ``find``."""

from __future__ import annotations

import click

from mstore.cli import complete
from mstore.cli.main import Context, QueryCommand, emit_shaped, store_option
from mstore.errors import EXIT_NOTHING, UsageError
from mstore.present import duration, meta_lines


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@store_option
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    """Summary of the store: assets by kind, size, missing, errors, last add, runs going."""
    from mstore.present import emit_json, human_size, ms_time
    from mstore.query.snapshot import load_stats

    store = obj.store()
    stats = load_stats(store)
    with store.reader() as r:
        last = r.last_add()
        set_aside = r.set_aside_count()
        going = [rid for rid, state in r.run_states() if state in ACTIVE_STATES]
    active = _active_runs(store, going)
    remotes = _remotes(store)
    if as_json:
        emit_json({
            "store": str(store.root), "machine": store.machine_id, "readonly": store.readonly,
            "set_aside": set_aside,
            "roots": {k: str(v) for k, v in store.config.roots.items()},
            "assets": stats.assets, "bytes": stats.bytes, "paths": stats.paths,
            "by_kind": stats.by_kind, "bytes_by_kind": stats.bytes_by_kind,
            "missing": stats.missing, "errors": stats.errors,
            "last_add": None if last is None else {
                "started_ms": last.started_ms, "finished_ms": last.finished_ms,
                "new": last.new, "changed": last.changed, "moved": last.moved,
                "missing": last.missing, "unchanged": last.unchanged, "errors": last.errors,
                "interrupted": last.interrupted, "unavailable": last.unavailable},
            "remotes": remotes, "active_runs": active,
        })
        return
    echo = click.echo
    echo(f"store    {store.root}  (machine {store.machine_id})"
         + ("  read-only here" if store.readonly else ""))
    for name, path in store.config.roots.items():
        echo(f"root     {name} = {path}")
    echo(f"assets   {stats.assets:,}  ({human_size(stats.bytes)}, {stats.paths:,} paths)")
    for kind in sorted(stats.by_kind, key=lambda k: -stats.by_kind[k]):
        echo(f"  {kind:<8}{stats.by_kind[kind]:>9,}  {human_size(stats.bytes_by_kind[kind]):>10}")
    echo(f"missing  {stats.missing:,}" + ("   (mstore find missing:)" if stats.missing else ""))
    echo(f"errors   {stats.errors:,}" + ("   (mstore find error:)" if stats.errors else ""))
    if last is None:
        echo("last add never (run 'mstore add')")
    else:
        secs = (last.finished_ms - last.started_ms) / 1000
        echo(f"last add {ms_time(last.finished_ms)} ({secs:.1f}s): {last.new} new, "
             f"{last.changed} changed, {last.moved} moved, {last.missing} missing, "
             f"{last.errors} errors" + (" (interrupted)" if last.interrupted else "")
             + "".join(f"; root '{root}' was not there, not mounted?"
                       for root in last.unavailable))
    if set_aside:
        echo(f"set aside {set_aside:,} records the index could not apply (mstore fsck names them)")
    for a in active:
        echo(f"run      {a['id']}  {a['pipeline']} {a['policy']} {a['state']}: "
             f"{a['done']:,} done, {a['failed']:,} failed of {a['total']:,}"
             f"   (mstore show {a['id']})")
    for name, r in remotes.items():
        echo(f"remote   {name}  {r['url']}  pulled {_when(r['pulled_ms'])}, pushed "
             f"{_when(r['pushed_ms'])}"
             + (f"  (partial: {','.join(r['kinds'])})" if r["kinds"] is not None else ""))


ACTIVE_STATES = ("running", "paused")  # the runs status lists: not ended, oldest first


def _active_runs(store, ids: list[str]) -> list[dict]:  # noqa: ANN001 - a Store
    """The runs this copy's records say are still going or paused, with their progress."""
    if not ids:
        return []
    from mstore.runs.progress import view

    views = sorted((v for rid in ids if (v := view(store, rid, failures=0)) is not None),
                   key=lambda v: v.started_ms)
    return [{"id": v.id, "pipeline": v.pipeline, "policy": v.policy, "state": v.state,
             "done": v.done, "failed": v.failed, "total": v.total} for v in views]


def _remotes(store) -> dict[str, dict]:  # noqa: ANN001 - a Store
    """The remotes config.toml names, with when this copy last pulled and pushed."""
    if not store.config.raw.get("remotes"):
        return {}
    from mstore.sync.remotes import overview

    return {name: {k: r[k] for k in ("url", "pulled_ms", "pushed_ms", "kinds")}
            for name, r in overview(store).items()}


def _when(ms: int | None) -> str:
    from mstore.present import ms_time

    return ms_time(ms) if ms else "never"


@click.command()
@click.argument("target", shell_complete=complete.run_or_file)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable description.")
@click.option("--limit", type=click.IntRange(min=0), default=20, show_default=True,
              help="A run: at most N recent artifacts and N failures; an artifact: N inputs; "
                   "an asset: N paths (human output).")
@click.option("--depth", type=click.IntRange(min=0), default=1, show_default=True,
              help="An artifact: follow artifact inputs this many levels.")
@store_option
@click.pass_obj
def show(obj: Context, target: str, as_json: bool, limit: int, depth: int) -> None:
    """Describe a run, an asset or an artifact.

    TARGET: a run id or unique prefix (run ids start with "r"); an asset or artifact id or
    unique prefix (4+ hex digits); a file under an archive root, or a cataloged path.
    """
    from mstore.services import resolve

    store = obj.store()
    store.catch_up()  # records of a run that is executing right now
    t = resolve.target(store, target)
    if t.type == "run":
        _show_run(store, t.value, as_json, limit)
    elif t.type == "artifact":
        _show_artifact(store, t.value, as_json, depth, limit)
    elif t.type == "path":
        _show_path(store, t.value, as_json)
    else:
        _show_asset(store, t.value, as_json, limit)


def _show_path(store, hit, as_json: bool) -> None:  # noqa: ANN001
    from mstore.present import hlc_time, path_text, quote_path
    from mstore.services.assets import describe_path

    d = describe_path(store, hit)
    if as_json:
        d["path"] = path_text(d["path"])
        if d["link"]:
            d["link"]["path"] = path_text(d["link"]["path"])
        emit_shaped(d, "PathShow")
        return
    click.echo(f"path     {hit.root}/{quote_path(hit.path)}")
    if d["link"]:
        held = d["link"]["asset"] or "nothing cataloged"
        click.echo(f"link     -> {hit.root}/{quote_path(d['link']['path'])}  ({held})")
    if d["error"]:
        click.echo(f"error    {d['error']['reason']}: {d['error']['detail']}")
    for h in d["history"]:
        click.echo(f"  {hlc_time(h['hlc'])}  {h['event']:<5} {h['asset'] or h['detail'] or ''}")


def _show_asset(store, aid: str, as_json: bool, limit: int) -> None:  # noqa: ANN001
    from mstore.present import (
        hlc_time,
        human_size,
        ms_time,
        path_text,
        quote_path,
    )
    from mstore.services.assets import describe_asset
    from mstore.services.describe import asset_artifacts, asset_labels

    d = describe_asset(store, aid)
    d["artifacts"] = asset_artifacts(store, aid)
    d["labels"] = asset_labels(store, aid)
    d["faces"] = _faces(store, aid)
    if as_json:
        for p in d["paths"]:
            p["path"] = path_text(p["path"])
        for e in d["errors"]:
            if "path" in e:
                e["path"] = path_text(e["path"])
        for r in d["related"]:
            r["path"] = path_text(r["path"])
        for lk in d["links"]:
            lk["path"], lk["target"] = path_text(lk["path"]), path_text(lk["target"])
        emit_shaped(d, "AssetShow")
        return
    echo = click.echo
    echo(f"{'asset':<11}{d['id']}")
    echo(f"{'kind':<11}{d['kind']} ({d['mime']}), {human_size(d['size'])}"
         + ("  MISSING" if d["missing"] else ""))
    for label, val in meta_lines(d["meta"]):
        echo(f"{label:<11}{val}")
    echo("paths")
    for p in d["paths"][:limit]:
        state = "" if p["current"] else "  (gone)"
        echo(f"  {p['root']}/{quote_path(p['path'])}{state}")
        for h in p["history"]:
            other = f" -> {h['asset'][:12]}" if h["asset"] and h["asset"] != d["id"] else ""
            detail = f" {h['detail']}" if h["detail"] else ""
            echo(f"      {hlc_time(h['hlc'])} {h['event']}{other}{detail}")
    if len(d["paths"]) > limit:  # content with thousands of copies (an empty file)
        echo(f"  ... {len(d['paths']) - limit} more (--limit N, or --json)")
    for r in d["related"]:
        echo(f"{r['relation']:<11}{r['root']}/{quote_path(r['path'])}  {r['asset'][:12]}")
    for lk in d["links"]:
        echo(f"{'linked by':<11}{lk['root']}/{quote_path(lk['path'])}"
             f" -> {quote_path(lk['target'])}")
    for e in d["errors"]:
        where = f" at {e['root']}/{quote_path(e['path'])}" if "path" in e else ""
        echo(f"{'error':<11}{e['reason']}{where}: {e['detail']}")
    if d["artifacts"]:
        echo("artifacts")
        for kind, arts in d["artifacts"].items():
            for a in arts:
                tool = f"{a['tool']}@{a['version']}"
                expiry = (f", expires {ms_time(a['expires_ms'])}" if a["expires_ms"] else "")
                echo(f"  {kind:<16} {a['id'][:12]}  {tool:<14} {a['run']}  {a['policy']}{expiry}")
    if d["faces"]:
        echo("faces")
        for f in d["faces"]:
            who = f["name"] or f["person"] or "(nobody yet)"
            at = f" at {f['t']:g}s" if f["t"] is not None else ""
            echo(f"  #{f['n']:<3} {who:<24} score {f['score']}{at}  box "
                 + ",".join(f"{v:.3f}" for v in f["box"]))
    if d["labels"]:
        echo("labels")
        for lab in d["labels"]:
            about = f"  (about {lab['about'][:12]})" if lab["about"] else ""
            echo(f"  {lab['key']} = {lab['value']}{about}  {ms_time(lab['at_ms'])}")


def _faces(store, aid: str) -> list[dict]:  # noqa: ANN001
    from mstore.services import people

    with store.reader() as r:
        return people.asset_faces(r, people.load(r), aid)


def _show_run(store, run_id: str, as_json: bool, limit: int) -> None:  # noqa: ANN001
    from mstore.present import ms_time
    from mstore.services.describe import describe_run

    d = describe_run(store, run_id, limit=limit, failures=limit)
    if as_json:
        emit_shaped(d, "RunShow")
        return
    echo = click.echo
    echo(f"{'run':<11}{d['id']}  ({d['pipeline']}, {d['policy']})")
    echo(f"{'state':<11}{d['state']}" + (f": {d['state_detail']}" if d["state_detail"] else ""))
    sel = d["selection"] or "(everything)"
    extra = [f"sample {d['sample']}"] if d["sample"] else []
    extra += [f"rerun of {d['parent']}"] if d["parent"] else []
    extra += ["force"] if d["force"] else []
    echo(f"{'selection':<11}{sel}" + (f"  ({', '.join(extra)})" if extra else ""))
    total = d["total"]
    pct = f" ({100 * (d['done'] + d['failed']) / total:.1f}% finished)" if total else ""
    echo(f"{'units':<11}{total} total: {d['done']} done, {d['failed']} failed, "
         f"{d['pending']} pending{pct}")
    elapsed = (d["last_ms"] - d["started_ms"]) / 1000
    echo(f"{'speed':<11}{d['throughput']:.2f} units/s, ETA {duration(d['eta_s'])}, "
         f"elapsed {duration(elapsed)}")
    echo(f"{'started':<11}{ms_time(d['started_ms'])}" + (f" on {d['host']}" if d["host"] else ""))
    if d["ttl_days"]:
        echo(f"{'expiry':<11}artifacts expire {d['ttl_days']:g} days after they are made")
    if d["temporal_url"]:
        echo(f"{'temporal':<11}{d['temporal_url']}")
    echo(f"  {'step':<14}{'tool':<16}{'units':>7}{'done':>7}{'reused':>8}{'failed':>8}"
         f"{'n/a':>6}{'pending':>9}{'avg ms':>9}")
    for s in d["steps"]:  # n/a: the step does not apply to the unit (recorded "skipped")
        avg = f"{s['avg_ms']:.0f}" if s["avg_ms"] is not None else "-"
        echo(f"  {s['name']:<14}{s['tool'] + '@' + s['version']:<16}{s['units']:>7}"
             f"{s['done']:>7}{s['reused']:>8}{s['failed']:>8}{s['skipped']:>6}"
             f"{s['pending']:>9}{avg:>9}")
    if d["failures"]:
        echo(f"failures ({len(d['failures'])} shown)")
        for f in d["failures"]:
            what = f["asset"][:12] if f["asset"] else "(aggregate)"
            where = f"  {f['path']}" if f["path"] else ""
            echo(f"  {what}  {f['step']}: {f['error']}  [attempts {f['attempts']}]{where}")
    echo(f"artifacts  {d['artifacts']}" + (f" (newest {len(d['recent_artifacts'])})"
                                           if d["recent_artifacts"] else ""))
    for a in d["recent_artifacts"]:
        subject = a["asset"][:12] if a["asset"] else f"{a['members']} members"
        echo(f"  {a['id'][:12]}  {a['kind']:<16} {a['step']:<12} {subject:<12}  "
             f"{a['filename'] or '(data)'}  {ms_time(a['made_ms'])}")


def _input_lines(inputs: list[dict], indent: int) -> list[str]:
    out = []
    pad = " " * indent
    for i in inputs:
        if i["type"] == "asset":
            out.append(f"{pad}asset     {i['id'][:12]}  {i['kind']:<16} {i['path'] or ''}")
            continue
        if i.get("missing"):
            out.append(f"{pad}artifact  {i['id'][:12]}  ({i['missing']})")
            continue
        out.append(f"{pad}artifact  {i['id'][:12]}  {i['kind']:<16} {i['tool']}@{i['version']}"
                   f"  step {i['step']} of {i['run']} ({i['policy']})")
        out += _input_lines(i.get("inputs", []), indent + 4)
    return out


def _show_artifact(store, art_id: str, as_json: bool, depth: int,  # noqa: ANN001
                   limit: int) -> None:
    import msgspec

    from mstore.present import human_size, ms_time
    from mstore.services.describe import describe_artifact

    d = describe_artifact(store, art_id, depth=depth)
    if as_json:
        emit_shaped(d, "ArtifactShow")
        return
    echo = click.echo
    echo(f"{'artifact':<11}{d['id']}")
    echo(f"{'kind':<11}{d['kind']}")
    echo(f"{'made by':<11}{d['tool']}@{d['version']}, step {d['step']} of run {d['run']}"
         + (f" ({d['pipeline']}, {d['run_state']})" if d["pipeline"] else ""))
    if d["params"]:
        echo(f"{'params':<11}" + ", ".join(f"{k}={v!r}" for k, v in sorted(d["params"].items())))
    if d["asset"]:
        a = d["asset"]
        echo(f"{'asset':<11}{a['id'][:12]}  {a['kind'] or '?'}  {a['path'] or '(no current path)'}")
    if d["members"]:
        echo(f"{'members':<11}{len(d['members'])}: "
             + ", ".join(m[:12] for m in d["members"][:8]) + (", ..." if len(d["members"]) > 8
                                                              else ""))
    if d["inputs"]:
        echo(f"inputs     {len(d['inputs'])}")
        for line in _input_lines(d["inputs"][:limit], 2):
            echo(line)
        if len(d["inputs"]) > limit:
            echo(f"  ... {len(d['inputs']) - limit} more (--limit N, or --json)")
    if d["derived"]:
        echo(f"derived    {len(d['derived'])} (made from it)")
        for x in d["derived"][:limit]:
            echo(f"  {x['id'][:12]}  {x['kind']}  {x['tool']}@{x['version']}  "
                 f"step {x['step']} of {x['run']}")
        if len(d["derived"]) > limit:
            echo(f"  ... {len(d['derived']) - limit} more (--limit N, or --json)")
    expiry = ""
    if d["expires_ms"]:
        expiry = f", expires {ms_time(d['expires_ms'])}" + (" (expired)" if d["expired"] else "")
    echo(f"{'policy':<11}{d['policy']}{expiry}")
    echo(f"{'made':<11}{ms_time(d['made_ms'])}" + (f" on {d['host']}" if d["host"] else ""))
    if d["payload"]:
        p = d["payload"]
        size = human_size(p["size"]) if p["size"] is not None else "size unknown"
        echo(f"{'payload':<11}{p['object']} ({size}) {p['filename'] or ''}"
             + ("" if p["present"] else "  MISSING"))
    if d["meta"]:
        echo(f"{'meta':<11}" + ", ".join(f"{k}={v}" for k, v in d["meta"].items()))
    if d["data"] is not None:
        text = msgspec.json.format(msgspec.json.encode(d["data"]), indent=2).decode()
        lines = text.splitlines()
        echo(f"{'data':<11}" + (lines[0] if lines else ""))
        for line in lines[1:40]:
            echo(" " * 11 + line)
        if len(lines) > 40:
            echo(" " * 11 + f"... ({len(lines) - 40} more lines; mstore cat {d['id'][:12]})")
    elif d["data_bytes"]:
        echo(f"{'data':<11}{human_size(d['data_bytes'])} of JSON (mstore cat {d['id'][:12]})")


@click.command(cls=QueryCommand)
@click.argument("query", nargs=-1, shell_complete=complete.query)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--count", is_flag=True, help="Print only the number of matches.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most N results.")
@click.option("--sort", "sort", metavar="KEY", default=None, shell_complete=complete.sort_keys,
              help="Order: taken, -taken (newest first), size, -size, path (default: by "
                   "path, best first for a ranked term: text:, similar:, near:).")
@click.option("--paths", "as_paths", is_flag=True,
              help="Print the files of the matches as paths on this machine, one per line "
                   "(each path of an asset with copies).")
@click.option("-0", "--null", "null", is_flag=True,
              help="End each path with a NUL byte instead of a newline, for xargs -0 "
                   "(implies --paths).")
@store_option
@click.pass_obj
def find(obj: Context, query: tuple[str, ...], as_json: bool, count: bool,
         limit: int | None, sort: str | None, as_paths: bool, null: bool) -> None:
    """Find assets. QUERY words are ANDed; see 'mstore help-query' for the language.

    Exit status 1 when nothing matches.
    """
    from mstore.cli.progress import IndexingLine
    from mstore.query.evaluate import count as count_rows
    from mstore.query.evaluate import evaluate
    from mstore.query.order import check_sort, sort_rows
    from mstore.query.snapshot import load_table
    from mstore.query.table import KIND_NAMES
    from mstore.query.terms import TermContext

    if sort is not None:
        check_sort(sort, "--sort: unknown key")
    as_paths = as_paths or null
    if as_paths and (as_json or count):
        raise UsageError(f"--paths and --{'json' if as_json else 'count'}: choose one")
    store = obj.store()
    q = " ".join(query)
    table = load_table(store)
    line = IndexingLine()
    context = TermContext(store, progress=line)
    try:
        if count:
            found = count_rows(q, table, context)
        elif sort is not None:  # every match, then the first ``limit`` in that order
            rows = sort_rows(evaluate(q, table, context), table, sort, limit)
            found = len(rows)
        else:
            # a table held in memory answers every match whatever the limit
            rows = evaluate(q, table, context, limit)[:limit]
            found = len(rows)
    finally:
        line.close()
    if count:
        click.echo(str(found))
    elif as_paths:
        _echo_paths(store, table, rows, b"\0" if null else b"\n")
    else:
        from mstore.present import human_size, path_text, quote_path, taken_text
        from mstore.services.shapes import FindRow

        out = []
        for i in rows:
            paths = table.row_paths(i)
            kind = KIND_NAMES[table.kinds[i]]
            taken = taken_text(table.taken[i])
            if as_json:
                import msgspec

                out.append(msgspec.json.encode(FindRow(
                    id=table.row_id(i), kind=kind, size=table.sizes[i],
                    taken=taken, paths=[path_text(p) for p in paths],
                    camera=table.cameras[table.camera[i]] or None,
                    error=table.errors[i] or None,
                    match=(context.details(bytes.fromhex(rid)) or None
                           if (rid := table.row_id(i)) else None),
                )).decode())
            else:
                rid = table.row_id(i)
                label = rid[:12] if rid else "-" * 12
                extra = f"  [{table.errors[i]}]" if table.errors[i] else ""
                out.append(f"{label}  {kind:<8} {(taken or '-')[:10]:<10} "
                           f"{human_size(table.sizes[i]):>9}  {quote_path(paths[0])}{extra}")
        if out:
            click.echo("\n".join(out))
    if not found:
        from mstore.query.collections import at_names

        for name in at_names(store, q):
            click.echo(f"hint: @{name} is looked for in paths; the collection's members are "
                       f"collection:{name}", err=True)
        raise click.exceptions.Exit(EXIT_NOTHING)


def _echo_paths(store, table, rows, end: bytes) -> None:  # noqa: ANN001
    """``find --paths``: each path of each row (``root/relative``) made absolute through
    this machine's root locations, as bytes (a name need not be UTF-8, and may hold a
    newline: ``-0``). Left out, each said in one line on stderr: a missing asset (its
    files are gone: the catalog keeps only where they were) and paths under a root with
    no location here."""
    import os

    from mstore.query.table import F_MISSING

    # the longest root name first: a root's name may itself contain "/"
    bases = sorted(((os.fsencode(name) + b"/", os.fsencode(base) + b"/")
                    for name, base in store.config.roots.items()),
                   key=lambda nb: -len(nb[0]))
    out = click.get_binary_stream("stdout")
    unplaced: dict[bytes, int] = {}
    missing = 0
    for i in rows:
        if table.flags[i] & F_MISSING:
            missing += 1
            continue
        for path in table.row_paths(i):
            for name, base in bases:
                if path.startswith(name):
                    out.write(base + path[len(name):] + end)
                    break
            else:
                root = path.partition(b"/")[0]
                unplaced[root] = unplaced.get(root, 0) + 1
    out.flush()
    if missing:
        click.echo(f"mstore: {missing} missing asset{'s' * (missing != 1)} left out: "
                   f"{'its' if missing == 1 else 'their'} files are gone "
                   "(mstore find missing:)", err=True)
    for root, n in unplaced.items():
        click.echo(f"mstore: {n} path{'s' * (n != 1)} under archive root "
                   f"'{os.fsdecode(root)}' left out: it has no location on this machine "
                   "(config.toml)", err=True)


@click.command("help-query")
def help_query() -> None:
    """Explain the query language of 'find'."""
    from mstore.query.help import query_help

    click.echo(query_help())


COMMANDS = [status, show, find, help_query]
