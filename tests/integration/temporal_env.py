"""A real Temporal dev server for the run tests, stores that use it, and their workers.

One ``temporal server start-dev`` (in-memory, headless) serves the whole session;
each test gets its own store over the shared fixture archive, configured with
``[temporal] address = ...`` so mstore treats the server as external, plus one or
more ``mstore worker`` subprocesses that the fixture stops at the end.

Helpers here read the store the way a user's tools would (the index, the record
segments, the Temporal client) and never import the worker's code paths.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import REPO, mstore, proc_stat

NOOP_PIPELINE = """\
name = "{name}"
description = "noop with a sleep: for timing tests"

[[steps]]
name = "noop"
tool = "noop"
params = {{ sleep = {sleep}, fail_on = "{fail_on}" }}
"""
TEMPORAL = Path(sys.executable).parent / "temporal"
NAMESPACE = "default"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.3):
            return True
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        return proc_stat(pid)[0] != b"Z"
    except OSError:
        return False


async def _client(address: str):  # noqa: ANN202 - temporalio.client.Client
    from temporalio.client import Client

    return await Client.connect(address, namespace=NAMESPACE)


def temporal(address: str, fn: Callable[[Any], Any]) -> Any:
    """Run ``await fn(client)`` against the server, synchronously."""

    async def go() -> Any:
        return await fn(await _client(address))

    return asyncio.run(go())


def wait_ready(address: str, timeout: float = 60.0) -> None:
    """Until the frontend answers and the namespace serves requests."""
    deadline = time.monotonic() + timeout

    async def go() -> None:
        while True:
            try:
                c = await _client(address)
                await c.count_workflows()
                return
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)

    asyncio.run(go())


@dataclass
class DevServer:
    port: int
    proc: subprocess.Popen | None = None
    log: Path | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, log: Path) -> DevServer:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [str(TEMPORAL), "server", "start-dev", "--headless", "--ip", "127.0.0.1",
                 "--port", str(self.port), "--log-level", "error"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True)
        try:
            wait_ready(self.address)
        except Exception as e:
            self.stop()
            raise RuntimeError(f"temporal dev server did not start: {log.read_text()[-2000:]}"
                               ) from e
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def temporal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """One real dev server (in-memory state) for the session."""
    log = tmp_path_factory.mktemp("temporal") / "server.log"
    server = DevServer(free_port()).start(log)
    yield server
    server.stop()


# --------------------------------------------------------------------------- stores


def store_key(store: Path) -> str:
    from mstore.orchestration.settings import settings
    from mstore.store.store import Store

    st = Store(store)
    try:
        return settings(st).store_key
    finally:
        st.close()


@dataclass
class RunStore:
    """A store over an archive, on the session's Temporal server, with its workers."""

    path: Path
    archive: Path
    address: str
    workers: list[subprocess.Popen] = field(default_factory=list)
    logs: Path | None = None

    # -- workers -----------------------------------------------------------------
    def start_worker(self, concurrency: int | None = None, wait: bool = True,
                     queues: str | None = None) -> subprocess.Popen:
        """``mstore worker`` as a subprocess (own process group). The first live one is
        also written to the store's worker pid file, so ``mstore run`` does not start a
        background worker of its own."""
        argv = [sys.executable, "-m", "mstore", "--store", str(self.path), "worker"]
        if concurrency:
            argv += ["--concurrency", str(concurrency)]
        if queues:
            argv += ["--queues", queues]
        log = self.path / "local" / f"worker-{len(self.workers)}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(argv, cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=out, start_new_session=True)
        self.workers.append(proc)
        pidfile = self.path / "local" / "temporal" / "worker.pid"
        pidfile.parent.mkdir(parents=True, exist_ok=True)
        if not any(p.poll() is None for p in self.workers[:-1]):
            pidfile.write_text(f"{proc.pid}\n")
        if wait:
            self.wait_worker(proc, queue=(queues or "cpu").split(",")[0])
        return proc

    def wait_worker(self, proc: subprocess.Popen, timeout: float = 60.0, queue: str = "cpu"
                    ) -> None:
        """Until the worker has opened the store and started polling ``queue`` — this
        process, not another copy's worker already polling the same queue."""
        deadline = time.monotonic() + timeout
        log = self.path / "local" / f"worker-{self.workers.index(proc)}.log"
        key = store_key(self.path)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"worker exited {proc.returncode}: {log.read_text()}")
            if self.pollers(f"mstore-{key}-{queue}", proc.pid) >= 1:
                return
            time.sleep(0.2)
        raise TimeoutError("the worker did not start polling")

    def pollers(self, queue: str, pid: int | None = None) -> int:
        """Workers polling ``queue``; with ``pid``, only that process (the last part of
        a worker's identity)."""
        from mstore.orchestration.activities import identity_parts
        from mstore.orchestration.pollers import activity_pollers

        def counted(ident: str) -> bool:
            parts = identity_parts(ident)
            return pid is None or (parts is not None and parts[2] == str(pid))

        async def go(c) -> int:  # noqa: ANN001
            return sum(map(counted, await activity_pollers(c, queue)))

        return temporal(self.address, go)

    def kill_worker(self, proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(timeout=30)

    def stop_workers(self) -> None:
        for p in self.workers:
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
        for p in self.workers:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        # a background worker `mstore run` may have started by itself (pid file)
        pidfile = self.path / "local" / "temporal" / "worker.pid"
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            info = json.loads(pidfile.read_text())  # {"pid", ...}, or a bare pid
            pid = info if isinstance(info, int) else int(info["pid"])
            if pid_alive(pid) and pid not in {p.pid for p in self.workers}:
                os.killpg(pid, signal.SIGTERM)
                deadline = time.monotonic() + 20
                while pid_alive(pid) and time.monotonic() < deadline:
                    time.sleep(0.1)
                if pid_alive(pid):
                    os.killpg(pid, signal.SIGKILL)

    # -- reading the store ---------------------------------------------------------
    @contextlib.contextmanager
    def open(self) -> Iterator[Any]:
        from mstore.store.store import Store

        st = Store(self.path)
        try:
            st.catch_up()
            yield st
        finally:
            st.close()

    def view(self, run_id: str) -> Any:
        from mstore.runs.progress import view

        with self.open() as st:
            return view(st, run_id, failures=1000)

    def wait(self, run_id: str, pred: Callable[[Any], bool], timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            v = self.view(run_id)
            if v is not None and pred(v):
                return v
            if time.monotonic() > deadline:
                raise TimeoutError(f"run {run_id}: condition not met in {timeout}s; last view "
                                   f"{v.as_dict() if v else None}\n{self.worker_logs()}")
            time.sleep(0.2)

    def wait_end(self, run_id: str, timeout: float = 90.0) -> Any:
        from mstore.runs.progress import TERMINAL

        return self.wait(run_id, lambda v: v.state in TERMINAL, timeout)

    def worker_logs(self) -> str:
        out = []
        for f in sorted((self.path / "local").glob("worker-*.log")):
            out.append(f"--- {f.name}\n{f.read_text(errors='replace')[-3000:]}")
        bg = self.path / "local" / "temporal" / "worker.log"
        if bg.exists():
            out.append(f"--- background worker\n{bg.read_text(errors='replace')[-3000:]}")
        return "\n".join(out)

    def run(self, *args: str) -> str:
        """``mstore run ARGS`` in this process; returns the run id."""
        r = mstore("run", *args, store=self.path)
        assert r.code == 0, r.err + r.out
        return r.out.strip().splitlines()[0]

    def run_and_wait(self, *args: str, timeout: float = 90.0) -> Any:
        return self.wait_end(self.run(*args), timeout)

    def started(self, run_id: str) -> Any:
        from mstore.store import index_runs

        with self.open() as st, st.index.read() as txn:
            return index_runs.run_info(st.index, txn, run_id).started

    def units(self, run_id: str) -> list[str]:
        import msgspec

        rs = self.started(run_id)
        with self.open() as st:
            return list(msgspec.msgpack.decode(st.objects.get(rs.units_object)))

    def unit_states(self, run_id: str) -> dict[tuple[str, str], Any]:
        """(step, unit) -> the index's coverage state."""
        from mstore.store import index_runs

        with self.open() as st, st.index.read() as txn:
            return {(s, u): state for s, u, state in index_runs.run_units(st.index, txn, run_id)}

    def run_artifacts(self, run_id: str) -> list[Any]:
        from mstore.store import index_runs

        with self.open() as st, st.index.read() as txn:
            return index_runs.run_artifacts(st.index, txn, run_id, newest_first=False)

    def artifact(self, art_id: str) -> Any:
        from mstore.store import index_runs

        with self.open() as st, st.index.read() as txn:
            return index_runs.artifact(st.index, txn, art_id)

    def records(self) -> list[Any]:
        """Every record in the store's segments (the truth, not the index)."""
        from mstore.store.segments import list_segments, read_segment

        out = []
        for seg in list_segments(self.path / "records"):
            out.extend(read_segment(seg.path))
        return out

    def unit_record_counts(self, run_id: str) -> Counter:
        """How many UnitDone records the segments hold per (step, unit) of a run."""
        from mstore.model.records import UnitDone

        return Counter((r.step, r.unit) for r in self.records()
                       if isinstance(r, UnitDone) and r.run == run_id)

    def asset_ids_by_path(self) -> dict[str, str]:
        """'archive/rel/path' -> asset id, from ``mstore find``."""
        rows = mstore("find", "--json", store=self.path).json_lines()
        return {p: r["id"] for r in rows for p in r["paths"]}

    def asset_kinds(self) -> dict[str, str]:
        """asset id -> kind, from ``mstore find``."""
        return {r["id"]: r["kind"] for r in mstore("find", "--json", store=self.path).json_lines()}

    def write_pipeline(self, name: str, text: str) -> None:
        d = self.path / "pipelines"
        d.mkdir(exist_ok=True)
        (d / f"{name}.toml").write_text(text)

    def noop_pipeline(self, name: str = "slow", sleep: float = 0.0, fail_on: str = "") -> str:
        """A one-step pipeline of the ``noop`` tool in this store's pipelines/."""
        self.write_pipeline(name, NOOP_PIPELINE.format(name=name, sleep=sleep, fail_on=fail_on))
        return name

    # -- Temporal ------------------------------------------------------------------
    def temporal(self, fn: Callable[[Any], Any]) -> Any:
        return temporal(self.address, fn)

    def workflow_executions(self, run_id: str) -> list[Any]:
        """Every execution (run) of the workflow ``run_id``, oldest first."""

        async def go(c) -> list:  # noqa: ANN001
            return [w async for w in c.list_workflows(f'WorkflowId = "{run_id}"')]

        return sorted(self.temporal(go), key=lambda w: w.start_time)

    def history_events(self, run_id: str, execution: str | None = None) -> list[Any]:
        """The events of the run's workflow history: its current execution's, or those
        of ``execution`` (a Temporal run id: one before a continue-as-new)."""

        async def history(c):  # noqa: ANN001, ANN202
            return await c.get_workflow_handle(run_id, run_id=execution).fetch_history()

        return list(self.temporal(history).events)

    def chunk_activities(self, run_id: str) -> list[tuple[str, dict]]:
        """(task queue, input) of every chunk activity the run's workflow scheduled (its
        current execution's history), in order."""
        return self.activities(run_id, "mstore-run-chunk")

    def workflow_input(self, run_id: str) -> dict:
        """The input the run's workflow (its current execution) was started with."""
        first = self.history_events(run_id)[0].workflow_execution_started_event_attributes
        return json.loads(first.input.payloads[0].data)

    def activities(self, run_id: str, name: str) -> list[tuple[str, dict]]:
        """(task queue, input) of every activity of type ``name`` the run's workflow
        scheduled (its current execution's history), in order."""
        from temporalio.api.enums.v1 import EventType

        out = []
        for e in self.history_events(run_id):
            if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
                a = e.activity_task_scheduled_event_attributes
                if a.activity_type.name == name:
                    out.append((a.task_queue.name, json.loads(a.input.payloads[0].data)))
        return out


def make_store(base: Path, archive: Path, address: str | None, *,
               temporal_toml: str | None = None) -> RunStore:
    """``mstore init`` + ``add`` over ``archive``; ``[temporal]`` pointing at ``address``
    (an external server) unless ``temporal_toml`` gives the section's body instead."""
    store = base / "store"
    assert mstore("init", "--store", store, archive).code == 0
    body = temporal_toml if temporal_toml is not None else f'address = "{address}"\n'
    with open(store / "config.toml", "a") as f:
        f.write(f"\n[temporal]\n{body}")
    r = mstore("add", store=store)
    assert r.code == 0, r.err
    return RunStore(store, archive, address or "")


@pytest.fixture
def run_store(temporal_server: DevServer, archive, tmp_path: Path  # noqa: ANN001
              ) -> Iterator[Callable[..., RunStore]]:
    """A factory: ``run_store(workers=1, concurrency=None, over=None)`` -> a cataloged store
    over the session archive (or ``over``) on the session's server, with its workers."""
    made: list[RunStore] = []

    def make(workers: int = 1, concurrency: int | None = None,
             over: Path | None = None) -> RunStore:
        base = tmp_path / f"s{len(made)}"
        base.mkdir()
        rs = make_store(base, over or archive[0], temporal_server.address)
        made.append(rs)
        for _ in range(workers):
            rs.start_worker(concurrency)
        return rs

    yield make
    for rs in made:
        rs.stop_workers()


@pytest.fixture(scope="session")
def kinds_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small archive with an exact duplicate (same bytes at two paths) of every kind, a
    valid video without an audio track, and a near-duplicate image."""
    import io
    import random

    from PIL import Image

    from tests.fixtures.archive import _media, _picture

    root = tmp_path_factory.mktemp("kinds") / "archive"
    picture = _picture(random.Random(0), 640, 480)

    def jpeg(img: Image.Image) -> bytes:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=90)
        return buf.getvalue()

    files = {
        "photos/sun.jpg": jpeg(picture), "copies/sun.jpg": jpeg(picture),
        "photos/sun-small.jpg": jpeg(picture.resize((608, 456))),
        "clips/talk.mp4": _media("mp4", vcodec="mpeg4", acodec="aac"),
        "clips/silent.mp4": _media("mp4", vcodec="mpeg4", acodec=None, seconds=1.5),
        "sounds/tone.wav": _media("wav", vcodec=None, acodec="pcm_s16le"),
        "notes/todo.txt": b"buy milk\ncall home\n" * 20,
        "blobs/data.bin": bytes(range(256)) * 40,
    }
    files["copies/talk.mp4"] = files["clips/talk.mp4"]
    files["copies/silent.mp4"] = files["clips/silent.mp4"]
    files["copies/tone.wav"] = files["sounds/tone.wav"]
    files["copies/todo.txt"] = files["notes/todo.txt"]
    files["copies/data.bin"] = files["blobs/data.bin"]
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return root
