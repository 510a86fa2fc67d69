"""Hash and probe one file: the per-file work of ``add``, run in worker processes.

Files are opened read-only with O_NOATIME where the kernel permits it (owner or
root), O_NOFOLLOW (a path swapped for a link is not followed) and O_NONBLOCK (a
path swapped for a FIFO cannot hang us). Small files are read whole, once, and
both hashed and probed from memory; large ones are hashed in big chunks and
probed through the open file. Nothing is memory-mapped: a file truncated by
another process while mapped would kill the worker with SIGBUS.

Racily clean files (git's term): the kernel stamps a change with a clock that
advances in ticks (at most 10 ms on Linux; whole seconds on file systems such as
HFS+, ext3 or some network shares), so a file that changed just before it was read
could change again after it was read, within the same tick, and keep the same
(size, mtime, ctime). Such a result is marked ``racy`` (its ctime is less than a
tick older than the read: 10 ms, or 2 s when the ctime is a whole second, the
sign of a coarse file system) and ``add`` reads that file again next time instead
of trusting its stat. A file server's clock is assumed to agree with ours.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import time
from dataclasses import dataclass

import blake3

from mstore.model.meta import Meta

WHOLE_READ_MAX = 64 << 20  # read files up to this size in one go
CHUNK = 8 << 20
HEAD = 64 << 10
RACY_NS = 10_000_000  # a change this close before the read makes the result racy
RACY_COARSE_NS = 2_000_000_000  # ... on a file system with whole-second timestamps

_noatime = getattr(os, "O_NOATIME", 0)


@dataclass(slots=True)
class FileJob:
    abs_path: bytes
    rel: bytes
    size: int
    mtime_ns: int
    inode: int


@dataclass(slots=True)
class FileResult:
    rel: bytes
    size: int = 0
    mtime_ns: int = 0
    inode: int = 0
    ctime_ns: int = 0
    racy: bool = False  # changed less than RACY_NS before it was read (see the module doc)
    asset: str = ""
    meta: Meta | None = None
    reason: str = ""  # set when the file could not be hashed
    detail: str = ""


def open_readonly(path: bytes) -> int:
    """Open for reading without touching atime when allowed; never follow a final link."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    if _noatime:
        try:
            return os.open(path, flags | _noatime)
        except PermissionError:
            pass  # O_NOATIME needs ownership (EPERM); fall back, the open itself may still work
        except OSError as e:
            if e.errno != errno.EPERM:
                raise
    return os.open(path, flags)


def process(job: FileJob, *, probe_meta: bool = True) -> FileResult:
    from mstore.catalog.probe import probe  # lazily: keeps Pillow/PyAV out of the CLI start

    res = FileResult(job.rel)
    try:
        fd = open_readonly(job.abs_path)
    except OSError as e:
        res.reason = "unreadable" if e.errno in (errno.EACCES, errno.EPERM) else "open-error"
        if e.errno == errno.ELOOP:
            res.reason = "symlink-loop"
        res.detail = f"{errno.errorcode.get(e.errno or 0, 'E?')}: {e.strerror}"
        return res
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            res.reason, res.detail = "not-a-file", "changed into a non-regular file"
            return res
        os.set_blocking(fd, True)
        read_start = time.time_ns()
        h = blake3.blake3()
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
            if st.st_size <= WHOLE_READ_MAX:
                data = _read_all(f, st.st_size)
                h.update(data)
                meta = probe(io.BytesIO(data), len(data), data[:HEAD]) if probe_meta else None
                size = len(data)
            else:
                size = 0
                head = b""
                while chunk := f.read(CHUNK):
                    if not head:
                        head = chunk[:HEAD]
                    h.update(chunk)
                    size += len(chunk)
                f.seek(0)
                meta = probe(f, size, head) if probe_meta else None
        st2 = os.fstat(fd)
        if (st2.st_size != size or st2.st_mtime_ns != st.st_mtime_ns
                or st2.st_ctime_ns != st.st_ctime_ns):
            res.reason, res.detail = "changed-while-reading", "the file changed while it was read"
            return res
        res.size, res.mtime_ns, res.inode = size, st.st_mtime_ns, st.st_ino
        res.ctime_ns = st.st_ctime_ns
        res.racy = is_racy(st.st_ctime_ns, read_start)
        res.asset = h.hexdigest()
        res.meta = meta
        return res
    except OSError as e:
        res.reason = "read-error"
        res.detail = f"{errno.errorcode.get(e.errno or 0, 'E?')}: {e.strerror}"
        return res
    finally:
        os.close(fd)


def is_racy(ctime_ns: int, read_start_ns: int) -> bool:
    """Whether a file last changed at ``ctime_ns`` could change again unnoticed after a
    read that began at ``read_start_ns`` (see the module doc)."""
    tick = RACY_COARSE_NS if ctime_ns % 1_000_000_000 == 0 else RACY_NS
    return ctime_ns > read_start_ns - tick


def _read_all(f: io.RawIOBase, expected: int) -> bytes:
    buf = bytearray()
    while True:
        chunk = f.read(max(expected - len(buf), 0) or CHUNK)
        if not chunk:
            return bytes(buf)
        buf += chunk


def process_batch(jobs: list[FileJob]) -> list[FileResult]:
    return [process(j) for j in jobs]
