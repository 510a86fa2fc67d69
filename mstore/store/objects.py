"""Write-once payloads named by their BLAKE3 hash.

Large objects (>= LOOSE_MIN bytes) are loose files ``objects/ab/cd/<hex>``.
Small ones are buffered and written together into packs,
``objects/packs/<pack-hex>.pack``, laid out as (integers big-endian)::

    magic        8 bytes  b"MSTPACK1"
    entries      for each object: id (32 bytes) + length (8 bytes) + payload
    directory    msgpack list of [id (bytes), offset of payload, length]
    dir_len      8 bytes  length of the directory
    checksum    32 bytes  BLAKE3 of everything before it

A pack is named by the BLAKE3 of its whole content, so it describes and checks
itself: a reader needs no other file to list or verify what it holds.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import msgspec

from mstore.errors import StoreDamagedError
from mstore.store.fsutil import fsync_dir, write_once

PACK_MAGIC = b"MSTPACK1"
LOOSE_MIN = 1 << 20  # 1 MiB
PACK_TARGET = 32 << 20  # flush a pack at 32 MiB (design range 16-64 MiB)


def object_id(data: bytes) -> str:
    import blake3  # here, not at the top: most read commands never need it

    return blake3.blake3(data).hexdigest()


class ObjectStore:
    def __init__(self, objects_dir: Path, tmp_dir: Path) -> None:
        self.dir = objects_dir
        self.tmp = tmp_dir
        self._pending: dict[str, bytes] = {}
        self._pending_size = 0
        self._pack_dir_cache: dict[str, tuple[str, int, int]] | None = None

    # -- writing --------------------------------------------------------------
    def loose_path(self, oid: str) -> Path:
        return self.dir / oid[:2] / oid[2:4] / oid

    def put(self, data: bytes) -> str:
        """Store ``data``; durable for large objects at once, for small ones at ``flush``."""
        oid = object_id(data)
        # the cached pack listing is enough here (a duplicate copy in a new pack is harmless),
        # as long as the pack it names still exists (gc may have rewritten it)
        loc = self._pack_index().get(oid)
        if (oid in self._pending or self.loose_path(oid).exists()
                or (loc is not None and (self.dir / "packs" / f"{loc[0]}.pack").exists())):
            return oid
        if len(data) >= LOOSE_MIN:
            write_once(self.loose_path(oid), data, self.tmp)
        else:
            self._pending[oid] = data
            self._pending_size += len(data)
            if self._pending_size >= PACK_TARGET:
                self.flush()
        return oid

    def flush(self) -> str | None:
        """Write buffered small objects as one pack. Returns the pack id, if any."""
        if not self._pending:
            return None
        pack_id = self.write_pack(self._pending)
        self._pending.clear()
        self._pending_size = 0
        return pack_id

    def write_pack(self, objects: dict[str, bytes]) -> str:
        """Write ``objects`` (id -> payload) as one new pack, durably; returns the pack id."""
        import blake3  # here, not at the top: most read commands never need it

        parts = [PACK_MAGIC]
        offset = len(PACK_MAGIC)
        directory = []
        for oid, data in sorted(objects.items()):
            raw = bytes.fromhex(oid)
            parts.append(raw + struct.pack(">Q", len(data)))
            offset += 40
            directory.append([raw, offset, len(data)])
            parts.append(data)
            offset += len(data)
        d = msgspec.msgpack.encode(directory)
        parts += [d, struct.pack(">Q", len(d))]
        body = b"".join(parts)
        content = body + blake3.blake3(body).digest()
        pack_id = object_id(content)
        write_once(self.dir / "packs" / f"{pack_id}.pack", content, self.tmp)
        if self._pack_dir_cache is not None:
            # add the new pack's entries: forgetting the listing made the next put() read
            # every pack's directory again, which a run worker flushing a pack every few
            # seconds paid over and over (O(packs) per flush)
            for raw, off, ln in directory:
                self._pack_dir_cache[raw.hex()] = (pack_id, off, ln)
        return pack_id

    # -- reading --------------------------------------------------------------
    def _pack_index(self) -> dict[str, tuple[str, int, int]]:
        if self._pack_dir_cache is None:
            index: dict[str, tuple[str, int, int]] = {}
            for pack in self.packs():
                for oid, off, ln in read_pack_directory(pack):
                    index[oid] = (pack.stem, off, ln)
            self._pack_dir_cache = index
        return self._pack_dir_cache

    def packs(self) -> list[Path]:
        try:
            return sorted((self.dir / "packs").glob("*.pack"))
        except FileNotFoundError:
            return []

    def _locate(self, oid: str) -> tuple[str, int, int] | None:
        """Where a packed object is; a miss rereads the packs (another process, or a sync,
        may have added one since they were listed)."""
        loc = self._pack_index().get(oid)
        if loc is None:
            self._pack_dir_cache = None
            loc = self._pack_index().get(oid)
        return loc

    def has(self, oid: str) -> bool:
        return (
            oid in self._pending
            or self.loose_path(oid).exists()
            or self._locate(oid) is not None
        )

    def get(self, oid: str) -> bytes:
        if oid in self._pending:
            return self._pending[oid]
        try:
            data = self.loose_path(oid).read_bytes()
        except FileNotFoundError:
            loc = self._locate(oid)
            if loc is None:
                raise KeyError(oid) from None
            try:
                data = self._read_packed(loc)
            except FileNotFoundError:  # the pack was rewritten (gc) since it was listed
                self._pack_dir_cache = None
                loc = self._locate(oid)
                if loc is None:
                    raise KeyError(oid) from None
                data = self._read_packed(loc)
        if object_id(data) != oid:
            raise StoreDamagedError(f"object {oid} does not match its hash")
        return data

    def _read_packed(self, loc: tuple[str, int, int]) -> bytes:
        pack, off, ln = loc
        with open(self.dir / "packs" / f"{pack}.pack", "rb") as f:
            f.seek(off)
            return f.read(ln)

    def loose(self) -> Iterator[Path]:
        for path in self.dir.glob("??/??/*"):
            if len(path.name) == 64:
                yield path


def read_pack_directory(path: Path) -> list[tuple[str, int, int]]:
    """The (object id, payload offset, length) entries a pack says it holds."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size < 8 + 8 + 32:
            raise StoreDamagedError(f"{path}: too short for a pack")
        f.seek(size - 40)
        (dlen,) = struct.unpack(">Q", f.read(8))
        if dlen > size - 48:
            raise StoreDamagedError(f"{path}: bad directory length")
        f.seek(size - 40 - dlen)
        d = f.read(dlen)
        f.seek(0)
        if f.read(8) != PACK_MAGIC:
            raise StoreDamagedError(f"{path}: bad pack magic")
    try:
        return [(bytes(raw).hex(), off, ln) for raw, off, ln in msgspec.msgpack.decode(d)]
    except (msgspec.DecodeError, ValueError, TypeError) as e:
        raise StoreDamagedError(f"{path}: undecodable pack directory: {e}") from None


def verify_pack(path: Path) -> list[str]:
    """Full check of one pack: checksum, name, every object's hash. Returns problems."""
    return verify_pack_bytes(path.read_bytes(), path.stem)


def verify_pack_bytes(data: bytes, name: str) -> list[str]:
    """``verify_pack`` of a pack's content held in memory (one arriving by sync). The name
    is the hash of the whole content, so the trailing checksum is checked only to say more
    when the name does not match."""
    import blake3  # here, not at the top: most read commands never need it

    label = f"{name}.pack"
    if len(data) < 8 + 8 + 32 or data[:8] != PACK_MAGIC:
        return [f"{label}: not a pack (bad magic or too short)"]
    view = memoryview(data)  # slices without copies
    if blake3.blake3(view).hexdigest() != name:
        if blake3.blake3(view[:-32]).digest() != data[-32:]:
            return [f"{label}: pack checksum mismatch"]
        return [f"{label}: pack content does not match its name"]
    return verify_pack_objects(data, label)


def verify_pack_objects(data: bytes, label: str) -> list[str]:
    """Every object of a pack (bytes, or a mmap of its file) against its id."""
    import blake3  # here, not at the top: most read commands never need it

    if len(data) < 8 + 8 + 32 or data[:8] != PACK_MAGIC:
        return [f"{label}: not a pack (bad magic or too short)"]
    view = memoryview(data)
    problems = []
    try:
        for oid, off, ln in pack_directory(data, label):
            if off + ln > len(data) or blake3.blake3(view[off:off + ln]).hexdigest() != oid:
                problems.append(f"{label}: object {oid} damaged")
    except StoreDamagedError as e:
        problems.append(e.message)
    finally:
        view.release()
    return problems


def pack_directory(data: bytes, label: str) -> list[tuple[str, int, int]]:
    """The directory of a pack held in memory (``read_pack_directory`` reads a file's)."""
    (dlen,) = struct.unpack(">Q", data[-40:-32])
    if dlen > len(data) - 48:
        raise StoreDamagedError(f"{label}: bad directory length")
    d = data[len(data) - 40 - dlen:len(data) - 40]
    try:
        return [(bytes(raw).hex(), off, ln) for raw, off, ln in msgspec.msgpack.decode(d)]
    except (msgspec.DecodeError, ValueError, TypeError) as e:
        raise StoreDamagedError(f"{label}: undecodable pack directory: {e}") from None


def intact_objects(data: bytes) -> dict[str, bytes]:
    """The objects of a (possibly damaged) pack whose bytes still match their ids, found by
    walking the entries from the start, so neither the directory nor the tail is needed.
    An object that fails its hash is skipped; a length that runs past the end stops the
    walk (nothing after it can be located)."""
    out: dict[str, bytes] = {}
    if not data.startswith(PACK_MAGIC):
        return out
    pos = len(PACK_MAGIC)
    while pos + 40 <= len(data):
        oid = data[pos:pos + 32].hex()
        (ln,) = struct.unpack(">Q", data[pos + 32:pos + 40])
        end = pos + 40 + ln
        if end > len(data):
            break
        payload = data[pos + 40:end]
        if object_id(payload) == oid:
            out[oid] = payload
        pos = end
    return out


def sync_objects_dir(objects_dir: Path) -> None:
    fsync_dir(objects_dir)
