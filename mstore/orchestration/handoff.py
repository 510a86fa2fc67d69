"""Commands hand what they would tell Temporal to a worker of the store that is connected.

Starting, pausing, resuming or cancelling a run takes a Temporal client, and importing
the SDK for one costs a command about a quarter of a second — more than everything
else ``mstore run`` or ``mstore pause`` does. A worker of the store on this machine
already holds a connected client, so each listens on a Unix socket,
``local/temporal/starts/<pid>.sock`` (mode 0600: only its user may steer runs through
it), and does what it is asked. A command asks one; when none answers — no worker yet,
one killed (its socket file is removed), one of another Temporal server or namespace,
a failure (a workflow Temporal no longer has), a reply that does not come in
``REPLY_TIMEOUT_S`` — it does the same with a client of its own, which also words the
failure for the user.

The same socket vouches for an external server before a run is recorded (a worker
connected to it answers), where the command would otherwise connect just to check.

The exchange: the command sends one JSON object and shuts its side down; the worker
answers one JSON object and closes. Every request has ``"op"``, ``"address"``,
``"namespace"`` and ``"task_queue"`` (the workflow queue); a worker of another
server, namespace or store id answers false. Ops: ``"start"`` with ``"input"`` (the
``RunInput`` as a JSON object, exactly what the SDK's converter makes of the
dataclass), ``"signal"`` with ``"run_id"`` and ``"name"`` (pause, resume),
``"cancel"`` with ``"run_id"``, and ``"ping"``. Answer: ``{"ok": true}`` or
``{"ok": false, "error": "..."}``.

Nothing here imports the SDK: the worker passes in what its client does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import socket
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from mstore.orchestration.inputs import RunInput
from mstore.orchestration.settings import TemporalSettings

SUBDIR = "starts"
REPLY_TIMEOUT_S = 10.0  # a worker busy with tool processes still answers in milliseconds
MAX_REQUEST = 1 << 20
SUN_PATH_MAX = 100  # sockaddr_un holds 108 bytes; longer paths go through /proc/self/fd


def start(state_dir: Path, ts: TemporalSettings, inp: RunInput) -> bool:
    """Have a worker listening in ``state_dir`` start the run's workflow; False when none
    did (the caller starts it itself)."""
    return _any_says_ok(state_dir, ts, "start", input=dataclasses.asdict(inp))


def steer(state_dir: Path, ts: TemporalSettings, run_id: str, action: str) -> bool:
    """Have a worker pause, resume or cancel the run's workflow; False when none did."""
    if action == "cancel":
        return _any_says_ok(state_dir, ts, "cancel", run_id=run_id)
    return _any_says_ok(state_dir, ts, "signal", run_id=run_id, name=action)


def answers(state_dir: Path, ts: TemporalSettings) -> bool:
    """Whether a worker listening in ``state_dir`` is connected to ``ts``'s server."""
    return _any_says_ok(state_dir, ts, "ping")


def _any_says_ok(state_dir: Path, ts: TemporalSettings, op: str, **more: Any) -> bool:
    d = state_dir / SUBDIR
    try:
        names = sorted(n for n in os.listdir(d) if n.endswith(".sock"))
    except OSError:
        return False
    request = json.dumps({"op": op, "address": ts.address, "namespace": ts.namespace,
                          "task_queue": ts.workflow_queue, **more}).encode()
    return any(_ask(d, name, request) for name in names)


def _ask(d: Path, name: str, request: bytes) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(REPLY_TIMEOUT_S)
        try:
            with _sun_path(d, name) as path:
                s.connect(path)
        except ConnectionRefusedError:  # nobody listens: its worker is gone
            with contextlib.suppress(OSError):
                (d / name).unlink()
            return False
        except OSError:  # gone meanwhile, another user's, ...
            return False
        try:
            s.sendall(request)
            s.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
            answer = json.loads(b"".join(chunks))
        except (OSError, ValueError):  # a timeout, a worker that died answering
            return False
    return isinstance(answer, dict) and answer.get("ok") is True


@contextlib.contextmanager
def _sun_path(d: Path, name: str) -> Iterator[str]:
    """A path to ``d/name`` that fits a Unix socket address (a store's path may not)."""
    path = str(d / name)
    if len(path.encode()) <= SUN_PATH_MAX:
        yield path
        return
    fd = os.open(d, os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{name}"
    finally:
        os.close(fd)


class Temporal(Protocol):
    """What a worker's client does for the commands that ask it."""

    async def start(self, inp: dict[str, Any], task_queue: str) -> None: ...

    async def signal(self, run_id: str, name: str) -> None: ...

    async def cancel(self, run_id: str) -> None: ...


SIGNALS = ("pause", "resume")


async def listen(state_dir: Path, ts: TemporalSettings,
                 temporal: Temporal) -> Callable[[], Awaitable[None]]:
    """Serve starts from this worker's socket until the returned coroutine function is
    awaited (it closes the socket and removes its file)."""
    import asyncio  # the worker's side only: a command that asks does not load it (~20 ms)

    d = state_dir / SUBDIR
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    name = f"{os.getpid()}.sock"
    with contextlib.suppress(FileNotFoundError):
        (d / name).unlink()  # an earlier process's, with this pid
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with _sun_path(d, name) as path:
            sock.bind(path)
        os.chmod(d / name, 0o600)
        sock.listen(16)
    except OSError:
        sock.close()
        raise

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            data = await asyncio.wait_for(reader.read(MAX_REQUEST), REPLY_TIMEOUT_S)
            answer = await _serve(json.loads(data), ts, temporal)
        except Exception as e:  # noqa: BLE001 - the asker starts the workflow itself
            answer = {"ok": False, "error": f"{type(e).__name__}: {e}"[:500]}
        try:
            writer.write(json.dumps(answer).encode())
            await writer.drain()
            writer.close()
            await writer.wait_closed()
        except OSError:
            pass  # the asker gave up waiting

    server = await asyncio.start_unix_server(handle, sock=sock)

    async def close() -> None:
        server.close()
        await server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            (d / name).unlink()

    return close


async def _serve(req: Any, ts: TemporalSettings, temporal: Temporal) -> dict[str, Any]:
    if not isinstance(req, dict) or req.get("op") not in ("start", "signal", "cancel", "ping"):
        return {"ok": False, "error": "not a request of this protocol"}
    # a worker of another server, namespace or store id (config.toml changed since it
    # started) must not start the run somewhere else than the asker would
    for key, mine in (("address", ts.address), ("namespace", ts.namespace),
                      ("task_queue", ts.workflow_queue)):
        if req.get(key) != mine:
            return {"ok": False, "error": f"this worker's {key} is {mine}"}
    op = req["op"]
    if op == "start":
        inp = req.get("input")
        if not isinstance(inp, dict) or not isinstance(inp.get("run_id"), str):
            return {"ok": False, "error": "no run input"}
        await temporal.start(inp, ts.workflow_queue)
    elif op in ("signal", "cancel"):
        run_id = req.get("run_id")
        if not isinstance(run_id, str) or not run_id:
            return {"ok": False, "error": "no run id"}
        if op == "cancel":
            await temporal.cancel(run_id)
        elif req.get("name") in SIGNALS:
            await temporal.signal(run_id, req["name"])
        else:
            return {"ok": False, "error": f"no signal {req.get('name')!r}"}
    return {"ok": True}
