"""What else lives under ``objects/`` and ``records/``: the files a sync tool, a copy or the
operating system leaves there (docs/format.md section 8).

mstore reads only names of its exact formats (``storenames.py``); everything else is
*foreign*: never applied, never deleted (it belongs to the tool that made it: deleting a
conflict copy on one side may delete a file on a peer), and listed by ``mstore fsck`` with
the tool that probably left it. Names are matched by what these tools really write:

- Syncthing: ``.syncthing.<name>.tmp``, ``~syncthing~<name>.tmp`` (temp files),
  ``<stem>.sync-conflict-<YYYYMMDD>-<HHMMSS>-<device>.<ext>`` (conflict copies),
  ``.stfolder``, ``.stversions``, ``.stignore``;
- Dropbox: ``<stem> (<host>'s conflicted copy <YYYY-MM-DD>).<ext>``, ``(Case Conflict)``,
  ``(Selective Sync Conflict)``, ``.dropbox``, ``.dropbox.attr``, ``.dropbox.cache``;
- Nextcloud / ownCloud: ``<stem> (conflicted copy <YYYY-MM-DD> <HHMMSS>).<ext>``,
  ``<stem>_conflict-<YYYYMMDD>-<HHMMSS>.<ext>``, ``.<name>.~<hex>`` (a download in
  progress), ``.sync_<hex>.db`` and ``.csync_journal.db`` (the client's journal),
  ``.owncloudsync.log``;
- Resilio Sync (BitTorrent Sync): ``<name>.!sync`` (a download in progress), ``.sync``,
  ``<name>.rsls`` / ``.bts`` (placeholders), ``<stem>.Conflict.<ext>``, ``.SyncArchive``;
- rsync: ``.<name>.XXXXXX`` (its temp file while copying), ``.rsync-partial``;
- Unison ``.unison.*.unison.tmp``; Google Drive ``<stem> (1).<ext>``, ``.tmp.drivedownload``;
- the operating system: ``.DS_Store``, ``._<name>``, ``Thumbs.db``, ``desktop.ini``;
- generic partial downloads: ``*.part``, ``*.partial``, ``*.crdownload``, ``*.tmp``;
- mstore's own: ``.<name>.<pid>-<start>.tmp``, a write in progress whose ``local/`` is on
  another file system (docs/format.md section 4).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mstore.store.storenames import (
    is_fanout,
    is_lane,
    is_loose_name,
    is_pack_name,
    is_segment_name,
)


@dataclass(frozen=True)
class Foreign:
    """A file (or directory: ``path`` ends in ``/``) under ``objects/`` or ``records/``
    that is not one of mstore's."""

    path: str  # relative to the store, '/'-separated
    tool: str  # who probably left it: "Syncthing", "Dropbox", ..., "unknown"
    what: str  # "conflict copy", "temp file", ...
    copy_of: str | None = None  # a conflict copy: the name it is a copy of, in its directory
    note: str = ""  # what fsck found comparing a copy with its original


# (pattern, tool, what); a conflict pattern's groups "stem" and "ext" give the original name
_CONFLICT = [
    (r"(?P<stem>.+?)\.sync-conflict-\d{8}-\d{6}(?:-[A-Z0-9]{7})?(?P<ext>\.[^.]*)?",
     "Syncthing"),
    (r"(?P<stem>.+?) \([^()]*'s conflicted copy(?: \d{4}-\d{2}-\d{2})?(?: \(\d+\))?\)"
     r"(?P<ext>\.[^.]*)?", "Dropbox"),
    (r"(?P<stem>.+?) \((?:Case Conflict|Selective Sync Conflict)(?: \(\d+\))?\)"
     r"(?P<ext>\.[^.]*)?", "Dropbox"),
    (r"(?P<stem>.+?) \(conflicted copy \d{4}-\d{2}-\d{2} \d{6}\)(?P<ext>\.[^.]*)?",
     "Nextcloud"),
    (r"(?P<stem>.+?)_conflict-\d{8}-\d{6}(?P<ext>\.[^.]*)?", "ownCloud"),
    (r"(?P<stem>.+?)\.Conflict\d*(?P<ext>\.[^.]*)?", "Resilio Sync"),
    (r"(?P<stem>.+?) \(\d+\)(?P<ext>\.[^.]*)?", "Google Drive"),
]
_CONFLICT_RE = [(re.compile(p, re.DOTALL), tool) for p, tool in _CONFLICT]

_OTHER = [
    (r"\.syncthing\..+\.tmp|~syncthing~.+\.tmp", "Syncthing", "temp file of a download"),
    (r"\.stfolder|\.stversions|\.stignore|\.stglobalignore", "Syncthing",
     "folder marker or version archive"),
    (r"\.dropbox|\.dropbox\.attr|\.dropbox\.cache", "Dropbox", "folder marker or cache"),
    (r"\.(?:_?sync_[0-9a-f]+|csync_journal)\.db(?:-wal|-shm|-journal|\.ctmp)?"
     r"|\.owncloudsync\.log.*|\.nextcloudsync\.log.*", "Nextcloud/ownCloud", "sync journal"),
    (r"\..+\.~[0-9a-f]{1,8}", "Nextcloud/ownCloud", "temp file of a download"),
    (r"(?i:.+\.!sync)", "Resilio Sync", "partial download"),
    (r"\.sync|\.SyncArchive|\.SyncID|\.SyncIgnore|\.SyncTrash", "Resilio Sync",
     "folder marker or archive"),
    (r"(?i:.+\.(?:SyncPart|SyncTemp|SyncOld))", "Resilio Sync", "partial download"),
    (r".+\.(?:rsls|bts)", "Resilio Sync", "placeholder of a file not downloaded"),
    (r"\.unison\..+\.unison\.tmp", "Unison", "temp file of a copy"),
    (r"\.tmp\.drive(?:download|upload)", "Google Drive", "temp directory of a transfer"),
    (r"\.rsync-partial", "rsync", "partial transfers"),
    # mstore's own before rsync's: both are a dot, the name, a dot and a suffix
    (r"\..+\.\d+(?:-\d+)?\.tmp", "mstore",
     "temp file of a write in progress or interrupted (local/ on another file system)"),
    (r"\..+\.[A-Za-z0-9]{6}", "rsync", "temp file of a copy in progress or interrupted"),
    (r"\.DS_Store|\._.+|Thumbs\.db|desktop\.ini|Icon\r|\.directory|\.Trash-.*|\.Trashes",
     "the operating system", "folder metadata"),
    (r"(?i:.+\.(?:part|partial|crdownload|download|tmp|temp))", "a download or copy tool",
     "partial file"),
]
_OTHER_RE = [(re.compile(p, re.DOTALL), tool, what) for p, tool, what in _OTHER]


def identify(name: str) -> tuple[str, str, str | None]:
    """(tool, what, the name it is a conflict copy of) for a name mstore does not write."""
    for rx, tool, what in _OTHER_RE[:4]:  # markers and temp names before conflict shapes
        if rx.fullmatch(name):
            return tool, what, None
    for rx, tool in _CONFLICT_RE:
        m = rx.fullmatch(name)
        if m:
            return tool, "conflict copy", m.group("stem") + (m.group("ext") or "")
    for rx, tool, what in _OTHER_RE[4:]:
        if rx.fullmatch(name):
            return tool, what, None
    return "unknown", "not a name mstore writes", None


def shown(path: str) -> str:
    """A name as read from the file system, for a message or JSON: bytes that are not UTF-8
    as \\xNN, control characters escaped, so that it is one line of valid text."""
    text = os.fsencode(path).decode("utf-8", "backslashreplace")
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _foreign(rel: str, name: str, is_dir: bool) -> Foreign:
    tool, what, copy_of = identify(name)
    return Foreign(rel + name + ("/" if is_dir else ""), tool, what,
                   shown(copy_of) if copy_of is not None else None)


def _entries(path: Path) -> list[os.DirEntry]:
    try:
        with os.scandir(path) as it:
            return sorted(it, key=lambda e: e.name)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _is_dir(e: os.DirEntry) -> bool:
    try:
        return e.is_dir(follow_symlinks=False)
    except OSError:
        return False


def scan(store_root: Path) -> list[Foreign]:
    """Every foreign file or directory under ``objects/`` and ``records/`` (a foreign
    directory is one entry: what it holds is its tool's)."""
    out: list[Foreign] = []
    objects = store_root / "objects"
    for e in _entries(objects):
        isdir = _is_dir(e)
        if e.name == "packs" and isdir:
            out += [_foreign("objects/packs/", p.name, _is_dir(p))
                    for p in _entries(objects / "packs")
                    if not (is_pack_name(p.name) and not _is_dir(p))]
        elif isdir and is_fanout(e.name):
            for sub in _entries(Path(e.path)):
                subdir = _is_dir(sub)
                rel = f"objects/{e.name}/"
                if not (subdir and is_fanout(sub.name)):
                    out.append(_foreign(rel, sub.name, subdir))
                    continue
                prefix = e.name + sub.name
                out += [_foreign(f"{rel}{sub.name}/", f.name, _is_dir(f))
                        for f in _entries(Path(sub.path))
                        if not (is_loose_name(f.name, prefix) and not _is_dir(f))]
        else:
            out.append(_foreign("objects/", e.name, isdir))
    for e in _entries(store_root / "records"):
        isdir = _is_dir(e)
        if isdir and is_lane(e.name):
            out += [_foreign(f"records/{e.name}/", s.name, _is_dir(s))
                    for s in _entries(Path(e.path))
                    if not (is_segment_name(s.name) and not _is_dir(s))]
        else:
            out.append(_foreign("records/", e.name, isdir))
    return out
