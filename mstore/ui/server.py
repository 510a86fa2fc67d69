"""Serving the UI: uvicorn with its h11 protocol, plus limits on the request head and a
graceful close.

uvicorn's h11 protocol answers a head it finds too big with a bare 400 (and h11 only
checks the size while the head is incomplete: a 100 KB URL that arrives in one read
passes). Here a request line over ``MAX_REQUEST_LINE`` bytes is answered 414 and a head
over ``MAX_HEAD`` bytes 431, before h11 parses it.

uvicorn also closes the socket right after an answer given before the request was read
to its end (a refused head, a form field Starlette finds too big): closing with unread
data makes the kernel send a reset, and the client reports "connection reset" instead of
the answer. Here every close is graceful ("lingering"): our side is shut for writing,
what the client still sends is read and dropped, and the socket closes when the client
closes its side (at most ``LINGER_SECONDS`` later; at once when the server stops).
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

import h11
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

MAX_REQUEST_LINE = 64 * 1024  # method, target and version: the URL is most of it
MAX_HEAD = 128 * 1024  # the request line and every header
LINGER_SECONDS = 5.0


def head_status(head: bytes | bytearray) -> HTTPStatus | None:
    """414 or 431 when the start of a request, ``head``, is already over a limit."""
    line_end = head.find(b"\n")
    if line_end > MAX_REQUEST_LINE or (line_end < 0 and len(head) > MAX_REQUEST_LINE):
        return HTTPStatus.REQUEST_URI_TOO_LONG
    ends = [i for i in (head.find(b"\n\r\n"), head.find(b"\n\n")) if i >= 0]
    if (min(ends) if ends else len(head)) > MAX_HEAD:
        return HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE
    return None


class LingeringTransport:
    """A connection's transport whose ``close`` shuts only our side for writing and lets
    the client finish; everything else is the transport's own."""

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.lingering = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)

    def is_closing(self) -> bool:
        return self.lingering or self.transport.is_closing()

    def close(self) -> None:
        if self.is_closing():
            return
        if not self.transport.can_write_eof():
            self.transport.close()
            return
        try:
            self.transport.write_eof()  # after what is queued: the client reads the answer
        except OSError:  # the client is gone already
            self.transport.close()
            return
        self.lingering = True
        self.transport.resume_reading()  # and what it still sends is read (and dropped)
        asyncio.get_running_loop().call_later(LINGER_SECONDS, self.transport.close)

    def close_now(self) -> None:
        self.transport.close()


class BoundedH11Protocol(H11Protocol):
    """uvicorn's h11 protocol with the head limits above and lingering closes."""

    transport: LingeringTransport  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head = bytearray()  # the start of the request h11 has not parsed yet

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(LingeringTransport(transport))  # type: ignore[arg-type]

    def data_received(self, data: bytes) -> None:
        if self.transport.lingering:
            return  # answered and closing: read and drop the rest
        if self.conn.their_state is h11.IDLE:  # the head of a request is arriving
            self._head += data[: MAX_HEAD + 4 - len(self._head)]
            status = head_status(self._head)
            if status is not None:
                self._refuse(status)
                return
        super().data_received(data)
        if self.conn.their_state is not h11.IDLE:  # the head was parsed
            self._head.clear()

    def shutdown(self) -> None:
        super().shutdown()
        if self.transport.lingering:
            self.transport.close_now()  # the server is stopping: no time to linger

    def _refuse(self, status: HTTPStatus) -> None:
        self._unset_keepalive_if_required()
        what = "request line" if status == HTTPStatus.REQUEST_URI_TOO_LONG else "request head"
        limit = MAX_REQUEST_LINE if status == HTTPStatus.REQUEST_URI_TOO_LONG else MAX_HEAD
        self.logger.warning("refused a %s over %d bytes (%d)", what, limit, status)
        body = f"{status.value} {status.phrase}: the {what} is over {limit} bytes\n".encode()
        self.transport.write(
            b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: %d\r\nconnection: close\r\n\r\n%s"
            % (status.value, status.phrase.encode(), len(body), body))
        self.transport.close()


def serve(app: Any, host: str, port: int) -> None:
    """Serve ``app`` until interrupted (always h11: the limits are enforced on it)."""
    uvicorn.run(app, host=host, port=port, log_level="warning", http=BoundedH11Protocol,
                h11_max_incomplete_event_size=MAX_HEAD + 1024)
