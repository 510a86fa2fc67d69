"""``mstore``: the entry point. Commands live in one module per area and register here.

Only click and mstore's light modules are imported at start; each command imports
what it needs when it runs, so ``mstore status`` stays fast.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from mstore import __version__
from mstore.errors import EXIT_INTERNAL, MstoreError, storage_error


class Context:
    """Per-invocation state: where the store is, opened on first use."""

    def __init__(self, store_dir: Path | None = None) -> None:
        self.store_dir = store_dir
        self._store = None

    def store(self):  # noqa: ANN201 - returns mstore.store.store.Store, imported lazily
        if self._store is None:
            from mstore.store.store import Store

            self._store = Store.discover(self.store_dir)
        return self._store

    def close(self) -> None:
        if self._store is not None:
            self._store.close()


class QueryCommand(click.Command):
    """A command whose trailing arguments are query words: a word starting with ``-``
    that is not one of the command's options (``-kind:video``, ``-path:x``,
    ``-(a OR b)``) is a negated term, never an option cluster (``-path`` would else be
    read as ``-p -a -t -h`` and print the help)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        takes_value: dict[str, bool] = {}
        for p in self.get_params(ctx):
            if isinstance(p, click.Option):
                for name in (*p.opts, *p.secondary_opts):
                    takes_value[name] = not p.is_flag and not p.count
        options: list[str] = []
        words: list[str] = []
        i = 0
        while i < len(args):
            a = args[i]
            if a == "--":
                words += args[i + 1:]
                break
            name = a.split("=", 1)[0]
            if a.startswith("-") and name in takes_value:
                options.append(a)
                if takes_value[name] and "=" not in a and i + 1 < len(args):
                    i += 1
                    options.append(args[i])
            else:
                words.append(a)
            i += 1
        return super().parse_args(ctx, [*options, "--", *words])


def emit_shaped(obj: dict, shape: str) -> None:
    """Print ``obj`` as the JSON shape its command promises (mstore/services/shapes.py,
    imported only when --json asks for it)."""
    from mstore.present import emit_json
    from mstore.services import shapes

    emit_json(shapes.shaped(obj, getattr(shapes, shape)))


def store_option(f):  # noqa: ANN001, ANN201
    """``--store DIR`` on a command (overrides the one before the command name)."""

    def set_store(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
        if value is not None:
            ctx.ensure_object(Context).store_dir = value

    return click.option("--store", "store_dir", type=click.Path(path_type=Path), default=None,
                        expose_value=False, callback=set_store, is_eager=True,
                        help="The store directory (default: nearest .mstore upwards, or "
                             "$MSTORE_DIR).")(f)


class MstoreGroup(click.Group):
    """Turns mstore's errors into a message on stderr and the error's exit code."""

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        try:
            return super().invoke(ctx)
        except MstoreError as e:
            render = getattr(e, "render", None)
            click.echo(f"mstore: {render() if render else e.message}", err=True)
            raise click.exceptions.Exit(e.exit_code) from None
        except OSError as e:
            err = storage_error(e)
            if err is None:
                raise
            click.echo(f"mstore: {err.message}", err=True)
            raise click.exceptions.Exit(err.exit_code) from None


@click.group(cls=MstoreGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--store", "store_dir", type=click.Path(path_type=Path), default=None,
              envvar="MSTORE_DIR", help="The store directory (default: nearest .mstore upwards).")
@click.version_option(__version__, prog_name="mstore")
@click.pass_context
def cli(ctx: click.Context, store_dir: Path | None) -> None:
    """mstore: catalog a read-only media archive and keep what is learned about it."""
    obj = ctx.ensure_object(Context)
    if obj.store_dir is None:
        obj.store_dir = store_dir
    ctx.call_on_close(obj.close)


def _register() -> None:
    from mstore.cli import artifact_cmds, catalog_cmds, read_cmds, run_cmds, store_cmds, ui_cmd

    for mod in (store_cmds, catalog_cmds, read_cmds, run_cmds, artifact_cmds, ui_cmd):
        for cmd in mod.COMMANDS:
            cli.add_command(cmd)


_register()


def main(argv: list[str] | None = None) -> None:
    try:
        # without standalone mode click returns the code of a ctx.exit() / Exit instead
        code = cli.main(args=argv, prog_name="mstore", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(0)
    except Exception as e:  # the last line of defence, see internal_error
        if os.environ.get("MSTORE_DEBUG"):
            raise
        internal_error(e)
        sys.exit(EXIT_INTERNAL)
    sys.exit(code if isinstance(code, int) else 0)


def internal_error(e: BaseException) -> None:
    """One line for an error no command expected: a bug to report, never a traceback (each
    error a user can cause has its own message and exit code; this is the safety net)."""
    message = " ".join(str(e).split())
    if len(message) > 300:
        message = message[:300] + "..."
    click.echo(f"mstore: internal error: {type(e).__name__}"
               + (f": {message}" if message else "")
               + " (MSTORE_DEBUG=1 shows the traceback)", err=True)
