"""The receiving side of a transfer: every item is checked before it becomes visible, and
nothing that exists is overwritten.

An object must hash to its id; a segment must pass its checksum and name the lane and
number it arrives as. Small objects are gathered into packs of this copy's own (flushed
every PACK_FLUSH bytes, so an interrupted transfer loses at most that much), large ones are
streamed to a temp file and renamed into place. Packs are written before any segment
that follows them, so a record never names an object that is not durable here.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable

import blake3
import msgspec

from mstore.errors import StoreDamagedError
from mstore.store.fsutil import fsync_dir, temp_name, write_once
from mstore.store.layout import Layout
from mstore.store.objects import LOOSE_MIN, ObjectStore
from mstore.store.segments import is_lane, segment_name, verify
from mstore.sync.items import Item, ObjectItem, SegmentItem, Stored

PACK_FLUSH = 16 << 20


class _Header(msgspec.Struct):
    machine: str
    seq: int


_header = msgspec.msgpack.Decoder(_Header)


class Receiver:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.objects = ObjectStore(layout.objects, layout.tmp)
        self._pending: dict[str, bytes] = {}
        self._pending_size = 0
        self.stored = Stored()

    def take(self, items: Iterable[Item],
             progress: Callable[[Item], None] | None = None) -> Stored:
        try:
            for item in items:
                if isinstance(item, ObjectItem):
                    self._object(item)
                elif isinstance(item, SegmentItem):
                    self._flush()  # objects first: a record may name them
                    self._segment(item)
                else:
                    self.stored.gone += 1
                if progress is not None:
                    progress(item)
        finally:
            # what arrived whole stays, also when the connection broke mid-way
            self._flush()
        return self.stored

    # -- objects ----------------------------------------------------------------------------
    def _object(self, item: ObjectItem) -> None:
        hexid = item.oid.hex()
        if item.size >= LOOSE_MIN:
            self._loose(item, hexid)
            return
        data = b"".join(item.chunks)
        if len(data) != item.size or blake3.blake3(data).digest() != item.oid:
            self.stored.rejected.append(f"object {hexid}: does not match its id")
            return
        if hexid in self._pending:
            self.stored.had += 1
            return
        self._pending[hexid] = data
        self._pending_size += len(data)
        self.stored.objects += 1
        self.stored.object_bytes += len(data)
        if self._pending_size >= PACK_FLUSH:
            self._flush()

    def _loose(self, item: ObjectItem, hexid: str) -> None:
        target = self.objects.loose_path(hexid)
        if target.exists():
            for _ in item.chunks:  # keep the stream in step
                pass
            self.stored.had += 1
            return
        tmp_dir = self.layout.tmp
        tmp_dir.mkdir(parents=True, exist_ok=True)
        tmp = tmp_dir / temp_name(hexid)
        h = blake3.blake3()
        n = 0
        try:
            with open(tmp, "wb") as f:
                for chunk in item.chunks:
                    h.update(chunk)
                    f.write(chunk)
                    n += len(chunk)
                f.flush()
                os.fsync(f.fileno())
            if n != item.size or h.digest() != item.oid:
                os.unlink(tmp)
                self.stored.rejected.append(f"object {hexid}: does not match its id")
                return
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
            fsync_dir(target.parent)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        self.stored.objects += 1
        self.stored.object_bytes += n

    def _flush(self) -> None:
        if self._pending:
            self.objects.write_pack(self._pending)
            self._pending = {}
            self._pending_size = 0

    # -- segments ---------------------------------------------------------------------------
    def _segment(self, item: SegmentItem) -> None:
        where = f"segment {item.lane}/{segment_name(item.seq)}"
        if not is_lane(item.lane) or item.seq < 1:
            self.stored.rejected.append(f"{where}: not a lane and number of a segment")
            return
        target = self.layout.records / item.lane / segment_name(item.seq)
        if target.exists():
            self.stored.had += 1
            return
        try:
            head = _header.decode(verify(item.data))
        except (StoreDamagedError, msgspec.DecodeError) as e:
            self.stored.rejected.append(f"{where}: {getattr(e, 'message', e)}")
            return
        if (head.machine, head.seq) != (item.lane, item.seq):
            self.stored.rejected.append(
                f"{where}: its body says {head.machine}/{segment_name(head.seq)}")
            return
        write_once(target, item.data, self.layout.tmp)
        self.stored.segments += 1
        self.stored.segment_bytes += len(item.data)

