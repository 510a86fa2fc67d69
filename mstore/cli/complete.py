"""Shell completion of the names a person types, as git completes branch names: run ids,
pipelines, collections, remotes, sort keys, and the find language's keys and values.

Click does the shell side (``eval "$(_MSTORE_COMPLETE=bash_source mstore)"``, or
``zsh_source`` / ``fish_source``; docs/cli.md; bash's script is click's with one line
more, ``use_own_shells``) and calls these with what is typed so far. Each opens the store
the command line names (``--store``, ``$MSTORE_DIR``, or the nearest one upwards)
and offers nothing when it cannot read it: a completion never prints an error or a
traceback into a person's prompt. What a completion needs is imported when one is asked
for, not when a command starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import click

if TYPE_CHECKING:
    from click.shell_completion import CompletionItem

    from mstore.store.store import Store

    Complete = Callable[[click.Context, click.Parameter, str], list[CompletionItem]]


T = TypeVar("T")

# runs each steering command applies to (services/runs.py refuses the others)
STEERABLE = {"pause": ("running",), "resume": ("paused",), "cancel": ("running", "paused"),
             "rerun": ("failed",)}


def _from_store(ctx: click.Context, read: Callable[[Store | None], list[T]],
                need_store: bool = True) -> list[T]:
    """``read(store)`` over the store the command line names; [] when there is none (and
    ``need_store``) or reading fails — no store, no permission, damage, a config the
    command itself would refuse: a completion offers nothing rather than print an error
    into a person's prompt."""
    from mstore.cli.main import Context

    obj = ctx.find_object(Context)
    given = (obj.store_dir if obj is not None else None) or \
        ctx.find_root().params.get("store_dir")
    store = None
    try:
        from mstore.store.store import Store

        try:
            store = Store.discover(Path(given) if given else None)
        except Exception:  # noqa: BLE001 - see above
            if need_store:
                return []
        return read(store)
    except Exception:  # noqa: BLE001 - see above
        return []
    finally:
        if store is not None:
            store.close()


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
        def read(store: Store | None) -> list[tuple[str, str]]:
            with store.reader() as r:  # type: ignore[union-attr] - need_store
                return r.run_states()

        found = sorted(_from_store(ctx, read), reverse=True)
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
    """The pipelines ``run`` takes: the shipped ones, and the store's own if there is one."""
    from mstore.runs.pipelines import all_pipelines

    def read(store: Store | None) -> list[tuple[str, str]]:
        found = all_pipelines(store.root if store is not None else None)
        return [(name, p.description) for name, p in sorted(found.items())]

    return [_item(name, help=about or None)
            for name, about in _from_store(ctx, read, need_store=False)
            if name.startswith(incomplete)]


def _collection_names(ctx: click.Context) -> list[str]:
    def read(store: Store | None) -> list[str]:
        with store.reader() as r:  # type: ignore[union-attr] - need_store
            return sorted(c.name for c in r.collections())

    return _from_store(ctx, read)


def collections(ctx: click.Context, _param: click.Parameter, incomplete: str
                ) -> list[CompletionItem]:
    return _items(_collection_names(ctx), incomplete)


def remotes(ctx: click.Context, _param: click.Parameter, incomplete: str
            ) -> list[CompletionItem]:
    from mstore.sync.remotes import remotes as configured

    return _items(_from_store(ctx, lambda store: sorted(configured(store))), incomplete)


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
