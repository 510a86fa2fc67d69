"""The socket through which a worker starts and steers runs' workflows for commands
(orchestration/handoff.py): what they send, what a worker refuses, and what is left when
a worker is gone. The worker's Temporal calls are replaced by lists that record what it
was asked to do; the integration tests run the whole path against a real server."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mstore.orchestration import handoff
from mstore.orchestration.inputs import RunInput, Stage
from mstore.orchestration.settings import TemporalSettings

TS = TemporalSettings(address="127.0.0.1:7233", namespace="default", embedded=True, port=7233,
                      ui_port=8233, store_key="k1")
INP = RunInput(run_id="r-1", store="k1", total=3, chunk_size=1, max_concurrency=2,
               control_queue="mstore-k1-wf@m", stages=[Stage("mstore-k1-cpu", ["a", "b"])])


class Worker:
    """``handoff.listen`` on an event loop in a thread, as ``mstore worker`` runs it."""

    def __init__(self, state_dir: Path, ts: TemporalSettings = TS, fail: bool = False) -> None:
        self.started: list[tuple[dict[str, Any], str]] = []
        self.told: list[tuple[str, str]] = []  # (run id, signal name or "cancel")
        self.fail = fail
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.close = self._call(handoff.listen(state_dir, ts, self))

    async def start(self, inp: dict[str, Any], queue: str) -> None:
        if self.fail:
            raise RuntimeError("the server said no")
        self.started.append((inp, queue))

    async def signal(self, run_id: str, name: str) -> None:
        if self.fail:
            raise RuntimeError("workflow not found")
        self.told.append((run_id, name))

    async def cancel(self, run_id: str) -> None:
        await self.signal(run_id, "cancel")

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def stop(self) -> None:
        self._call(self.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def worker_at() -> Iterator[Any]:
    made: list[Worker] = []

    def make(state_dir: Path, **kw: Any) -> Worker:
        made.append(Worker(state_dir, **kw))
        return made[-1]

    yield make
    for w in made:
        if not w.loop.is_closed():
            w.stop()


def sock_file(state_dir: Path) -> Path:
    return state_dir / handoff.SUBDIR / f"{os.getpid()}.sock"


def test_a_listening_worker_starts_the_run_as_it_was_asked(tmp_path: Path, worker_at) -> None:  # noqa: ANN001
    w = worker_at(tmp_path)
    f = sock_file(tmp_path)
    assert stat.S_ISSOCK(f.stat().st_mode) and stat.S_IMODE(f.stat().st_mode) == 0o600
    assert handoff.start(tmp_path, TS, INP) is True
    # exactly the JSON the SDK's converter makes of the dataclass
    assert w.started == [(dataclasses.asdict(INP), "mstore-k1-wf")]
    assert handoff.answers(tmp_path, TS) is True and len(w.started) == 1
    w.stop()
    assert not f.exists()  # a worker that stops takes its socket with it
    assert handoff.start(tmp_path, TS, INP) is False
    assert handoff.answers(tmp_path, TS) is False


def test_pause_resume_and_cancel_are_told_by_the_worker(tmp_path: Path, worker_at) -> None:  # noqa: ANN001
    w = worker_at(tmp_path)
    for action in ("pause", "resume", "cancel"):
        assert handoff.steer(tmp_path, TS, "r-1", action) is True
    assert w.told == [("r-1", "pause"), ("r-1", "resume"), ("r-1", "cancel")]
    assert handoff.steer(tmp_path, TS, "r-1", "explode") is False  # no such signal
    assert w.told[3:] == [] and w.started == []


def test_a_store_path_longer_than_a_socket_address_still_works(tmp_path: Path,
                                                              worker_at) -> None:  # noqa: ANN001
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    w = worker_at(deep)
    assert len(str(sock_file(deep))) > 108
    assert handoff.start(deep, TS, INP) is True and len(w.started) == 1


def test_a_worker_of_another_server_namespace_or_store_does_not_start_it(
        tmp_path: Path, worker_at) -> None:  # noqa: ANN001
    w = worker_at(tmp_path)
    for other in (dataclasses.replace(TS, address="10.0.0.9:7233"),
                  dataclasses.replace(TS, namespace="elsewhere"),
                  dataclasses.replace(TS, store_key="k2")):
        assert handoff.start(tmp_path, other, INP) is False
        assert handoff.answers(tmp_path, other) is False
        assert handoff.steer(tmp_path, other, "r-1", "cancel") is False
    assert w.started == [] and w.told == []
    assert handoff.start(tmp_path, TS, INP) is True


def test_a_failed_start_leaves_it_to_the_asker(tmp_path: Path, worker_at) -> None:  # noqa: ANN001
    worker_at(tmp_path, fail=True)
    assert handoff.start(tmp_path, TS, INP) is False
    assert handoff.steer(tmp_path, TS, "r-1", "pause") is False
    assert sock_file(tmp_path).exists()  # the worker is alive: its socket stays


def test_a_killed_workers_socket_file_is_removed_and_others_are_asked(
        tmp_path: Path, worker_at) -> None:  # noqa: ANN001
    d = tmp_path / handoff.SUBDIR
    d.mkdir()
    dead = d / "1.sock"  # sorts first: asked first
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(dead))
    s.close()  # bound, never listening again: what kill -9 leaves
    (d / "notes.txt").write_text("not a socket of ours")
    w = worker_at(tmp_path)
    assert handoff.start(tmp_path, TS, INP) is True and len(w.started) == 1
    assert not dead.exists() and (d / "notes.txt").exists()


def test_no_worker_directory_means_no_handoff(tmp_path: Path) -> None:
    assert handoff.start(tmp_path, TS, INP) is False
