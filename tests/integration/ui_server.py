"""``mstore ui`` as a real server process, and raw HTTP over a socket to it."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.helpers import REPO
from tests.integration.temporal_env import free_port


class UiServer:
    """``mstore --store STORE ui --port P [args]``, its output in ``log``."""

    def __init__(self, store: Path, *args: str) -> None:
        self.store = store
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = store / "local" / "ui-test.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mstore", "--store", str(store), "ui", "--port",
                 str(self.port), *args], cwd=REPO, stdin=subprocess.DEVNULL, stdout=out,
                stderr=out, start_new_session=True)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"mstore ui did not start: {self.log.read_text()}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def raw(self, request: bytes, stop_at_stream: bool = False) -> tuple[int, bytes]:
        """Send ``request`` as it is, read the answer to the end (``stop_at_stream``: or to
        the head of an event stream): (status, whole answer). A connection reset (or any
        socket error) fails the caller with that error."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=60) as s:
            s.sendall(request)
            answer = b""
            while chunk := s.recv(65536):
                answer += chunk
                head = answer.split(b"\r\n\r\n", 1)[0].lower()
                if stop_at_stream and b"content-type: text/event-stream" in head:
                    break
        return int(answer.split(b" ", 2)[1]), answer
