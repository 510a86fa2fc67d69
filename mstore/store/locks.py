"""The store's write lock: one writer (add, watch, reindex, fsck) per store per machine.

Mutual exclusion is an ``flock`` on ``local/locks/<name>.lock``: the kernel drops it
when the holder dies, so a lock left by a killed process is taken over at once.
The file also says who holds it (host, pid, process start time, command) so a
refusal can name the holder, and ``mstore unlock`` can clear a lock whose holder
is gone for good (e.g. a store on a disk that moved between machines).
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from pathlib import Path

from mstore.errors import StoreLockedError


def hostname() -> str:
    """This host's name, as ``socket.gethostname()`` gives it (both read uname's nodename),
    without importing ``socket``, which read commands would load for this alone."""
    return os.uname().nodename


def process_start(pid: int) -> str:
    """Start time of ``pid`` in clock ticks since boot (distinguishes a reused pid); "" if
    there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
        return stat.rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return ""


def process_cmdline(pid: int) -> list[str] | None:
    """The command line of ``pid``, or None when it cannot be read (gone, or hidden)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            raw = f.read()
    except OSError:
        return None
    return [os.fsdecode(a) for a in raw.split(b"\0")[:-1]] if raw else None


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host and is not a zombie (a process of
    another user counts as alive: we may not signal it, but it is there)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def same_process(pid: int, start: str) -> bool:
    """Whether ``pid`` is alive and is the process that started at ``start`` (from
    ``process_start``), not a later one that was given the same pid."""
    return pid_alive(pid) and bool(start) and process_start(pid) == start


_own_tag: tuple[int, str] = (0, "")


def owner_tag() -> str:
    """``<pid>-<start>`` of this process: names it on this host for as long as it lives
    (temp files carry it, so ``fsck`` can tell whether their writer is still there)."""
    global _own_tag
    pid = os.getpid()
    if _own_tag[0] != pid:  # first call, or a forked child
        _own_tag = (pid, f"{pid}-{process_start(pid)}")
    return _own_tag[1]


def holder_alive(info: dict) -> bool:
    if info.get("host") != hostname():
        return True  # cannot tell for another host: assume alive
    pid = int(info.get("pid", 0))
    if not pid_alive(pid):
        return False
    started = info.get("start", "")
    return not started or process_start(pid) == started


class WriteLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def read_holder(self) -> dict:
        import json  # here: read commands never take a lock, and start faster without it

        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            info = self.read_holder()
            who = f"pid {info.get('pid', '?')} on {info.get('host', '?')}"
            cmd = info.get("command", "")
            raise StoreLockedError(
                f"store is locked by {who}" + (f" ({cmd})" if cmd else "")
                + "; wait for it, or run 'mstore unlock' if that process is gone"
            ) from None
        info = {
            "host": hostname(),
            "pid": os.getpid(),
            "start": process_start(os.getpid()),
            "since": time.time(),
            "command": " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])[:200],
        }
        import json

        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> WriteLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
