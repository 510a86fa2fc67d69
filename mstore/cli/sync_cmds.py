"""Moving a store between machines: ``clone``, ``remote``, ``pull``, ``push``, ``sync``,
and the plumbing ``sync-serve`` that answers on the other side of ssh (docs/sync.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import click

from mstore.cli import complete
from mstore.cli.main import Context, emit_shaped, store_option
from mstore.cli.progress import ProgressLine

T = TypeVar("T")


class TransferLine(ProgressLine):
    """The progress line of a transfer: items and bytes."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label

    def __call__(self, done: int, total: int, nbytes: int) -> None:
        if (now := self.due(done, total)) is None:
            return
        rate = nbytes / max(now - self.t0, 1e-6)
        sys.stderr.write(f"\r{self.label}: {done}/{total} files, {nbytes / 1e6:.1f} MB, "
                         f"{rate / 1e6:.1f} MB/s \x1b[K")
        sys.stderr.flush()


def _transfer(label: str, fn: Callable[[TransferLine], T]) -> T:
    line = TransferLine(label)
    try:
        return fn(line)
    finally:
        line.close()


def _kinds(value: str | None) -> list[str] | None:
    """--kinds K1,K2 as a sorted list (kinds are names tools declare: letters, digits, -_.)"""
    if value is None:
        return None
    import re

    kinds = sorted({k.strip() for k in value.split(",") if k.strip()})
    if not kinds:
        raise click.BadParameter("name at least one artifact kind, e.g. thumbnail,metadata")
    for k in kinds:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", k):
            raise click.BadParameter(f"'{k}' is not an artifact kind")
    return kinds


def _report(res, as_json: bool) -> None:  # noqa: ANN001 - services.sync.SyncResult
    from mstore.errors import EXIT_DAMAGED

    if as_json:
        emit_shaped(res.as_dict(), "SyncSummary")
    else:
        for step in res.steps:
            s = step.stored
            verb = "pulled from" if step.direction == "pull" else "pushed to"
            click.echo(f"{verb} {res.remote}: {s.objects} objects ({s.object_bytes / 1e6:.1f} "
                       f"MB), {s.segments} record segments"
                       + (f", {s.gone} objects gone meanwhile" if s.gone else "")
                       + f" in {step.seconds:.1f}s")
        if res.kinds is not None:
            click.echo(f"partial copy: payloads of {', '.join(res.kinds)} only")
    for line in res.rejected:
        click.echo(f"mstore: rejected {line}", err=True)
    if res.rejected:
        raise click.exceptions.Exit(EXIT_DAMAGED)


@click.command()
@click.argument("source")
@click.argument("directory", type=click.Path(path_type=Path))
@click.option("--root", "roots", multiple=True, metavar="NAME=PATH",
              help="Where archive root NAME is on this machine (repeatable). Roots not "
                   "given are asked for on a terminal, else left unset (a catalog-only copy).")
@click.option("--kinds", default=None, metavar="K1,K2",
              help="A partial copy: every record, but only these artifact kinds' payloads.")
@click.option("--remote-mstore", "mstore", default="mstore", show_default=True,
              help="The mstore command on the other side of ssh.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
def clone(source: str, directory: Path, roots: tuple[str, ...], kinds: str | None,
          mstore: str, as_json: bool) -> None:
    """Copy the store at SOURCE (a path, ssh://[user@]host[:port]/path or host:path) into
    DIRECTORY, with SOURCE as remote 'origin'. The copy mints its own machine id."""
    from mstore.services import sync

    ask = None
    if sys.stdin.isatty() and not as_json:
        def ask(name: str) -> Path | None:
            answer = click.prompt(f"path of archive root '{name}' on this machine "
                                  "(empty: none here)", default="", show_default=False)
            return Path(answer).expanduser() if answer.strip() else None

    res = _transfer("receiving", lambda line: sync.clone(
        source, directory, roots=sync.parse_root_options(roots), ask=ask, kinds=_kinds(kinds),
        mstore=mstore, report=line))
    if not as_json:
        click.echo(f"Cloned {source} into {res.root}")
        for name, path in res.roots.items():
            click.echo(f"  root {name} = {path}")
        for name in res.unset:
            click.echo(f"  root {name}: not on this machine (set it in config.toml [roots])")
    _report(res.pull, as_json)


@click.group()
def remote() -> None:
    """The remotes this store pushes to and pulls from (config.toml [remotes])."""


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--remote-mstore", "mstore", default=None,
              help="The mstore command on the other side of ssh (default: mstore).")
@store_option
@click.pass_obj
def remote_add(obj: Context, name: str, url: str, mstore: str | None) -> None:
    from mstore.sync import remotes

    remotes.add(obj.store(), name, url, mstore)


@remote.command("remove")
@click.argument("name", shell_complete=complete.remotes)
@store_option
@click.pass_obj
def remote_remove(obj: Context, name: str) -> None:
    from mstore.sync import remotes, state

    store = obj.store()
    remotes.remove(store, name)
    state.forget(store, name)


@remote.command("list")
@click.option("--json", "as_json", is_flag=True)
@store_option
@click.pass_obj
def remote_list(obj: Context, as_json: bool) -> None:
    from mstore.present import emit_json
    from mstore.sync.remotes import overview

    for name, r in overview(obj.store()).items():
        if as_json:
            emit_json({"name": name, **r})
        else:
            click.echo(f"{name}\t{r['url']}" + (f"\t(partial: {','.join(r['kinds'])})"
                                               if r["kinds"] is not None else ""))


@click.command()
@click.argument("name", required=False, shell_complete=complete.remotes)
@click.option("--kinds", default=None, metavar="K1,K2",
              help="Only these artifact kinds' payloads (every record still comes).")
@click.option("--all", "whole", is_flag=True,
              help="Every object, also on a copy that was pulled partially before.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@store_option
@click.pass_obj
def pull(obj: Context, name: str | None, kinds: str | None, whole: bool,
         as_json: bool) -> None:
    """Bring what remote NAME (default: origin) has and this copy lacks."""
    from mstore.errors import UsageError
    from mstore.services import sync

    if whole and kinds:
        raise UsageError("--all and --kinds exclude each other")
    _report(_transfer("receiving", lambda line: sync.pull(
        obj.store(), name, kinds=_kinds(kinds), whole=whole, report=line)), as_json)


@click.command()
@click.argument("name", required=False, shell_complete=complete.remotes)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@store_option
@click.pass_obj
def push(obj: Context, name: str | None, as_json: bool) -> None:
    """Send remote NAME (default: origin) what it lacks of this copy."""
    from mstore.services import sync

    _report(_transfer("sending", lambda line: sync.push(obj.store(), name, report=line)),
            as_json)


@click.command("sync")
@click.argument("name", required=False, shell_complete=complete.remotes)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@store_option
@click.pass_obj
def sync_cmd(obj: Context, name: str | None, as_json: bool) -> None:
    """Pull from remote NAME (default: origin), then push to it."""
    from mstore.services import sync

    _report(_transfer("syncing", lambda line: sync.sync(obj.store(), name, report=line)),
            as_json)


@click.command("sync-serve", hidden=True)
@click.argument("path", type=click.Path(path_type=Path))
def sync_serve(path: Path) -> None:
    """Plumbing: answer a transfer on stdin/stdout for the store at PATH (ssh runs it)."""
    from mstore.sync.serve import serve

    serve(path.expanduser().absolute())


COMMANDS = [clone, remote, pull, push, sync_cmd, sync_serve]
