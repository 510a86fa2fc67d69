"""Reading the catalog: ``status``, ``show``, ``find``."""

from __future__ import annotations

import click

from mstore.cli.main import Context, store_option
from mstore.errors import EXIT_NOTHING


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable summary.")
@store_option
@click.pass_obj
def status(obj: Context, as_json: bool) -> None:
    """Summary of the store: assets by kind, size, missing, errors, last add."""
    from mstore.cli.output import emit_json, human_size, ms_time
    from mstore.query.snapshot import load_stats

    store = obj.store()
    idx = store.index
    stats = load_stats(idx)
    with idx.read() as txn:
        last = idx.last_add(txn)
    if as_json:
        emit_json({
            "store": str(store.root), "machine": store.machine_id,
            "roots": {k: str(v) for k, v in store.config.roots.items()},
            "assets": stats.assets, "bytes": stats.bytes, "paths": stats.paths,
            "by_kind": stats.by_kind, "bytes_by_kind": stats.bytes_by_kind,
            "missing": stats.missing, "errors": stats.errors,
            "last_add": None if last is None else {
                "started_ms": last.started_ms, "finished_ms": last.finished_ms,
                "new": last.new, "changed": last.changed, "moved": last.moved,
                "missing": last.missing, "unchanged": last.unchanged, "errors": last.errors,
                "interrupted": last.interrupted},
        })
        return
    echo = click.echo
    echo(f"store    {store.root}  (machine {store.machine_id})")
    for name, path in store.config.roots.items():
        echo(f"root     {name} = {path}")
    echo(f"assets   {stats.assets:,}  ({human_size(stats.bytes)}, {stats.paths:,} paths)")
    for kind in sorted(stats.by_kind, key=lambda k: -stats.by_kind[k]):
        echo(f"  {kind:<7}{stats.by_kind[kind]:>10,}  {human_size(stats.bytes_by_kind[kind]):>10}")
    echo(f"missing  {stats.missing:,}" + ("   (mstore find missing:)" if stats.missing else ""))
    echo(f"errors   {stats.errors:,}" + ("   (mstore find error:)" if stats.errors else ""))
    if last is None:
        echo("last add never (run 'mstore add')")
    else:
        secs = (last.finished_ms - last.started_ms) / 1000
        echo(f"last add {ms_time(last.finished_ms)} ({secs:.1f}s): {last.new} new, "
             f"{last.changed} changed, {last.moved} moved, {last.missing} missing, "
             f"{last.errors} errors" + (" (interrupted)" if last.interrupted else ""))


def _meta_lines(meta: dict) -> list[tuple[str, str]]:
    out = []
    if meta.get("width"):
        out.append(("dimensions", f"{meta['width']}x{meta['height']}"
                    + (f" (orientation {meta['orientation']})" if meta.get("orientation") else "")))
    labels = [("taken", "taken"), ("camera_make", "make"), ("camera_model", "model"),
              ("frames", "frames"), ("duration", "duration"), ("video_codec", "video"),
              ("audio_codec", "audio"), ("fps", "fps"), ("rotation", "rotation"),
              ("sample_rate", "sample rate"), ("channels", "channels"),
              ("encoding", "encoding"), ("lines", "lines")]
    for key, label in labels:
        if meta.get(key) is not None:
            val = meta[key]
            out.append((label, f"{val:.3f}".rstrip("0").rstrip(".") if isinstance(val, float)
                        else str(val)))
    if meta.get("gps_lat") is not None:
        gps = f"{meta['gps_lat']:.6f}, {meta['gps_lon']:.6f}"
        if meta.get("gps_alt") is not None:
            gps += f" ({meta['gps_alt']:.1f} m)"
        out.append(("gps", gps))
    return out


@click.command()
@click.argument("target")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable description.")
@store_option
@click.pass_obj
def show(obj: Context, target: str, as_json: bool) -> None:
    """Describe an asset (id, id prefix or path): metadata, paths and history, errors."""
    from mstore.catalog.inspect import PathTarget, describe_asset, describe_path, resolve
    from mstore.cli.output import emit_json, hlc_time, human_size, path_text, quote_path

    store = obj.store()
    hit = resolve(store, target)
    if isinstance(hit, PathTarget):
        d = describe_path(store, hit)
        if as_json:
            d["path"] = path_text(d["path"])
            emit_json(d)
            return
        click.echo(f"path     {hit.root}/{quote_path(hit.path)}")
        if d["error"]:
            click.echo(f"error    {d['error']['reason']}: {d['error']['detail']}")
        for h in d["history"]:
            click.echo(f"  {hlc_time(h['hlc'])}  {h['event']:<5} {h['asset'] or h['detail'] or ''}")
        return
    d = describe_asset(store, hit)
    if as_json:
        for p in d["paths"]:
            p["path"] = path_text(p["path"])
        for e in d["errors"]:
            if "path" in e:
                e["path"] = path_text(e["path"])
        for r in d["related"]:
            r["path"] = path_text(r["path"])
        emit_json(d)
        return
    echo = click.echo
    echo(f"{'asset':<11}{d['id']}")
    echo(f"{'kind':<11}{d['kind']} ({d['mime']}), {human_size(d['size'])}"
         + ("  MISSING" if d["missing"] else ""))
    for label, val in _meta_lines(d["meta"]):
        echo(f"{label:<11}{val}")
    echo("paths")
    for p in d["paths"]:
        state = "" if p["current"] else "  (gone)"
        echo(f"  {p['root']}/{quote_path(p['path'])}{state}")
        for h in p["history"]:
            other = f" -> {h['asset'][:12]}" if h["asset"] and h["asset"] != d["id"] else ""
            detail = f" {h['detail']}" if h["detail"] else ""
            echo(f"      {hlc_time(h['hlc'])} {h['event']}{other}{detail}")
    for r in d["related"]:
        echo(f"{r['relation']:<11}{r['root']}/{quote_path(r['path'])}  {r['asset'][:12]}")
    for e in d["errors"]:
        where = f" at {e['root']}/{quote_path(e['path'])}" if "path" in e else ""
        echo(f"{'error':<11}{e['reason']}{where}: {e['detail']}")


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("query", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.option("--count", is_flag=True, help="Print only the number of matches.")
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most N results.")
@store_option
@click.pass_obj
def find(obj: Context, query: tuple[str, ...], as_json: bool, count: bool,
         limit: int | None) -> None:
    """Find assets. QUERY words are ANDed; see 'mstore help-query' for the language.

    Exit status 1 when nothing matches.
    """
    from mstore.query.evaluate import evaluate
    from mstore.query.snapshot import load_table
    from mstore.query.table import KIND_NAMES

    store = obj.store()
    q = " ".join(query)
    table = load_table(store.index)
    rows = evaluate(q, table)
    if count:
        click.echo(str(len(rows)))
    else:
        from bisect import bisect_left

        from mstore.cli.output import human_size, path_text, quote_path

        shown = rows if limit is None else rows[:limit]
        out = []
        for i in shown:
            # a row's paths are contiguous and path_rows is sorted
            j = bisect_left(table.path_rows, i)
            paths = []
            while j < len(table.paths) and table.path_rows[j] == i:
                paths.append(table.paths[j])
                j += 1
            kind = KIND_NAMES[table.kinds[i]]
            tk = table.taken[i]
            taken = (f"{tk // 10**10:04d}-{tk // 10**8 % 100:02d}-{tk // 10**6 % 100:02d}T"
                     f"{tk // 10**4 % 100:02d}:{tk // 100 % 100:02d}:{tk % 100:02d}"
                     ) if tk else None
            if as_json:
                import msgspec

                out.append(msgspec.json.encode({
                    "id": table.row_id(i), "kind": kind, "size": table.sizes[i],
                    "taken": taken, "paths": [path_text(p) for p in paths],
                    "camera": table.cameras[table.camera[i]] or None,
                    "error": table.errors[i] or None,
                }).decode())
            else:
                rid = table.row_id(i)
                label = rid[:12] if rid else "-" * 12
                extra = f"  [{table.errors[i]}]" if table.errors[i] else ""
                out.append(f"{label}  {kind:<6} {(taken or '-')[:10]:<10} "
                           f"{human_size(table.sizes[i]):>9}  {quote_path(paths[0])}{extra}")
        if out:
            click.echo("\n".join(out))
    if not rows:
        raise click.exceptions.Exit(EXIT_NOTHING)


@click.command("help-query")
def help_query() -> None:
    """Explain the query language of 'find'."""
    from mstore.query.help import QUERY_HELP

    click.echo(QUERY_HELP)


COMMANDS = [status, show, find, help_query]
