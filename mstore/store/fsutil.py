"""Crash-safe file writing: temp file -> fsync -> rename -> fsync directory."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

# Filesystems whose locking / mmap semantics LMDB cannot rely on.
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse.sshfs", "afs", "ceph",
              "glusterfs", "fuse.rclone", "fuse.s3fs", "lustre", "virtiofs"}


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_once(target: Path, data: bytes, tmp_dir: Path, *, sync_dir: bool = True) -> None:
    """Write ``data`` to ``target`` so that ``target`` either does not exist or is complete.

    The temp file lives in ``tmp_dir`` (the store's ``local/tmp``, never synced) so a
    crash leaves no partial file where a file syncer would pick it up.
    """
    tmp_dir.mkdir(parents=True, exist_ok=True)
    tmp = tmp_dir / f"{target.name}.{os.getpid()}.tmp"
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
        side = target.with_name(f".{target.name}.{os.getpid()}.tmp")
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
