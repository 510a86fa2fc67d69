"""The receiving side of a transfer: every item is checked before it becomes visible, and
nothing that exists is overwritten.

An object must hash to its id, a whole pack to its name (and each of its objects to its
id); a segment must pass its checksum and name the lane and number it arrives as. Objects
sent one by one are gathered into packs of this copy's own when small (flushed every
PACK_FLUSH bytes, so an interrupted transfer loses at most that much); large ones are
streamed to a temp file and renamed into place. Packs are written before any segment
that follows them, so a record never names an object that is not durable here.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

import blake3
import msgspec

from mstore.errors import StoreDamagedError
from mstore.store.fsutil import fsync_dir, temp_name, write_once
from mstore.store.layout import Layout
from mstore.store.objects import (
    LOOSE_MIN,
    ObjectStore,
    intact_objects,
    pack_directory,
    verify_pack_objects,
)
from mstore.store.segments import is_lane, segment_name, verify
from mstore.sync.items import Item, ObjectItem, PackItem, SegmentItem, Stored

PACK_FLUSH = 16 << 20
MAX_SEQ = 9_999_999_999  # segment numbers are ten digits (docs/format.md 3.1)
_PACK_NAME = re.compile(r"^[0-9a-f]{64}$")


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
                elif isinstance(item, PackItem):
                    self._pack(item)
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
        tmp, digest, n = self._to_temp(hexid, item.chunks)
        if n != item.size or digest != item.oid:
            os.unlink(tmp)
            self.stored.rejected.append(f"object {hexid}: does not match its id")
            return
        self._place(tmp, target)
        self.stored.objects += 1
        self.stored.object_bytes += n

    def _pack(self, item: PackItem) -> None:
        """A whole pack, streamed to a temp file while its name is hashed; then each of its
        objects is hashed from the file (mapped, not copied) before it is renamed in."""
        if not _PACK_NAME.match(item.name):  # a name from the other side: never a path
            for _ in item.chunks:
                pass
            self.stored.rejected.append(f"pack {item.name[:80]!r}: not a pack's name")
            return
        target = self.layout.objects / "packs" / f"{item.name}.pack"
        if target.exists():
            for _ in item.chunks:
                pass
            self.stored.had += 1
            return
        tmp, digest, n = self._to_temp(f"{item.name}.pack", item.chunks)
        try:
            with open(tmp, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
                if n != item.size or digest.hex() != item.name:
                    problems = [f"{item.name}.pack: does not match its name"]
                else:
                    problems = verify_pack_objects(m, f"{item.name}.pack")
                if problems:
                    self._salvage(item.name, m[:])
                    count = 0
                else:
                    count = len(pack_directory(m, item.name))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        if problems:
            os.unlink(tmp)
            return
        self._place(tmp, target)
        self.stored.objects += count
        self.stored.object_bytes += n

    def _to_temp(self, stem: str, chunks: Iterable[bytes]) -> tuple[Path, bytes, int]:
        """Chunks written to a durable temp file: (its path, their BLAKE3, their length)."""
        self.layout.tmp.mkdir(parents=True, exist_ok=True)
        tmp = self.layout.tmp / temp_name(stem)
        h = blake3.blake3()
        n = 0
        try:
            with open(tmp, "wb") as f:
                for chunk in chunks:
                    h.update(chunk)
                    f.write(chunk)
                    n += len(chunk)
                f.flush()
                os.fsync(f.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return tmp, h.digest(), n

    @staticmethod
    def _place(tmp: Path, target: Path) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        fsync_dir(target.parent)

    def _salvage(self, name: str, data: bytes) -> None:
        """A pack that failed its check: its objects that still match their ids are kept
        (repacked here), each one that does not is rejected, as if sent one by one."""
        good = intact_objects(data)
        try:
            listed = [oid for oid, _off, _ln in pack_directory(data, name)]
        except StoreDamagedError:
            listed = []
        for oid in listed:
            if oid not in good:
                self.stored.rejected.append(f"object {oid}: does not match its id")
        if not listed and not good:
            self.stored.rejected.append(f"pack {name}: not a pack")
        for oid, payload in good.items():
            self._object(ObjectItem(bytes.fromhex(oid), len(payload), iter((payload,))))

    def _flush(self) -> None:
        if self._pending:
            self.objects.write_pack(self._pending)
            self._pending = {}
            self._pending_size = 0

    # -- segments ---------------------------------------------------------------------------
    def _segment(self, item: SegmentItem) -> None:
        where = f"segment {item.lane}/{segment_name(item.seq)}"
        if not is_lane(item.lane) or not 1 <= item.seq <= MAX_SEQ:
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

