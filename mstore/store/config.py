"""``config.toml``: archive roots, ignore patterns, defaults.

The file is meant to be read and edited by people, so mstore writes it once at
``init`` (and when roots are added) with comments, and otherwise only reads it.
Roots have a name (the identity used in records, shared by every machine) and a
path on this machine; ``[machines."<hostname>".roots]`` overrides the path for
one host, so a synced store can find the archive where each machine mounts it.
"""

from __future__ import annotations

import socket
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from mstore.errors import UsageError

DEFAULT_IGNORE = [
    ".DS_Store",
    "._*",
    "Thumbs.db",
    "desktop.ini",
    ".thumbnails/",
    "@eaDir/",
    ".Trash-*/",
    ".trashed-*",
    ".mstore/",
    ".git/",
    ".stfolder/",
    ".stversions/",
    ".sync/",
    "lost+found/",
]


@dataclass
class Config:
    roots: dict[str, Path] = field(default_factory=dict)
    ignore: list[str] = field(default_factory=lambda: list(DEFAULT_IGNORE))
    raw: dict = field(default_factory=dict)

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
    try:
        with open(path, "rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        return Config()
    except tomllib.TOMLDecodeError as e:
        raise UsageError(f"{path}: {e}") from e
    roots = {str(k): Path(str(v)) for k, v in raw.get("roots", {}).items()}
    host = socket.gethostname()
    override = raw.get("machines", {}).get(host, {}).get("roots", {})
    roots.update({str(k): Path(str(v)) for k, v in override.items()})
    catalog = raw.get("catalog", {})
    ignore = list(catalog.get("ignore", DEFAULT_IGNORE)) + list(catalog.get("extra_ignore", []))
    return Config(roots=roots, ignore=ignore, raw=raw)


def _toml_str(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render(roots: dict[str, Path]) -> str:
    lines = [
        "# mstore store configuration. Edit freely; mstore reads it on every command.",
        "",
        "[store]",
        "format = 1",
        "",
        "# Archive roots: name = path. The name is what records refer to; the path is",
        "# where this machine finds it. Override per host with",
        '# [machines."<hostname>".roots] name = "/other/mount".',
        "[roots]",
    ]
    lines += [f"{_toml_str(name)} = {_toml_str(str(p))}" for name, p in roots.items()]
    lines += [
        "",
        "[catalog]",
        "# Names never cataloged. A pattern ending in '/' matches directories;",
        "# shell globs (*, ?, [..]) match one name. extra_ignore adds to these.",
        "ignore = [" + ", ".join(_toml_str(p) for p in DEFAULT_IGNORE) + "]",
        "extra_ignore = []",
        "",
    ]
    return "\n".join(lines)
