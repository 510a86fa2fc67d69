"""Crash-safe file writing: temp file -> fsync -> rename -> fsync directory.

Every temp entry is named for its owner, ``<stem>.<pid>-<start>.tmp`` (start: the
process's start time in clock ticks since boot), so ``fsck`` removes only the leftovers
of writers that are gone, never a file or directory a live process is still using.
"""

from __future__ import annotations

import contextlib
import os
import re
from pathlib import Path

from mstore.store.locks import owner_tag, pid_alive, same_process

# Filesystems whose locking / mmap semantics LMDB cannot rely on.
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "afs", "ceph",
              "glusterfs", "fuse.rclone", "fuse.s3fs", "lustre", "virtiofs"}


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ``.<pid>-<start>.tmp``; ``.<pid>.tmp`` is how temp files were named before the start time
_TEMP_OWNER = re.compile(r"\.(\d+)(?:-(\d+))?\.tmp$")


def temp_name(stem: str) -> str:
    """The name of a temp entry of this process: ``<stem>.<pid>-<start>.tmp``."""
    return f"{stem}.{owner_tag()}.tmp"


def temp_owner_alive(name: str) -> bool | None:
    """Whether the process that a temp entry's name names is still alive on this host;
    None for a name that names no owner."""
    m = _TEMP_OWNER.search(name)
    if m is None:
        return None
    pid, start = int(m.group(1)), m.group(2)
    if start is None:  # an old-style name: the pid alone (a reused pid keeps it)
        return pid_alive(pid)
    return same_process(pid, start)


def write_once(target: Path, data: bytes, tmp_dir: Path, *, sync_dir: bool = True) -> None:
    """Write ``data`` to ``target`` so that ``target`` either does not exist or is complete.

    The temp file lives in ``tmp_dir`` (the store's ``local/tmp``, never synced) so a
    crash leaves no partial file where a file syncer would pick it up.
    """
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / temp_name(target.name)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)  # a full disk must not leave half a file behind
        raise
    os.close(fd)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.replace(tmp, target)
    except OSError:
        # local/ on another filesystem: fall back to a temp name next to the target
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        side = target.with_name("." + temp_name(target.name))
        try:
            side.write_bytes(data)
            with open(side, "rb+") as f:
                os.fsync(f.fileno())
            os.replace(side, target)
        except BaseException:
            side.unlink(missing_ok=True)
            raise
    if sync_dir:
        fsync_dir(target.parent)


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding ``path``, from /proc/self/mounts ('' if unknown)."""
    try:
        real = os.path.realpath(path)
        best, best_type = "", ""
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.split()
                if len(parts) < 3:
                    continue
                mnt = parts[1].replace("\\040", " ")
                if (real == mnt or real.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                    best, best_type = mnt, parts[2]
        return best_type
    except OSError:
        return ""


def is_network_fs(path: Path) -> bool:
    return filesystem_type(path) in NETWORK_FS


def free_bytes(path: Path) -> int:
    """Bytes an unprivileged writer may still use on the file system holding ``path``."""
    try:
        st = os.statvfs(path)
    except OSError:
        return -1
    return st.f_bavail * st.f_frsize
