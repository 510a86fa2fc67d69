"""``config.toml``: archive roots, ignore patterns, defaults.

The file is meant to be read and edited by people, so mstore writes it once at
``init`` (and when roots are added) with comments, and otherwise only reads it.
Roots have a name (the identity used in records, shared by every machine) and a
path on this machine; ``[machines."<hostname>".roots]`` overrides the path for
one host, so a synced store can find the archive where each machine mounts it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import NoReturn

import msgspec

from mstore.errors import StoreFormatError, UsageError
from mstore.model.records import RESOURCES
from mstore.store.identity import ID_RE
from mstore.store.locks import hostname

FORMAT = 1  # the store format this mstore reads and writes (docs/format.md)
DEFAULT_QUEUES = ("cpu", "io")  # what a worker serves unless told: gpu is declared
MAX_CONCURRENCY = 1024  # [worker] concurrency, gpu_concurrency

DEFAULT_IGNORE = [
    ".DS_Store",
    "._*",
    "Thumbs.db",
    "desktop.ini",
    ".thumbnails/",
    "@eaDir/",
    ".Trash-*/",
    ".trashed-*",
    # what Windows and macOS keep on every drive they touch: deleted files, indexes,
    # journals, resource forks
    "$RECYCLE.BIN/",
    "$Recycle.Bin/",
    "System Volume Information/",
    ".Trashes/",
    ".Spotlight-V100/",
    ".fseventsd/",
    ".TemporaryItems/",
    ".DocumentRevisions-V100/",
    ".AppleDouble/",
    "ehthumbs.db",
    "ehthumbs_vista.db",
    # what NAS boxes keep in shared folders: thumbnails, recycle bins, and snapshots (whole
    # copies of the share as it was: cataloged, each would be the archive again)
    "#recycle/",
    "#snapshot/",
    "@Recycle/",
    ".@__thumb/",
    "@Recently-Snapshot/",
    ".snapshot/",
    # what photo managers keep beside the photos: Lightroom's previews, digiKam's trash
    "*.lrdata/",
    ".dtrash/",
    ".mstore/",
    ".git/",
    ".stfolder/",
    ".stversions/",
    ".sync/",
    "lost+found/",
]


class Config(msgspec.Struct):
    roots: dict[str, Path] = msgspec.field(default_factory=dict)
    ignore: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_IGNORE))
    raw: dict = msgspec.field(default_factory=dict)

    def root_for(self, path: Path) -> tuple[str, Path] | None:
        """The (name, root path) of the configured root that contains ``path``."""
        real = Path(path).resolve()
        best: tuple[str, Path] | None = None
        for name, root in self.roots.items():
            try:
                real.relative_to(root)
            except ValueError:
                continue
            if best is None or len(str(root)) > len(str(best[1])):
                best = (name, root)
        return best


def load(path: Path) -> Config:
    """Read and check ``config.toml``: a value of the wrong type or range is one usage
    error naming its key, and a store of a newer format is refused, before any command
    acts on it. Unknown keys are left alone (a newer mstore may add some)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return Config()
    try:
        text = data.decode()
    except UnicodeDecodeError as e:
        raise UsageError(f"{path}: {e}") from e
    return parse(text, path)


def parse(text: str, path: Path) -> Config:
    """``load`` of a file's text (``path`` names it in messages)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: {e}") from e
    check = _Checker(path)
    fmt = check.integer(raw, "store", "format", 1, None, default=FORMAT)
    store = check.table(raw, "store")
    if "id" in store and (not isinstance(store["id"], str) or not ID_RE.match(store["id"])):
        check.fail("[store] id", "a string of lower-case letters, digits and '-' (at most 64)",
                   store["id"])
    if fmt > FORMAT:
        raise StoreFormatError(
            f"{path.parent} is a store of format {fmt}, made by a newer mstore; this one "
            f"reads format {FORMAT} (upgrade mstore)")
    roots = check.roots(check.table(raw, "roots"), "[roots]")
    host = hostname()
    machines = check.table(raw, "machines")
    override = check.table(check.table(machines, host, f'[machines."{host}"]'), "roots",
                           f'[machines."{host}".roots]')
    roots.update(check.roots(override, f'[machines."{host}".roots]'))
    catalog = check.table(raw, "catalog")
    ignore = (check.strings(catalog, "ignore", DEFAULT_IGNORE)
              + check.strings(catalog, "extra_ignore", []))
    temporal = check.table(raw, "temporal")
    for key in ("port", "ui_port"):
        check.integer(raw, "temporal", key, 1, 65535)
    for key in ("address", "namespace"):
        if key in temporal and (not isinstance(temporal[key], str) or not temporal[key]):
            check.fail(f"[temporal] {key}", "a non-empty string", temporal[key])
    check.tls(temporal)
    worker = check.table(raw, "worker")
    queues = worker.get("queues", list(DEFAULT_QUEUES))
    if (not isinstance(queues, list) or not queues
            or not all(isinstance(q, str) and q in RESOURCES for q in queues)):
        check.fail("[worker] queues", f"a list of resource classes from {', '.join(RESOURCES)}",
                   queues)
    for key in ("concurrency", "gpu_concurrency"):
        check.integer(raw, "worker", key, 1, MAX_CONCURRENCY)
    if "push" in worker and (not isinstance(worker["push"], str) or not worker["push"]):
        check.fail("[worker] push", "a remote's name (a non-empty string)", worker["push"])
    every = worker.get("push_every", "chunk")
    if every != "chunk" and (isinstance(every, bool) or not isinstance(every, int | float)
                             or not 1 <= every <= 86400):
        check.fail("[worker] push_every", '"chunk" or seconds from 1 to 86400', every)
    for name, entry in check.table(raw, "remotes").items():  # docs/sync.md
        where = f"[remotes.{toml_str(name)}]"
        if not isinstance(entry, dict):
            check.fail(where, "a table", entry)
        for key in ("url", "mstore"):
            if (key == "url" or key in entry) and (
                    not isinstance(entry.get(key), str) or not entry[key]):
                check.fail(f"{where} {key}", "a non-empty string", entry.get(key, ""))
    return Config(roots=roots, ignore=ignore, raw=raw)


class _Checker:
    """The type checks of ``load``, each failing with the file and the key's name."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def fail(self, key: str, wanted: str, value: object) -> NoReturn:
        raise UsageError(f"{self.path}: {key} must be {wanted}, not {_toml_value(value)}")

    def table(self, parent: dict, key: str, name: str | None = None) -> dict:
        value = parent.get(key, {})
        if not isinstance(value, dict):
            self.fail(name or f"[{key}]", "a table", value)
        return value

    def integer(self, raw: dict, section: str, key: str, lo: int, hi: int | None, *,
                default: int = 0) -> int:
        table = self.table(raw, section)
        if key not in table:
            return default
        value = table[key]
        # bool is an int to Python, not to a person writing `port = true`
        if isinstance(value, bool) or not isinstance(value, int) or value < lo or (
                hi is not None and value > hi):
            self.fail(f"[{section}] {key}",
                      f"an integer from {lo}" + (f" to {hi}" if hi is not None else " up"),
                      value)
        return value

    def tls(self, temporal: dict) -> None:
        """``[temporal] tls = true`` (the system's CAs) or a ``[temporal.tls]`` table of
        absolute paths ``ca``, ``cert``, ``key`` (these two together) and ``server_name``."""
        if "tls" not in temporal or isinstance(temporal["tls"], bool):
            return
        tls = self.table(temporal, "tls", "[temporal] tls")
        for key in ("ca", "cert", "key"):
            if key in tls and (not isinstance(tls[key], str)
                               or not Path(tls[key]).is_absolute() or "\0" in tls[key]):
                self.fail(f"[temporal.tls] {key}", "an absolute path (a string)", tls[key])
        if "server_name" in tls and (not isinstance(tls["server_name"], str)
                                     or not tls["server_name"]):
            self.fail("[temporal.tls] server_name", "a non-empty string", tls["server_name"])
        if ("cert" in tls) != ("key" in tls):
            missing = "key" if "cert" in tls else "cert"
            raise UsageError(f"{self.path}: [temporal.tls] cert and key go together (mTLS "
                             f"needs both); {missing} is missing")

    def strings(self, table: dict, key: str, default: list[str]) -> list[str]:
        value = table.get(key, default)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.fail(f"[catalog] {key}", "a list of strings", value)
        return list(value)

    def roots(self, table: dict, name: str) -> dict[str, Path]:
        out = {}
        for root, value in table.items():
            # a relative root would move with the current directory
            if not isinstance(value, str) or not Path(value).is_absolute() or "\0" in value:
                self.fail(f"{name} {toml_str(root)}", "an absolute path (a string)", value)
            out[str(root)] = Path(value)
        return out


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return toml_str(value)
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a table"
    return repr(value)[:80]


def toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(roots: dict[str, Path], store_id: str) -> str:
    lines = [
        "# mstore store configuration. Edit freely; mstore reads it on every command.",
        "",
        "[store]",
        f"format = {FORMAT}",
        "# shared by every copy of this store (clone copies this file): task queues are",
        "# named after it. Never give two different stores the same id.",
        f'id = "{store_id}"',
        "",
        "# Archive roots: name = path. The name is what records refer to; the path is",
        "# where this machine finds it. Override per host with",
        '# [machines."<hostname>".roots] name = "/other/mount".',
        "[roots]",
    ]
    lines += [f"{toml_str(name)} = {toml_str(str(p))}" for name, p in roots.items()]
    lines += [
        "",
        "[catalog]",
        "# Names never cataloged. A pattern ending in '/' matches directories;",
        "# shell globs (*, ?, [..]) match one name. extra_ignore adds to these.",
        "ignore = [" + ", ".join(toml_str(p) for p in DEFAULT_IGNORE) + "]",
        "extra_ignore = []",
        "",
    ]
    return "\n".join(lines)
