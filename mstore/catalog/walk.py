"""Walk an archive root without ever leaving it or writing to it.

Works on bytes paths so names that are not valid UTF-8 survive exactly.
Directory symlinks are never followed (no loops, no duplicates). A link to a
regular file inside the same root is yielded as a ``WalkLink`` naming the path it
resolves to: it is recorded as a link, never read, so it never becomes a second
path of its target's content (it is not a copy). Everything that cannot be
cataloged is yielded as a ``WalkError`` with a stable reason, never raised.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from typing import Protocol

import msgspec

from mstore.catalog.ignore import IgnoreRules
from mstore.store.reader import EXPECTED, TAKEN, PresentPaths


class WalkFile(msgspec.Struct):
    rel: bytes  # path relative to the root, b"/"-separated
    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int


class WalkLink(msgspec.Struct):
    rel: bytes
    target: bytes  # the file it resolves to (every link on the way followed), root-relative


class Signature(Protocol):
    """A file's stat as the index recorded it (a PathState): ctime_ns 0, not recorded."""

    size: int
    mtime_ns: int
    inode: int
    ctime_ns: int


def unchanged_since(sig: Signature, size: int, mtime_ns: int, inode: int, ctime_ns: int) -> bool:
    """Whether a file with this stat can be taken as unchanged since ``sig``.

    Like git, the inode change time is compared too: a tool that writes a file in place
    and then puts its mtime back cannot put back its ctime. Records made before ctime
    was recorded (ctime 0) are compared on the other three fields.
    """
    return (sig.size == size and sig.mtime_ns == mtime_ns and sig.inode == inode
            and (sig.ctime_ns == ctime_ns or not sig.ctime_ns))


class WalkError(msgspec.Struct):
    rel: bytes
    reason: str
    detail: str = ""
    is_dir: bool = False  # a directory we could not list: its old children are not "missing"


def _oserror_detail(e: OSError) -> str:
    return f"{errno.errorcode.get(e.errno or 0, 'E?')}: {e.strerror}"


def _inside(root_real: bytes, target: bytes) -> bool:
    return target == root_real or target.startswith(root_real.rstrip(b"/") + b"/")


def walk(root: bytes, start: bytes = b"", rules: IgnoreRules | None = None,
         skip_dirs: frozenset[bytes] = frozenset(),
         expect: PresentPaths | None = None,
         unchanged: list[int] | None = None) -> Iterator[WalkFile | WalkLink | WalkError]:
    """Yield every catalogable file (and every error) under ``root/start``.

    ``skip_dirs`` are absolute real paths never entered (e.g. the store itself).
    ``expect`` holds the known paths and their states: every walked path is taken from
    it, and a regular file whose stat is unchanged since (``unchanged_since``, inlined)
    is not yielded but counted in ``unchanged[0]``. This keeps the unchanged rescan,
    the common case, to one stat, one dict lookup and four array reads per file.
    """
    if expect is None:
        expect = PresentPaths()
    if unchanged is None:
        unchanged = [0]
    same = 0  # unchanged files, counted here and added to ``unchanged`` once per directory
    # PresentPaths.take, inlined: a row found is marked TAKEN; it may be skipped when it
    # was EXPECTED and its stat is unchanged
    row_of, marks = expect.rows.get, expect.marks
    sizes, mtimes, inodes, ctimes = expect.size, expect.mtime, expect.inode, expect.ctime
    # bound once: the per-file loop is the hot path of every rescan
    ignored_file = rules.file_matcher() if rules else None
    isreg = stat.S_ISREG
    root_real = os.path.realpath(root)
    stack = [start.strip(b"/")]
    while stack:
        rel_dir = stack.pop()
        abs_dir = os.path.join(root, rel_dir) if rel_dir else root
        try:
            with os.scandir(abs_dir) as it:
                entries = list(it)
        except OSError as e:
            reason = "unreadable-dir" if e.errno in (errno.EACCES, errno.EPERM) else "dir-error"
            yield WalkError(rel_dir, reason, _oserror_detail(e), is_dir=True)
            continue
        prefix = rel_dir + b"/" if rel_dir else b""
        subdirs = []
        files = []
        for entry in entries:
            try:  # d_type answers this without a syscall (else a failure shows at its stat)
                is_dir = entry.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            if is_dir:
                name = entry.name
                rel = prefix + name
                if not (rules and rules.ignores_dir(name)) and \
                        os.path.join(root_real, rel) not in skip_dirs:
                    subdirs.append(rel)
            elif ignored_file is None or not ignored_file(entry.name):
                files.append(entry)
        # this loop is where an unchanged rescan spends its time: per file one stat, one
        # dict lookup, a mark and four array reads (unchanged_since, inlined)
        for entry in files:
            name = entry.name
            rel = prefix + name
            try:
                st = entry.stat(follow_symlinks=False)
            except OSError as e:
                yield WalkError(rel, "stat-error", _oserror_detail(e))
                continue
            mode = st.st_mode
            k = row_of(rel, -1)
            if k >= 0:
                mark = marks[k]
                marks[k] = TAKEN
                if mark != EXPECTED:
                    k = -1
            if isreg(mode):
                if (k >= 0 and sizes[k] == st.st_size and mtimes[k] == st.st_mtime_ns
                        and inodes[k] == st.st_ino
                        and (ctimes[k] == st.st_ctime_ns or not ctimes[k])):
                    same += 1
                    continue
                yield WalkFile(rel, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)
            elif stat.S_ISLNK(mode):
                yield _symlink(root_real, rel, os.path.join(abs_dir, name))
            elif stat.S_ISFIFO(mode):
                yield WalkError(rel, "fifo", "named pipe: not a file")
            elif stat.S_ISSOCK(mode):
                yield WalkError(rel, "socket", "socket: not a file")
            elif stat.S_ISDIR(mode):
                subdirs.append(rel)  # replaced by a directory since it was listed
            else:
                yield WalkError(rel, "device", "device node: not a file")
        unchanged[0] += same
        same = 0
        subdirs.sort()
        stack.extend(reversed(subdirs))


def _symlink(root_real: bytes, rel: bytes, abs_path: bytes) -> WalkLink | WalkError:
    try:
        target = os.readlink(abs_path)
    except OSError as e:
        return WalkError(rel, "symlink-error", _oserror_detail(e))
    try:
        real = os.path.realpath(abs_path, strict=True)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return WalkError(rel, "symlink-loop", f"-> {os.fsdecode(target)}")
        return WalkError(rel, "broken-symlink", f"-> {os.fsdecode(target)}")
    if not _inside(root_real, real):
        return WalkError(rel, "symlink-outside", f"-> {os.fsdecode(target)} (not followed)")
    try:
        st = os.stat(real)
    except OSError as e:
        return WalkError(rel, "broken-symlink", _oserror_detail(e))
    if stat.S_ISDIR(st.st_mode):
        link_dir = os.path.realpath(os.path.dirname(abs_path))
        if _inside(real, link_dir):  # points at one of its own ancestors: a cycle
            return WalkError(rel, "symlink-loop", f"-> {os.fsdecode(target)} (a directory "
                             "containing the link)")
        return WalkError(rel, "symlink-dir", f"-> {os.fsdecode(target)} (directory links are "
                         "not followed)")
    if not stat.S_ISREG(st.st_mode):
        return WalkError(rel, "symlink-special", f"-> {os.fsdecode(target)}")
    return WalkLink(rel, real[len(root_real.rstrip(b"/")) + 1:])


def walk_one(root: bytes, rel: bytes, rules: IgnoreRules | None = None
             ) -> list[WalkFile | WalkLink | WalkError]:
    """The walk result for a single path (a file, link or special file), honouring ignores."""
    name = os.path.basename(rel)
    if rules and rules.ignores_file(name):
        return []
    # an ignored directory anywhere above the path hides it too
    parts = rel.split(b"/")[:-1]
    if rules and any(rules.ignores_dir(p) for p in parts):
        return []
    abs_path = os.path.join(root, rel)
    try:
        st = os.lstat(abs_path)
    except FileNotFoundError:
        return []
    except OSError as e:
        return [WalkError(rel, "stat-error", _oserror_detail(e))]
    mode = st.st_mode
    if stat.S_ISREG(mode):
        return [WalkFile(rel, st.st_size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns)]
    if stat.S_ISLNK(mode):
        return [_symlink(os.path.realpath(root), rel, abs_path)]
    if stat.S_ISFIFO(mode):
        return [WalkError(rel, "fifo", "named pipe: not a file")]
    if stat.S_ISSOCK(mode):
        return [WalkError(rel, "socket", "socket: not a file")]
    if stat.S_ISDIR(mode):
        return []
    return [WalkError(rel, "device", "device node: not a file")]
