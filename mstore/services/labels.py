"""Labels: a person's marks on assets (``docs/runs.md`` §8a) — ``mstore label`` and the
actions of tools' UI pages (the duplicate review's keep / not-keep) write them here.

A label is a record in the store, never a change to the archive; the newest one per
``(asset, key, about)`` stands, and an empty value clears a mark.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from mstore.errors import UsageError
from mstore.model.records import Label
from mstore.store.store import Store


@dataclass(frozen=True)
class LabelChange:
    """One mark to write: ``key`` of ``asset`` gets ``value`` ("" clears it), judged about
    the artifact ``about`` (e.g. the duplicate group a person was looking at)."""

    asset: str
    key: str
    value: str
    about: str = ""


def set_labels(store: Store, changes: Iterable[LabelChange]) -> int:
    """Write ``changes`` as one batch of label records (all or none: a change naming an
    unknown asset, an empty key or a NUL refuses the whole batch); returns how many."""
    todo = list(changes)
    with store.reader() as r:
        for c in todo:
            if not c.key.strip() or any("\0" in s for s in (c.key, c.value, c.about)):
                raise UsageError(f"a label needs a key and no NUL character, not {c.key!r}")
            if r.asset(c.asset) is None:
                raise UsageError(f"no asset '{c.asset[:16]}' to label")
    if todo:
        store.write_records([Label(hlc=0, asset=c.asset, key=c.key, value=c.value,
                                   about=c.about) for c in todo])
        store.catch_up()
    return len(todo)
