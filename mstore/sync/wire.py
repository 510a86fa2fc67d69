"""The frames a transfer sends over ssh: a 4-byte big-endian length, then a MessagePack map
(or, with the length's top bit set, raw bytes: a piece of a large object or a pack).

A request is one frame (``op``: hello, inventory, get, put, bye); an answer is one frame,
or for ``get`` a stream of item frames ended by ``{"end": 1}``. An item frame is
``{"o": id, "n": size, "d": bytes}`` for an object that fits one frame, ``{"o": id, "n":
size}`` followed by raw frames for a large one, ``{"p": name, "n": size}`` and raw frames
for a whole pack file, ``{"x": id}`` for an object
the sender no longer has, ``{"s": lane, "q": seq, "d": bytes}`` for a segment. ``put``
sends the same stream the other way and is answered with what was stored. A frame
``{"error": message}`` ends an exchange: the other side failed and says why.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO

import msgspec

from mstore.sync.items import CHUNK, GoneItem, Item, ObjectItem, PackItem, SegmentItem

PROTOCOL = 1
MAX_FRAME = 64 << 20  # no honest frame is larger: a corrupt length must not allocate GBs

_enc = msgspec.msgpack.Encoder()
_dec = msgspec.msgpack.Decoder(dict)


class WireError(Exception):
    """The stream broke or carries something that is not a frame."""


RAW = 1 << 31  # a length with this bit set: the frame is raw bytes, a piece of a file


def send(out: BinaryIO, msg: dict) -> None:
    body = _enc.encode(msg)
    out.write(struct.pack(">I", len(body)))
    out.write(body)


def send_raw(out: BinaryIO, data: bytes) -> None:
    """A piece of a large object or pack: sent as it is, not wrapped in MessagePack, so
    neither side copies it once more to encode or decode it."""
    out.write(struct.pack(">I", len(data) | RAW))
    out.write(data)


def recv(inp: BinaryIO) -> dict:
    """The next frame; a raw one comes as ``{"d": bytes}``."""
    head = inp.read(4)
    if len(head) < 4:
        raise WireError("the connection closed")
    (n,) = struct.unpack(">I", head)
    raw = bool(n & RAW)
    n &= ~RAW
    if n > MAX_FRAME:
        raise WireError(f"a frame of {n} bytes (not an mstore on the other side?)")
    body = inp.read(n)
    if len(body) < n:
        raise WireError("the connection closed mid-frame")
    if raw:
        return {"d": body}
    try:
        return _dec.decode(body)
    except msgspec.DecodeError as e:
        raise WireError(f"an undecodable frame: {e}") from None


def send_items(out: BinaryIO, items: Iterable[Item]) -> None:
    for item in items:
        if isinstance(item, ObjectItem):
            if item.size <= CHUNK:
                send(out, {"o": item.oid, "n": item.size, "d": b"".join(item.chunks)})
            else:
                send(out, {"o": item.oid, "n": item.size})
                for chunk in item.chunks:
                    send_raw(out, chunk)
        elif isinstance(item, PackItem):
            send(out, {"p": item.name, "n": item.size})
            for chunk in item.chunks:
                send_raw(out, chunk)
        elif isinstance(item, SegmentItem):
            send(out, {"s": item.lane, "q": item.seq, "d": item.data})
        else:
            send(out, {"x": item.oid})
    send(out, {"end": 1})


def recv_items(inp: BinaryIO | Callable[[], dict]) -> Iterator[Item]:
    """The items of a stream, until its end frame (``inp``: the stream, or a function that
    returns its next frame). A large object's chunks must be read before the next item is
    asked for (each item's ``chunks`` reads the stream)."""
    next_frame = inp if callable(inp) else (lambda: recv(inp))
    while True:
        msg = next_frame()
        if "error" in msg:
            raise WireError(str(msg["error"]))
        if "end" in msg:
            return
        if "o" in msg:
            if "d" in msg:
                yield ObjectItem(msg["o"], msg["n"], iter((msg["d"],)))
            else:
                yield ObjectItem(msg["o"], msg["n"], _chunks(next_frame, msg["n"]))
        elif "p" in msg:
            yield PackItem(msg["p"], msg["n"], _chunks(next_frame, msg["n"]))
        elif "s" in msg:
            yield SegmentItem(msg["s"], msg["q"], msg["d"])
        elif "x" in msg:
            yield GoneItem(msg["x"])
        else:
            raise WireError(f"an unexpected frame: {sorted(msg)}")


def last_of_answer(msg: dict) -> bool:
    """Whether a frame ends a stream of items (its end, or an error)."""
    return "end" in msg or "error" in msg


def _chunks(next_frame: Callable[[], dict], size: int) -> Iterator[bytes]:
    got = 0
    while got < size:
        msg = next_frame()
        data = msg.get("d")
        if not isinstance(data, bytes):
            raise WireError("an object's bytes were cut short")
        got += len(data)
        yield data
