"""Talking to the run workflows from the command line (synchronous wrappers)."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from temporalio.client import Client
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import TLSConfig

from mstore.errors import TemporalUnreachableError, UsageError
from mstore.orchestration.inputs import RunInput
from mstore.orchestration.settings import TemporalSettings
from mstore.orchestration.workflows import RunWorkflow

if TYPE_CHECKING:
    from temporalio.runtime import Runtime

T = TypeVar("T")

class WorkflowGone(Exception):
    """Temporal has no workflow with that id (its server lost it, or it never started)."""


class Unreachable(TemporalUnreachableError):
    """Temporal did not answer (not running, wrong address)."""


def tls_config(ts: TemporalSettings) -> TLSConfig | bool:
    """``[temporal.tls]`` as the SDK takes it: the files read now, each unreadable one a
    usage error naming its key."""
    if ts.tls is None:
        return False
    files = {}
    for key in ("ca", "cert", "key"):
        path = getattr(ts.tls, key)
        if path:
            try:
                files[key] = Path(path).read_bytes()
            except OSError as e:
                raise UsageError(f"[temporal.tls] {key}: cannot read {path} "
                                 f"({e.strerror})") from None
    return TLSConfig(server_root_ca_cert=files.get("ca"), client_cert=files.get("cert"),
                     client_private_key=files.get("key"),
                     domain=ts.tls.server_name or None)


def _why(e: BaseException, ts: TemporalSettings) -> str:
    """The SDK's connect error in a few words."""
    text = " ".join(str(e).split())
    low = text.lower()
    if "refused" in low:
        return "connection refused"
    if ts.tls is not None:
        if "invalidcontenttype" in low:  # a plain-gRPC server answered the TLS hello
            return "the TLS handshake failed: the server does not speak TLS"
        if any(w in low for w in ("certificate", "handshake", "tls", "unknownissuer",
                                  "invaliddata")):
            return "the TLS handshake failed (is the server's certificate trusted by " \
                   "[temporal.tls] ca?): " + text[-160:]
    return text[:200]


async def connect(ts: TemporalSettings, runtime: Runtime | None = None) -> Client:
    """A client of the store's Temporal server; one line (exit 9) when it does not answer."""
    tls = tls_config(ts)
    try:
        return await Client.connect(ts.address, namespace=ts.namespace, runtime=runtime,
                                    tls=tls, identity=ts.identity or None)
    except RuntimeError as e:  # the SDK reports every connect failure so
        reason = _why(e, ts)
    # raised outside the except block, after a collection inside the loop: the SDK's
    # error (kept as __context__ otherwise) holds native objects whose release at
    # interpreter exit crashed the process (SIGSEGV/SIGABRT), as in ``call``
    gc.collect()
    await asyncio.sleep(0)
    hint = ("see [temporal.tls] in config.toml" if reason.startswith("the TLS") else
            "is it running? See [temporal] in config.toml")
    raise Unreachable(f"cannot reach the Temporal server at {ts.address} ({reason}); {hint}")


def call(ts: TemporalSettings, fn: Callable[[Client], Awaitable[T]]) -> T:
    """``await fn(client)`` on a fresh connection, from synchronous code.

    Each call gets a Temporal runtime (the SDK's Rust thread pool) of its own and shuts it
    down before returning. With the SDK's default runtime, a module global, those threads
    outlive the command: one that was still handing an RPC's result back to Python (it
    takes the GIL after the awaiting coroutine already has the result) when the
    interpreter began to finalize died with "Fatal Python error: PyGILState_Release" or
    SIGSEGV, after the command had done its work (temporalio/sdk-python#300). Dropping
    our own runtime here, with the interpreter alive, joins those threads first (the SDK
    releases the GIL while its runtime shuts down)."""
    from temporalio.runtime import Runtime, TelemetryConfig
    from temporalio.service import RPCError, RPCStatusCode

    runtime = [Runtime(telemetry=TelemetryConfig())]  # a list: emptied to drop it

    async def go() -> T:
        client = await connect(ts, runtime[0])
        try:
            return await fn(client)
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise WorkflowGone(e.message) from None
            if e.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
                raise Unreachable(f"the Temporal server at {ts.address} did not answer "
                                  f"({e.message})") from None
            raise
        finally:
            del client

    try:
        return asyncio.run(go())
    finally:
        # the client (and everything holding a clone of the runtime) is gone with the loop;
        # this is the last reference: its drop stops the runtime's threads and waits for them
        gc.collect()
        runtime.clear()


class Steering:
    """What a connected client does to a run's workflow: for the commands here (through
    ``call``), and for a worker doing it for the commands that ask over its socket
    (handoff.py), which sends the workflow's input as the JSON object it is."""

    def __init__(self, client: Client) -> None:
        self.client = client

    async def start(self, inp: RunInput | dict[str, Any], task_queue: str) -> None:
        run_id = inp["run_id"] if isinstance(inp, dict) else inp.run_id
        try:
            await self.client.start_workflow(RunWorkflow.run, inp,  # type: ignore[arg-type]
                                             id=run_id, task_queue=task_queue)
        except WorkflowAlreadyStartedError:
            pass  # the id is this run's: a worker whose answer came too late started it

    async def signal(self, run_id: str, name: str) -> None:
        await self.client.get_workflow_handle(run_id).signal(name)

    async def cancel(self, run_id: str) -> None:
        await self.client.get_workflow_handle(run_id).cancel()


def start(ts: TemporalSettings, inp: RunInput) -> None:
    call(ts, lambda c: Steering(c).start(inp, ts.workflow_queue))


def signal(ts: TemporalSettings, run_id: str, name: str) -> None:
    call(ts, lambda c: Steering(c).signal(run_id, name))


def cancel(ts: TemporalSettings, run_id: str) -> None:
    call(ts, lambda c: Steering(c).cancel(run_id))


def progress(ts: TemporalSettings, run_id: str) -> Any:
    async def go(c: Client) -> Any:
        return await c.get_workflow_handle(run_id).query(RunWorkflow.progress)

    return call(ts, go)
