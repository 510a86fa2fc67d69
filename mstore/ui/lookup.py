"""Looking up what an address names, for pages and tools alike: the one resolver of
names a person types (``mstore.services.resolve``), with its refusals sorted into "not
found" (the page answers 404) and the rest (400: an ambiguous prefix says so)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mstore.errors import UsageError
from mstore.services import resolve
from mstore.store.store import Store


class NotFound(UsageError):
    """What was asked for does not exist: a page answers 404 with the message."""


RESOLVERS: dict[str, Callable[[Store, str], Any]] = {
    "asset": resolve.asset,
    "artifact": resolve.artifact,
    "run": resolve.run,
    "collection": resolve.collection,
}


def resolved(store: Store, what: str, text: str) -> Any:
    """The ``what`` ("asset", "artifact", "run", "collection") that ``text`` names: an id
    or a unique prefix of one, a collection's name. ``NotFound`` when nothing matches;
    an ambiguous prefix stays a ``UsageError``."""
    if not text or len(text) > 4096 or "\0" in text or (
            what == "asset" and not resolve.HEX_RE.match(text)):
        # an address names an asset by id only: never by a path (resolved on this
        # machine's disk, relative to wherever the UI was started)
        raise NotFound(f"no such {what}")
    try:
        return RESOLVERS[what](store, text)
    except resolve.Ambiguous:
        raise
    except UsageError as e:
        raise NotFound(e.message) from None
