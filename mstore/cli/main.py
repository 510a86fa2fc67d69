"""``mstore``: the entry point. Commands live in one module per area and register here.

Only click and mstore's light modules are imported at start; each command imports
what it needs when it runs, so ``mstore status`` stays fast.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator, MutableMapping
from pathlib import Path


def _import_msgspec() -> None:
    """Import msgspec without typing_extensions, some 2 ms of every command's start-up.

    msgspec takes from it only ``get_type_hints`` (always called with
    ``include_extras=True``, for which typing_extensions hands over to ``typing``'s own
    before Python 3.14) and ``Required``/``NotRequired`` (``typing``'s own since 3.11),
    and falls back to ``typing`` when the import fails. The block is lifted at once:
    whatever imports typing_extensions later gets it.
    """
    if "msgspec" in sys.modules or "typing_extensions" in sys.modules:
        return
    sys.modules["typing_extensions"] = None  # type: ignore[assignment]  # import fails
    try:
        import msgspec  # noqa: F401
    finally:
        del sys.modules["typing_extensions"]


_import_msgspec()

import click  # noqa: E402

from mstore import __version__  # noqa: E402
from mstore.errors import EXIT_INTERNAL, MstoreError, storage_error  # noqa: E402


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


class ReaderGone(Exception):
    """The command's output went to a pipe whose reader has gone (``| head``)."""


class MstoreGroup(click.Group):
    """Turns mstore's errors into a message on stderr and the error's exit code."""

    def make_context(self, *args, **kwargs) -> click.Context:  # noqa: ANN002, ANN003
        try:  # `mstore --help` and `--version` print from here
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:
            raise ReaderGone from None

    def invoke(self, ctx: click.Context):  # noqa: ANN201
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # not an OSError past here: click's main() would make it exit code 1 ("nothing
            # found"), while main() below ends the command as `| head` wants
            raise ReaderGone from None
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


# command name -> the module of mstore.cli that defines it (in its COMMANDS). A command's
# module is imported when the command is looked up; `mstore --help` imports them all.
# Importing every module would cost each command some 5 ms of start-up for click options
# it never parses. tests/integration/test_cli.py checks this table against the modules.
COMMAND_MODULES = {
    **dict.fromkeys(("init", "fsck", "reindex", "unlock"), "store_cmds"),
    **dict.fromkeys(("add", "watch"), "catalog_cmds"),
    **dict.fromkeys(("status", "show", "find", "help-query"), "read_cmds"),
    **dict.fromkeys(("run", "log", "diff", "pause", "resume", "cancel", "rerun", "server",
                     "worker", "tools", "pipelines"), "run_cmds"),
    **dict.fromkeys(("cat", "export", "gc", "collection", "label"), "artifact_cmds"),
    "ui": "ui_cmd",
    "people": "people_cmds",
    **dict.fromkeys(("clone", "remote", "pull", "push", "sync", "sync-serve"), "sync_cmds"),
}


class LazyCommands(MutableMapping):
    """The group's commands by name, each module imported when one of its commands is
    looked up (``cli.commands`` reads like a dict of every command)."""

    def __init__(self, where: dict[str, str]) -> None:
        self._where = dict(where)
        self._loaded: dict[str, click.Command] = {}

    def _load(self, name: str) -> None:
        module = self._where.get(name)
        if module is None:
            return
        mod = importlib.import_module(f"mstore.cli.{module}")
        for cmd in mod.COMMANDS:
            self._loaded.setdefault(cmd.name, cmd)
        for n in [n for n, m in self._where.items() if m == module]:
            del self._where[n]

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._loaded:
            self._load(name)
        return self._loaded[name]

    def __setitem__(self, name: str, cmd: click.Command) -> None:
        self._loaded[name] = cmd
        self._where.pop(name, None)

    def __delitem__(self, name: str) -> None:
        self._load(name)
        del self._loaded[name]

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self._where

    def __iter__(self) -> Iterator[str]:
        for name in list(self._where):
            self._load(name)
        return iter(list(self._loaded))

    def __len__(self) -> int:
        return len(self._loaded) + len(self._where)


cli.commands = LazyCommands(COMMAND_MODULES)


def main(argv: list[str] | None = None) -> None:
    if "_MSTORE_COMPLETE" in os.environ:  # a shell asks for completion (cli/complete.py)
        from mstore.cli.complete import use_own_shells

        use_own_shells()
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
    except (BrokenPipeError, ReaderGone):
        # the reader took what it wanted: done, quietly. What is still buffered for stdout
        # goes nowhere (a flush at exit would fail again and change the exit code)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
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
