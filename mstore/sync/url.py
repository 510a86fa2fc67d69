"""Where a remote store is: a local path, ``ssh://[user@]host[:port]/path`` or
``[user@]host:path`` (scp style, as git reads it: a colon before any slash)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from mstore.errors import UsageError

_SCP = re.compile(r"^(?:(?P<user>[^@/]+)@)?(?P<host>[^:/]+):(?P<path>.*)$")


@dataclass(frozen=True)
class Location:
    url: str  # as the user wrote it
    path: str  # the store directory on that side
    host: str = ""  # "" for a local path
    user: str = ""
    port: int = 0

    @property
    def is_ssh(self) -> bool:
        return bool(self.host)

    @property
    def destination(self) -> str:
        """What ssh is told to connect to."""
        return f"{self.user}@{self.host}" if self.user else self.host


def parse(url: str, *, base: Path | None = None) -> Location:
    """The location a remote URL names; a relative local path is taken from ``base``
    (the current directory by default), so a remote keeps meaning the same directory."""
    if not url or "\0" in url:
        raise UsageError(f"not a remote location: '{url}'")
    if url.startswith("ssh://"):
        parts = urlsplit(url)
        try:
            port = parts.port or 0
        except ValueError:
            raise UsageError(f"bad port in '{url}'") from None
        if not parts.hostname or not parts.path or parts.path == "/":
            raise UsageError(f"'{url}' names no host or no path (ssh://[user@]host[:port]/path)")
        path = unquote(parts.path)
        if path.startswith("/~"):  # ssh://host/~/store: relative to the remote home, as git
            path = path[1:]
        return Location(url, path, parts.hostname, unquote(parts.username or ""), port)
    if "://" in url:
        raise UsageError(f"'{url}': only local paths and ssh:// locations are remotes")
    m = _SCP.match(url)
    # "C:" style or "./a:b" are paths: scp style needs the colon before any slash
    if m and not url.startswith(("/", ".")) and m.group("path"):
        return Location(url, m.group("path"), m.group("host"), m.group("user") or "")
    path = Path(url).expanduser()
    if not path.is_absolute():
        path = (base or Path.cwd()) / path
    return Location(url, str(path))
