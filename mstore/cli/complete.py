"""Shell completion of the names a person types, as git completes branch names: run ids,
pipelines, collections, remotes, sort keys, and the find language's keys and values.

Click does the shell side (``eval "$(_MSTORE_COMPLETE=bash_source mstore)"``, or
``zsh_source`` / ``fish_source``; docs/cli.md; bash's script is click's with one line
more, ``use_own_shells``) and calls these with what is typed so far. Each opens the store
the command line names (``--store``, ``$MSTORE_DIR``, or the nearest one upwards)
read-only and offers nothing when it cannot: a completion never prints an error or a
traceback into a person's prompt. What a completion needs is imported when one is asked
for, not when a command starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from mstore.store.store import Store

    Complete = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


# runs each steering command applies to (services/runs.py refuses the others)
STEERABLE = {"pause": ("running",), "resume": ("paused",), "cancel": ("running", "paused"),
             "rerun": ("failed",)}


@contextmanager
def _store(ctx: click.Context) -> Iterator[Store | None]:
    """The store the command line names, or None when there is none to read."""
    store = _open(ctx)
    try:
        yield store
    finally:
        if store is not None:
            store.close()


def _open(ctx: click.Context) -> Store | None:
    from mstore.cli.main import Context

    obj = ctx.find_object(Context)
    given = (obj.store_dir if obj is not None else None) or \
        ctx.find_root().params.get("store_dir")
    try:
        from mstore.store.store import Store

        return Store.discover(Path(given) if given else None)
    except Exception:  # noqa: BLE001 - no store, no permission, damage: offer nothing
        return None


def _item(value: str, help: str | None = None, type: str = "plain") -> CompletionItem:
    from click.shell_completion import CompletionItem

    return CompletionItem(value, type=type, help=help)


def _items(names: Iterable[str], incomplete: str) -> list[CompletionItem]:
    return [_item(n) for n in names if n.startswith(incomplete)]


def runs(states: tuple[str, ...] = ()) -> Complete:
    """Run ids, newest first (ids start with their start time); only those in ``states``
    when given."""

    def complete(ctx: click.Context, _param: click.Parameter, incomplete: str
                 ) -> list[CompletionItem]:
        with _store(ctx) as store:
            if store is None:
                return []
            try:
                with store.reader() as r:
                    found = r.run_states()
            except Exception:  # noqa: BLE001 - an unreadable index: offer nothing
                return []
        found.sort(reverse=True)
        return [_item(rid, help=state) for rid, state in found
                if rid.startswith(incomplete) and (not states or state in states)]

    return complete


def steerable(action: str) -> Complete:
    return runs(STEERABLE.get(action, ()))


def run_or_file(ctx: click.Context, param: click.Parameter, incomplete: str
                ) -> list[CompletionItem]:
    """``show TARGET``: a run id when the word starts like one, else a file path (an
    asset id prefix is typed from what ``find`` printed, not completed)."""
    if incomplete.startswith("r"):
        found = runs()(ctx, param, incomplete)
        if found:
            return found
    return [_item(incomplete, type="file")]


def pipelines(ctx: click.Context, _param: click.Parameter, incomplete: str
              ) -> list[CompletionItem]:
    from mstore.runs.pipelines import all_pipelines

    with _store(ctx) as store:
        try:
            found = all_pipelines(store.root if store is not None else None)
        except Exception:  # noqa: BLE001 - a pipeline file that does not load
            return []
    return [_item(name, help=p.description or None)
            for name, p in sorted(found.items()) if name.startswith(incomplete)]


def _collection_names(ctx: click.Context) -> list[str]:
    with _store(ctx) as store:
        if store is None:
            return []
        try:
            with store.reader() as r:
                return sorted(c.name for c in r.collections())
        except Exception:  # noqa: BLE001
            return []


def collections(ctx: click.Context, _param: click.Parameter, incomplete: str
                ) -> list[CompletionItem]:
    return _items(_collection_names(ctx), incomplete)


def remotes(ctx: click.Context, _param: click.Parameter, incomplete: str
            ) -> list[CompletionItem]:
    from mstore.sync.remotes import remotes as configured

    with _store(ctx) as store:
        try:
            names = sorted(configured(store)) if store is not None else []
        except Exception:  # noqa: BLE001 - a config the command itself would refuse
            return []
    return _items(names, incomplete)


def sort_keys(_ctx: click.Context, _param: click.Parameter, incomplete: str
              ) -> list[CompletionItem]:
    from mstore.query.order import SORTS

    return _items(SORTS, incomplete)


def _values(ctx: click.Context, key: str) -> list[str]:
    """The values a query key takes that can be listed."""
    from mstore.query import lexer

    if key == "kind":
        return list(lexer.KINDS)
    if key == "has":
        return list(lexer.HAS_FLAGS)
    if key == "missing":
        return ["true", "false"]
    if key == "collection":
        return _collection_names(ctx)
    return []


def query(ctx: click.Context, param: click.Parameter, incomplete: str
          ) -> list[CompletionItem]:
    """A word of a query: a key (``ki`` -> ``kind:``) or, after one, a value
    (``kind:im`` -> ``kind:image``). Bash splits words at ``:``, so there the key comes
    as the words before (``kind`` ``:``) and only the value part is offered."""
    from mstore.query.lexer import KEYS
    from mstore.query.terms import specs

    keys = [*KEYS, *(s.key for s in specs())]
    before = ctx.params.get(param.name or "") or ()
    before = list(before) if isinstance(before, tuple | list) else []
    if incomplete == ":" and before and before[-1] in keys:  # bash: "kind" ":"
        return [_item(":" + v) for v in _values(ctx, before[-1])]
    if len(before) >= 2 and before[-1] == ":" and before[-2] in keys:  # bash: "kind" ":" "im"
        return _items(_values(ctx, before[-2]), incomplete)
    key, colon, value = incomplete.partition(":")
    if colon:
        return [_item(f"{key}:{v}") for v in _values(ctx, key.lower())
                if v.startswith(value)]
    return [_item(k + ":") for k in sorted(keys)
            if k.startswith(incomplete.lower())]


def use_own_shells() -> None:
    """Register mstore's bash script in place of click's (``main`` calls this only when
    a shell asks for completion: importing click's completion costs every command)."""
    from click.shell_completion import BashComplete as ClickBash
    from click.shell_completion import add_completion_class

    class BashComplete(ClickBash):
        # a lone completion ending in ":" (a query key, "kind:") gets no space after it,
        # so the next TAB completes its value, as zsh and fish behave
        source_template = ClickBash.source_template.replace(
            "    done\n", "    done\n\n"
            "    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == *: ]]; then\n"
            "        compopt -o nospace\n    fi\n", 1)

    add_completion_class(BashComplete, "bash")
