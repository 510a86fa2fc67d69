"""The remotes a store knows, in ``config.toml``::

    [remotes."nas"]
    url = "ssh://nas.lan/volume1/photos/.mstore"
    mstore = "/opt/mstore/bin/mstore"    # optional: the mstore command on that side

Like git's ``.git/config``, the file is this copy's own: push and pull never move it, and
a clone starts from its source's file with the source's remotes taken out and ``origin``
put in. mstore edits only the tables it adds or removes, so comments elsewhere stay.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from mstore.errors import UsageError
from mstore.store.config import toml_str
from mstore.store.store import Store
from mstore.sync.url import Location, parse

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HEADER = re.compile(r"^\s*\[\[?\s*(?P<name>[^\]]+?)\s*\]\]?\s*(?:#.*)?$")


@dataclass(frozen=True)
class Remote:
    name: str
    url: str
    mstore: str = "mstore"  # the command that answers on the other side

    def location(self, store_root: Path) -> Location:
        return parse(self.url, base=store_root.parent)


def remotes(store: Store) -> dict[str, Remote]:
    """The remotes config.toml names (its types were checked when the store opened)."""
    return {name: Remote(name, entry["url"], entry.get("mstore", "mstore"))
            for name, entry in store.config.raw.get("remotes", {}).items()}


def overview(store: Store) -> dict[str, dict]:
    """Each remote with what this copy remembers of it (``status``, ``remote list``):
    url, mstore, when the last pull and push that finished had started (None: never),
    and a partial copy's kinds."""
    from mstore.sync import state

    out = {}
    for name, r in remotes(store).items():
        st = state.load(store, name)
        out[name] = {"url": r.url, "mstore": r.mstore, "pulled_ms": st.pulled_ms or None,
                     "pushed_ms": st.pushed_ms or None, "kinds": st.kinds}
    return out


def remote(store: Store, name: str | None) -> Remote:
    """The remote a command names; without a name, ``origin``, or the only one there is."""
    known = remotes(store)
    if name is None:
        if "origin" in known:
            return known["origin"]
        if len(known) == 1:
            return next(iter(known.values()))
        raise UsageError("no remote given and no 'origin'"
                         + (f" (known: {', '.join(sorted(known))})" if known else
                            " (add one: mstore remote add NAME URL)"))
    if name not in known:
        # a URL where a name is expected works too, as with git
        if "/" in name or ":" in name:
            return Remote(name, name)
        raise UsageError(f"no remote named '{name}'"
                         + (f" (known: {', '.join(sorted(known))})" if known else ""))
    return known[name]


def table_header(name: str) -> str:
    return f'[remotes."{name}"]'


def add(store: Store, name: str, url: str, mstore: str | None = None) -> Remote:
    store.check_writable()
    if not NAME_RE.match(name):
        raise UsageError(f"'{name}' is not a remote name (letters, digits, '.', '_', '-')")
    if name in remotes(store):
        raise UsageError(f"remote '{name}' exists already (mstore remote remove {name})")
    parse(url)  # refuse what cannot be reached before it is written down
    lines = [table_header(name), f"url = {toml_str(url)}"]
    if mstore:
        lines.append(f"mstore = {toml_str(mstore)}")
    text = store.layout.config.read_text()
    _write(store, text.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n")
    return Remote(name, url, mstore or "mstore")


def remove(store: Store, name: str) -> None:
    store.check_writable()
    if name not in remotes(store):
        raise UsageError(f"no remote named '{name}'")
    text = store.layout.config.read_text()
    _write(store, drop_tables(text, lambda t: _is_remote_table(t, name)))


def drop_tables(text: str, doomed: object) -> str:
    """``text`` without the tables whose header ``doomed(header name)`` is true (their
    lines up to the next header go with them)."""
    out: list[str] = []
    skipping = False
    for line in text.splitlines(keepends=True):
        m = _HEADER.match(line)
        if m:
            skipping = bool(doomed(_unquote(m.group("name"))))  # type: ignore[operator]
        if not skipping:
            out.append(line)
    return "".join(out)


def _unquote(header: str) -> tuple[str, ...]:
    """A table header's dotted name as its parts (``remotes."nas"`` -> remotes, nas)."""
    try:
        parsed = tomllib.loads(f"[{header}]\n")
    except tomllib.TOMLDecodeError:
        return (header,)
    parts: list[str] = []
    node = parsed
    while isinstance(node, dict) and len(node) == 1:
        key = next(iter(node))
        parts.append(key)
        node = node[key]
    return tuple(parts)


def _is_remote_table(parts: tuple[str, ...], name: str) -> bool:
    return len(parts) >= 2 and parts[0] == "remotes" and parts[1] == name


def _write(store: Store, text: str) -> None:
    try:
        tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:  # never leave a file mstore cannot read
        raise UsageError(f"{store.layout.config}: editing it would break it ({e}); "
                         "edit it by hand") from None
    from mstore.store.fsutil import write_once

    write_once(store.layout.config, text.encode(), store.layout.tmp)
