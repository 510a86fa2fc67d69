"""Store maintenance: ``init``, ``fsck``, ``reindex``, ``unlock``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from mstore.cli.main import Context, store_option
from mstore.errors import EXIT_DAMAGED, UsageError

if TYPE_CHECKING:
    from mstore.store.foreign import Foreign


@click.command()
@click.option("--store", "store_dir", type=click.Path(path_type=Path), default=None,
              help="Where to create the store (default: ./.mstore).")
@click.argument("archive_roots", nargs=-1, type=click.Path(exists=True, file_okay=False,
                                                           path_type=Path))
@click.pass_obj
def init(obj: Context, store_dir: Path | None, archive_roots: tuple[Path, ...]) -> None:
    """Create a store. ARCHIVE_ROOTS default to the current directory."""
    from mstore.hooks import install_samples
    from mstore.store.layout import STORE_DIRNAME
    from mstore.store.store import Store

    target = store_dir or obj.store_dir or Path.cwd() / STORE_DIRNAME
    roots = list(archive_roots) or [Path.cwd()]
    try:
        if target.exists() and not target.is_dir():
            raise UsageError(f"cannot create a store in {target}: it is a file, not a directory")
        store = Store.init(target, roots)
        samples = install_samples(store.layout.hooks)
    except OSError as e:  # e.g. a parent that is a file, or not writable
        raise UsageError(f"cannot create a store in {target}: "
                         f"{e.strerror or e} ({e.filename or target})") from None
    _ = store.index  # create local/index now, so a bad (network) filesystem fails early
    store.close()
    click.echo(f"Initialized empty mstore store in {store.root}")
    for name, path in store.config.roots.items():
        click.echo(f"  root {name} = {path}")
    if samples:
        click.echo(f"  sample hooks: {', '.join(s + '.sample' for s in samples)}")


TEXT_PROBLEMS_MAX = 100  # --json lists every problem


def describe_foreign(f: Foreign) -> str:
    """One line for a file that is not mstore's: where, who probably left it, what of it."""
    from mstore.store.foreign import shown

    what = f"{f.tool} {f.what}" if f.tool != "unknown" else f.what
    if f.copy_of:
        what += f" of {f.copy_of}"
    if f.note:
        what += f" ({f.note})"
    return f"{shown(f.path)}: {what}; ignored, not applied"


@click.command()
@click.option("--full", is_flag=True, help="Also rehash every object.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
@store_option
@click.pass_obj
def fsck(obj: Context, full: bool, as_json: bool) -> None:
    """Check the store; quarantine damaged segments/objects. Exit 5 on damage."""
    from dataclasses import asdict

    from mstore.store.foreign import shown
    from mstore.store.fsck import fsck as run_fsck

    store = obj.store()
    # gc deletes objects: while it cannot run, an object a record names is missing only
    # if it is really gone
    with store.lock(), store.lock("gc"):
        report = run_fsck(store, full=full)
    if as_json:
        from mstore.present import emit_json

        emit_json({"clean": report.clean, "segments": report.segments,
                   "objects": report.objects, "loose": report.loose, "packed": report.packed,
                   "packs": report.packs, "temp_removed": report.temp_removed,
                   "problems": report.problems, "quarantined": report.quarantined,
                   "salvaged": report.salvaged,
                   "missing": [asdict(m) for m in report.missing],
                   "foreign": [{**asdict(f), "path": shown(f.path)} for f in report.foreign]})
    else:
        click.echo(f"checked {report.segments} segments, {report.objects} objects "
                   f"({report.loose} loose, {report.packed} in {report.packs} packs)"
                   f"{', full rehash' if full else ''}")
        if report.temp_removed:
            click.echo(f"removed {report.temp_removed} temp files left by interrupted writers")
        for p in report.problems[:TEXT_PROBLEMS_MAX]:
            click.echo(f"damage: {p}")
        if len(report.problems) > TEXT_PROBLEMS_MAX:
            click.echo(f"damage: ... and {len(report.problems) - TEXT_PROBLEMS_MAX} more "
                       "('mstore fsck --json' lists them all)")
        for q in report.quarantined:
            click.echo(f"quarantined: {q} -> local/quarantine/")
        for s in report.salvaged:
            click.echo(f"salvaged: {s}")
        for f in report.foreign[:TEXT_PROBLEMS_MAX]:
            click.echo(f"foreign: {describe_foreign(f)}")
        if len(report.foreign) > TEXT_PROBLEMS_MAX:
            click.echo(f"foreign: ... and {len(report.foreign) - TEXT_PROBLEMS_MAX} more "
                       "('mstore fsck --json' lists them all)")
        ignored = (f" ({len(report.foreign)} foreign files ignored, left to the tools that "
                   "made them)") if report.foreign else ""
        click.echo(("clean" if report.clean else f"{len(report.problems)} problems") + ignored)
    if not report.clean:
        raise click.exceptions.Exit(EXIT_DAMAGED)


@click.command()
@store_option
@click.pass_obj
def reindex(obj: Context) -> None:
    """Rebuild the local index from objects and records."""
    from mstore.query.snapshot import refresh
    from mstore.store.fsck import reindex as run_reindex

    store = obj.store()
    with store.lock():
        n = run_reindex(store)
        refresh(store)
    click.echo(f"reindexed {n} segments")


@click.command()
@click.option("--force", is_flag=True, help="Remove the lock even if its holder looks alive.")
@store_option
@click.pass_obj
def unlock(obj: Context, force: bool) -> None:
    """Remove a write lock left by a process that is gone."""
    from mstore.store.locks import holder_alive

    store = obj.store()
    lock = store.lock()
    info = lock.read_holder()
    if not info:
        click.echo("not locked")
        return
    if holder_alive(info) and not force:
        raise click.ClickException(
            f"held by pid {info.get('pid')} on {info.get('host')}, which looks alive; "
            "use --force if you are sure")
    lock.path.unlink(missing_ok=True)
    click.echo(f"removed lock of pid {info.get('pid')} on {info.get('host')}")


COMMANDS = [init, fsck, reindex, unlock]
