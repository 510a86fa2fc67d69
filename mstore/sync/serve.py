"""``mstore sync-serve PATH``: the far end of an ssh transfer. It reads request frames on
stdin and answers on stdout (wire.py) with the store at PATH as a ``LocalEndpoint``; the
connection's end (or ``bye``) ends it. Errors go back as an ``error`` frame, one line."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

from mstore.errors import MstoreError
from mstore.sync import wire
from mstore.sync.endpoint import LocalEndpoint
from mstore.sync.items import Item, ObjectItem
from mstore.sync.pump import FrameReader, ThreadedWriter


def serve(root: Path) -> None:
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    ep: LocalEndpoint | None = None
    while True:
        try:
            msg = wire.recv(inp)
        except wire.WireError:
            return  # the client went away: nothing half-done stays visible
        op = msg.get("op")
        if op == "bye":
            return
        try:
            if ep is None:
                ep = LocalEndpoint(root)
            if op == "hello":
                wire.send(out, ep.hello())
            elif op == "inventory":
                wire.send(out, ep.inventory(objects=bool(msg.get("objects", True))).encode())
            elif op == "get":
                segs = [(str(lane), int(seq)) for lane, seq in msg.get("segments", [])]
                writer = ThreadedWriter(out)  # ssh takes frames while the next are read
                try:
                    wire.send_items(writer, ep.fetch(list(msg.get("objects", [])), segs,
                                                     [str(p) for p in msg.get("packs", [])]))
                    writer.flush()
                finally:
                    writer.close()
            elif op == "put":
                # frames are read ahead in a thread while this one checks and writes
                ahead = FrameReader(lambda: wire.recv(inp), wire.last_of_answer)
                items = wire.recv_items(ahead.next)
                try:
                    stored = ep.put(items)
                except MstoreError:
                    _drain(items)  # read the rest of the stream, so the answer is next
                    raise
                wire.send(out, {"stored": stored.as_dict()})
            else:
                wire.send(out, {"error": f"unknown request '{op}' (a newer mstore asked?)"})
        except MstoreError as e:
            wire.send(out, {"error": e.message})
        except wire.WireError:
            return
        out.flush()


def _drain(items: Iterator[Item]) -> None:
    for item in items:
        if isinstance(item, ObjectItem):
            for _ in item.chunks:
                pass
