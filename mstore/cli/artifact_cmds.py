"""Artifacts and selections: ``cat``, ``export``, ``gc``, ``collection``, ``label``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from mstore.cli import complete
from mstore.cli.args import FiniteFloat, utf8_text
from mstore.cli.main import Context, QueryCommand, store_option
from mstore.errors import EXIT_NOTHING, UsageError

MAX_GRACE_HOURS = 1_000_000  # over a century; beyond it the expiry arithmetic overflows


@click.command()
@click.argument("artifact")
@store_option
@click.pass_obj
def cat(obj: Context, artifact: str) -> None:
    """Write an artifact's payload to stdout (its JSON data when it has no payload file).

    ARTIFACT: an artifact id or unique prefix (4+ hex digits).
    """
    from mstore.services import resolve
    from mstore.services.describe import payload_bytes

    store = obj.store()
    store.catch_up()
    aid = resolve.artifact(store, artifact)
    with store.reader() as r:
        art = r.artifact(aid)
    assert art is not None  # resolve_artifact found it in the same index
    if not art.payload and art.data is None:
        click.echo(f"mstore: artifact {aid[:16]} has neither a payload nor data", err=True)
        raise click.exceptions.Exit(EXIT_NOTHING)
    out = sys.stdout.buffer  # bytes as they are: no newline, no decoding
    out.write(payload_bytes(store, art))
    out.flush()


def _dest(value: str) -> Path:
    if not value:  # Path("") is the current directory
        raise click.BadParameter("the destination must not be empty")
    return Path(value)


@click.command(cls=QueryCommand)
@click.argument("query_words", nargs=-1, metavar="[QUERY]...", shell_complete=complete.query)
@click.option("--kind", required=True, help="The artifact kind to export (e.g. thumbnail).")
@click.option("--to", "-o", "out", required=True, metavar="DIR",
              type=click.Path(file_okay=False), callback=lambda _c, _p, v: _dest(v),
              help="The folder to write into (created if needed).")
@click.option("--run", "run_id", default=None, help="Only artifacts of this run (id or prefix).")
@click.option("--force", is_flag=True, help="Overwrite files that exist in DIR.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@store_option
@click.pass_obj
def export(obj: Context, query_words: tuple[str, ...], kind: str, out: Path,
           run_id: str | None, force: bool, as_json: bool) -> None:
    """Copy the KIND artifacts of the assets matching QUERY into DIR, with manifest.json.

    Usage: mstore export [QUERY...] --kind KIND --to DIR. QUERY as for 'find' (default:
    every asset). DIR is always given with --to: never taken from the query.
    """
    from mstore.services import resolve
    from mstore.services.export import plan_export, write_export

    if not kind:  # the index reads an empty kind as "every kind"
        raise UsageError("--kind must name an artifact kind (e.g. thumbnail)")
    query = " ".join(query_words)
    store = obj.store()
    run = resolve.run(store, run_id) if run_id is not None else None
    plan = plan_export(store, query, kind, run)
    if not plan.items:
        click.echo(f"mstore: nothing to export: {plan.assets} assets matched, none has a "
                   f"'{kind}' artifact" + (f" from run {run}" if run else ""), err=True)
        raise click.exceptions.Exit(EXIT_NOTHING)
    try:
        rep = write_export(store, plan, out, kind=kind, query=query, run=run, force=force)
    except OSError as e:  # the destination, not the store: e.g. not writable
        raise UsageError(f"cannot export to {out}: {e.strerror or e} "
                         f"({e.filename or out})") from None
    if as_json:
        from mstore.present import emit_json

        emit_json(rep)
    else:
        from mstore.present import human_size

        click.echo(f"exported {rep['files']} files ({human_size(rep['bytes'])}) of "
                   f"{rep['assets'] - rep['without']} assets to {rep['dir']}"
                   + (f"; {rep['without']} matched assets have no '{kind}'"
                      if rep["without"] else ""))


@click.command()
@click.option("--dry-run", is_flag=True, help="Only report what would be dropped and freed.")
@click.option("--grace", "grace_hours", type=FiniteFloat(min=0, max=MAX_GRACE_HOURS),
              default=24.0, show_default=True, metavar="HOURS",
              help="Keep artifacts that expired less than HOURS ago.")
@click.option("--force", is_flag=True, help="Collect even while a run is executing.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@store_option
@click.pass_obj
def gc(obj: Context, dry_run: bool, grace_hours: float, force: bool, as_json: bool) -> None:
    """Drop expired, unreferenced sandbox artifacts and delete their payloads."""
    from mstore.services.gc import collect

    store = obj.store()
    rep = collect(store, grace_hours=grace_hours, dry_run=dry_run, force=force)
    if as_json:
        from mstore.present import emit_json

        emit_json(rep.as_dict())
        return
    from mstore.present import human_size

    verb = ("would drop", "would delete", "would free") if dry_run else (
        "dropped", "deleted", "freed")
    click.echo(f"{rep.expired} sandbox artifacts expired over {rep.grace_hours:g}h ago; "
               f"{rep.kept} still referenced, kept")
    click.echo(f"{verb[0]} {rep.dropped} artifacts; {verb[1]} {rep.objects} objects "
               f"({rep.packs_rewritten} packs rewritten); {verb[2]} {human_size(rep.bytes)}")
    if rep.leftover_objects:
        click.echo(f"includes {rep.leftover_objects} objects left by an interrupted gc")
    if rep.active_runs:
        click.echo(f"note: run(s) executing: {', '.join(rep.active_runs[:3])}"
                   + (" (gc refuses without --force)" if dry_run else ""), err=True)
    for remote, n in sorted(rep.waiting.items()):
        click.echo(f"note: {n} expired artifacts wait for remote '{remote}': it was not pulled "
                   f"since they expired ('mstore pull {remote}', then gc again)", err=True)
    if rep.workers and rep.packs_rewritten and not dry_run:
        # a live worker may still look for kept objects in the packs gc replaced
        click.echo(f"note: restart the run worker(s) (pid {', '.join(map(str, rep.workers))})"
                   " before the next run: 'mstore server stop'", err=True)


# -- collections ------------------------------------------------------------------------
@click.group()
def collection() -> None:
    """Named selections of assets: dynamic (a query) or frozen (exact members)."""


@collection.command("create")
@click.argument("name")
@click.option("--query", "query", default=None, help="A query as for 'find'.")
@click.option("--assets", "assets_file", type=click.File("rb"), default=None,
              help="A file of asset ids, one per line ('-': stdin); always frozen.")
@click.option("--freeze", is_flag=True, help="Keep the query's members now, exactly.")
@click.option("--json", "as_json", is_flag=True)
@store_option
@click.pass_obj
def collection_create(obj: Context, name: str, query: str | None, assets_file,  # noqa: ANN001
                      freeze: bool, as_json: bool) -> None:
    """Define collection NAME from --query Q (dynamic unless --freeze) or --assets FILE."""
    from mstore.services import collections as ce

    store = obj.store()
    assets = None
    if assets_file is not None:
        assets = ce.parse_asset_list(store, _utf8_file(assets_file.read(), assets_file.name))
    c = ce.create(store, name, query=query, assets=assets, freeze=freeze)
    d = ce.summary(c, c.count)
    if as_json:
        from mstore.present import emit_json

        emit_json(d)
    else:
        click.echo(f"collection {c.name}: {d['type']}, {c.count} assets")


def _utf8_file(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise UsageError(f"--assets {name}: line {line} is not UTF-8 text") from None


@collection.command("freeze")
@click.argument("name", shell_complete=complete.collections)
@click.option("--json", "as_json", is_flag=True)
@store_option
@click.pass_obj
def collection_freeze(obj: Context, name: str, as_json: bool) -> None:
    """Keep dynamic collection NAME's members now, exactly (later adds no longer join)."""
    from mstore.services import collections as ce

    c = ce.freeze(obj.store(), name)
    d = ce.summary(c, c.count)
    if as_json:
        from mstore.present import emit_json

        emit_json(d)
    else:
        click.echo(f"collection {c.name}: frozen, {c.count} assets")


@collection.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@store_option
@click.pass_obj
def collection_list(obj: Context, as_json: bool) -> None:
    """Every collection with its member count now."""
    from mstore.services import collections as ce

    store = obj.store()
    for c, n, error in ce.all_collections(store):
        if as_json:
            from mstore.present import emit_json

            emit_json(ce.summary(c, n, error))
        else:
            click.echo(f"{c.name:<24} {'frozen' if c.members_object else 'dynamic':<8} "
                       f"{'-' if n is None else n:>8}" + (f"  {c.query}" if c.query else "")
                       + (f"  ({error})" if error else ""))


@collection.command("show")
@click.argument("name", shell_complete=complete.collections)
@click.option("--json", "as_json", is_flag=True)
@click.option("--limit", type=click.IntRange(min=0), default=None, help="At most N members.")
@store_option
@click.pass_obj
def collection_show(obj: Context, name: str, as_json: bool, limit: int | None) -> None:
    """The members of collection NAME (a dynamic one evaluated now)."""
    from mstore.services import collections as ce
    from mstore.services.describe import current_paths

    store = obj.store()
    c = ce.get(store, name)
    ids = ce.members(store, c)
    shown = ids if limit is None else ids[:limit]
    rows = []
    with store.reader() as r:
        for aid in shown:
            a = r.asset(aid)
            paths = current_paths(r, aid)
            rows.append({"id": aid, "kind": a.meta.kind if a else None, "paths": paths})
    if as_json:
        from mstore.present import emit_json

        emit_json({**ce.summary(c, len(ids)), "members": rows})
        return
    click.echo(f"collection {c.name}: {'frozen' if c.members_object else 'dynamic'}, "
               f"{len(ids)} assets" + (f", query {c.query}" if c.query else ""))
    for r in rows:
        click.echo(f"  {r['id'][:12]}  {r['kind'] or '?':<6} "
                   f"{r['paths'][0] if r['paths'] else '(missing)'}")
    if len(shown) < len(ids):
        click.echo(f"  ... {len(ids) - len(shown)} more")


@collection.command("delete")
@click.argument("name", shell_complete=complete.collections)
@store_option
@click.pass_obj
def collection_delete(obj: Context, name: str) -> None:
    """Delete collection NAME (runs that used it keep their unit lists)."""
    from mstore.services import collections as ce

    store = obj.store()
    ce.delete(store, name)
    click.echo(f"deleted collection {ce.check_name(name)}")


# -- labels -----------------------------------------------------------------------------
@click.command()
@click.argument("assets", nargs=-1, required=True)
@click.option("--set", "pairs", multiple=True, metavar="KEY=VALUE",
              help="Mark: the label KEY gets VALUE (empty VALUE clears it). Repeatable.")
@click.option("--about", default="", metavar="ARTIFACT",
              help="The artifact the judgement is about (id or unique prefix).")
@click.option("--json", "as_json", is_flag=True)
@store_option
@click.pass_obj
def label(obj: Context, assets: tuple[str, ...], pairs: tuple[str, ...], about: str,
          as_json: bool) -> None:
    """Mark ASSETS (ids, prefixes or paths) with --set KEY=VALUE, or list their labels.

    The same records the UI's duplicate review writes; `find label:KEY=VALUE` selects by
    them. The archive is never touched.
    """
    from mstore.services import resolve
    from mstore.services.describe import asset_labels
    from mstore.services.labels import LabelChange, set_labels

    store = obj.store()
    store.catch_up()
    ids = [resolve.asset(store, text) for text in assets]  # a path: the asset it holds
    about_id = resolve.artifact(store, about) if about else ""
    marks = []
    for pair in pairs:
        key, eq, value = utf8_text(pair, "--set").partition("=")
        if not eq or not key.strip() or "\0" in pair:
            raise UsageError(f"--set takes KEY=VALUE, not '{pair}'")
        marks.append((key.strip(), value))
    set_labels(store, [LabelChange(a, k, v, about_id) for a in ids for k, v in marks])
    for aid in ids:
        labs = [lab for lab in asset_labels(store, aid) if lab["value"]]
        if as_json:
            from mstore.present import emit_json

            emit_json({"id": aid, "labels": labs})
        else:
            for lab in labs:
                click.echo(f"{aid[:12]}  {lab['key']} = {lab['value']}"
                           + (f"  (about {lab['about'][:12]})" if lab["about"] else ""))


COMMANDS = [cat, export, gc, collection, label]
