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

import msgspec

from mstore.query.rowfacts import RowFacts, row_facts

WHOLE_READ_MAX = 64 << 20  # read files up to this size in one go
CHUNK = 8 << 20
HEAD = 64 << 10
RACY_NS = 10_000_000  # a change this close before the read makes the result racy
RACY_COARSE_NS = 2_000_000_000  # ... on a file system with whole-second timestamps

_noatime = getattr(os, "O_NOATIME", 0)


class FileResult(msgspec.Struct, array_like=True, gc=False):
    """What reading one file gave: its stat, content id and probed facts, or why it
    could not be read (``reason``). Workers send batches of these, msgpack-encoded."""

    rel: bytes
    size: int = 0
    mtime_ns: int = 0
    inode: int = 0
    ctime_ns: int = 0
    racy: bool = False  # changed less than RACY_NS before it was read (see the module doc)
    asset: str = ""
    # the probe's Meta, msgpack-encoded in the worker: the record takes it as it is
    # (``msgspec.Raw``), so the process that writes records never decodes it
    meta: bytes = b""
    # what the Meta puts in the asset's row of the catalog table: a new asset's row is
    # made from it without decoding the Meta (query/snapshot.py)
    facts: RowFacts | None = None
    reason: str = ""  # set when the file could not be hashed
    detail: str = ""


_meta_encoder = msgspec.msgpack.Encoder()
_batch_encoder = msgspec.msgpack.Encoder()
_batch_decoder = msgspec.msgpack.Decoder(list[FileResult])


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


def _oserror(e: OSError) -> str:
    return f"{errno.errorcode.get(e.errno or 0, 'E?')}: {e.strerror}"


def process(abs_path: bytes, rel: bytes) -> FileResult:
    """Hash and probe one file (never raises for what the file holds or how it fails)."""
    # imported here: the process that writes the records (an unchanged rescan: all it
    # does) never needs them, nor Pillow/PyAV, which the probers import when they run
    import blake3

    from mstore.catalog.probe import probe

    try:
        fd = open_readonly(abs_path)
    except OSError as e:
        reason = "unreadable" if e.errno in (errno.EACCES, errno.EPERM) else "open-error"
        if e.errno == errno.ELOOP:
            reason = "symlink-loop"
        return FileResult(rel, reason=reason, detail=_oserror(e))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            return FileResult(rel, reason="not-a-file", detail="changed into a non-regular file")
        os.set_blocking(fd, True)
        read_start = time.time_ns()
        if st.st_size <= WHOLE_READ_MAX:
            data = _read_whole(fd, st.st_size)
            asset = blake3.blake3(data).hexdigest()
            meta = probe(io.BytesIO(data), len(data), data[:HEAD])
            size = len(data)
        else:
            h = blake3.blake3()
            with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
                size = 0
                head = b""
                while chunk := f.read(CHUNK):
                    if not head:
                        head = chunk[:HEAD]
                    h.update(chunk)
                    size += len(chunk)
                f.seek(0)
                meta = probe(f, size, head)
            asset = h.hexdigest()
        st2 = os.fstat(fd)
        if (st2.st_size != size or st2.st_mtime_ns != st.st_mtime_ns
                or st2.st_ctime_ns != st.st_ctime_ns):
            return FileResult(rel, reason="changed-while-reading",
                              detail="the file changed while it was read")
        return FileResult(rel, size, st.st_mtime_ns, st.st_ino, st.st_ctime_ns,
                          is_racy(st.st_ctime_ns, read_start), asset,
                          _meta_encoder.encode(meta), row_facts(meta))
    except OSError as e:
        return FileResult(rel, reason="read-error", detail=_oserror(e))
    finally:
        os.close(fd)


def _read_whole(fd: int, size: int) -> bytes:
    """The file's bytes, read with as few copies and calls as possible: one ``read`` of
    one byte more than its size. Getting exactly ``size`` bytes is the whole file unless
    it changed, and the ``fstat`` after reading tells that; anything else reads on to
    the end (a short read, a file that grew)."""
    data = os.read(fd, size + 1)
    if len(data) == size:
        return data
    parts = [data]
    while chunk := os.read(fd, CHUNK):
        parts.append(chunk)
    return b"".join(parts)


def is_racy(ctime_ns: int, read_start_ns: int) -> bool:
    """Whether a file last changed at ``ctime_ns`` could change again unnoticed after a
    read that began at ``read_start_ns`` (see the module doc)."""
    tick = RACY_COARSE_NS if ctime_ns % 1_000_000_000 == 0 else RACY_NS
    return ctime_ns > read_start_ns - tick


def process_batch(root: bytes, rels: list[bytes]) -> bytes:
    """Hash and probe the files ``rels`` of ``root`` (run in a worker process): their
    results, msgpack-encoded in one piece (``decode_batch`` reads it back)."""
    prefix = root.rstrip(b"/") + b"/"
    return _batch_encoder.encode([process(prefix + rel, rel) for rel in rels])


def decode_batch(data: bytes) -> list[FileResult]:
    return _batch_decoder.decode(data)
