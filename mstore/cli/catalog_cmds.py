"""Cataloging: ``add`` (and ``watch``, in watch_cmd)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click

from mstore.cli.args import FiniteFloat
from mstore.cli.main import Context, store_option
from mstore.cli.progress import ProgressLine


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("-j", "--jobs", type=click.IntRange(1, 64), default=None,
              help="Worker processes for hashing/probing (default: 2 or the core count).")
@click.option("--verify", is_flag=True,
              help="Read and hash every file, even those whose size, times and inode say "
                   "unchanged; list content that changed without a visible change.")
@click.option("--allow-empty", is_flag=True,
              help="A root whose folder is empty lost its files: record them gone (by "
                   "default an empty root is taken for a drive that is not mounted).")
@store_option
@click.pass_obj
def add(obj: Context, paths: tuple[Path, ...], as_json: bool, jobs: int | None,
        verify: bool, allow_empty: bool) -> None:
    """Catalog PATHS (default: every archive root): new, changed, moved and missing files."""
    from mstore.catalog.add import Adder, gc_paused, resolve_targets
    from mstore.hooks import run_pre_hook
    from mstore.query.snapshot import refresh

    store = obj.store()
    targets = resolve_targets(store, paths)
    run_pre_hook(store.layout.hooks, "pre-add", store.root,
                 [str(t.root_path / t.sub.decode("utf-8", "surrogateescape")) for t in targets])
    progress = ProgressLine()
    with store.lock():
        adder = Adder(store, store.writer(), workers=jobs, progress=progress, verify=verify,
                      allow_empty=allow_empty)
        try:
            summary = adder.run(targets)
        finally:
            progress.close()
        with gc_paused():
            refresh(store, fresh=adder.fresh)
    _post_add(store, summary.new_assets)
    if as_json:
        from mstore.present import emit_json

        emit_json(summary.as_dict())
    else:
        click.echo(f"{summary.line()} in {summary.seconds:.1f}s")
        if summary.changed_unseen:
            from mstore.present import quote_path

            click.echo(f"{len(summary.changed_unseen)} changed although size, times and inode "
                       "had not:")
            for root, rel in summary.changed_unseen:
                click.echo(f"  {root}/{quote_path(rel)}")
        elif verify:
            click.echo("verified: no content changed behind an unchanged stat")
        if summary.reprobed:
            click.echo(f"{summary.reprobed} assets probed again by newer probes: their "
                       "metadata is updated")
    _say_unavailable(store, summary)
    if summary.interrupted:
        raise click.exceptions.Exit(130)


def _say_unavailable(store, summary) -> None:  # noqa: ANN001
    """One line per root that was not there to catalog: its files were left as they were."""
    for root, why, files in summary.unavailable:
        where = store.config.roots.get(root, "")
        state = ("is empty" if why == "empty" else f"cannot be listed ({why})")
        hint = (" ('mstore add --allow-empty' records them gone if they were deleted)"
                if why == "empty" else "")
        click.echo(f"mstore: archive root '{root}' ({where}) {state}, not mounted?: its "
                   f"{files} cataloged files are left as they were{hint}", err=True)


def _post_add(store, new_assets: list[str]) -> None:  # noqa: ANN001
    """Run the post-add hook with the new/changed asset ids; report, never fail, on error."""
    from mstore.hooks import run_hook

    if not new_assets:
        return
    res = run_hook(store.layout.hooks, "post-add", store.root,
                   stdin="".join(a + "\n" for a in new_assets))
    if res.ran:
        sys.stderr.write(res.output)
        if res.returncode != 0:
            click.echo(f"mstore: post-add hook failed (exit {res.returncode}); "
                       "the catalog is saved", err=True)


@click.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--rescan", type=FiniteFloat(min=1), default=300.0, show_default=True,
              help="Seconds between full reconciling scans.")
@click.option("--polling", is_flag=True, help="Poll instead of using inotify.")
@click.option("--duration", type=FiniteFloat(min=0), default=None, hidden=True,
              help="Stop after this many seconds (for tests and benchmarks).")
@store_option
@click.pass_obj
def watch(obj: Context, paths: tuple[Path, ...], rescan: float, polling: bool,
          duration: float | None) -> None:
    """Catalog new and changed files under PATHS as they appear (Ctrl-C stops)."""
    import signal

    from mstore.catalog.add import Adder, gc_paused, resolve_targets
    from mstore.catalog.watch import Watcher

    store = obj.store()
    targets = resolve_targets(store, paths)
    with store.lock():
        adder = Adder(store, store.writer())

        def report(s) -> None:  # noqa: ANN001
            from mstore.query.snapshot import refresh

            # save the snapshot patch once, not in every later find
            with gc_paused():
                refresh(store, fresh=adder.fresh)
            if s.new or s.changed or s.moved or s.missing or s.errors:
                click.echo(f"{time.strftime('%H:%M:%S')} {s.line()}")
                sys.stdout.flush()
            _say_unavailable(store, s)
            _post_add(store, s.new_assets)

        w = Watcher(store, adder, targets, rescan=rescan, polling=polling, on_batch=report)
        signal.signal(signal.SIGTERM, lambda *_: w.stop())
        where = ", ".join(str(t.root_path / t.sub.decode("utf-8", "replace")) for t in targets)
        click.echo(f"watching {where} (Ctrl-C to stop)")
        sys.stdout.flush()
        try:
            w.run(duration=duration)
        except KeyboardInterrupt:
            w.stop()
        click.echo(f"stopped ({w.state.backend}, {w.state.batches} batches)")


COMMANDS = [add, watch]
