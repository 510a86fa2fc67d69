"""What one copy of a store holds, listed from its files (no index needed, so a store
being written by another process lists the same way): every object id, with where it
lives, and every record segment by (lane, sequence number).

Objects are compared by id, not by file: two machines pack the same small objects into
different packs, so the difference of two pack listings would move copies both sides
already have. Segments are compared by name: a sealed segment never changes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from mstore.errors import StoreDamagedError
from mstore.store.objects import read_pack_directory
from mstore.store.segments import list_segments

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_HEX2 = re.compile(r"^[0-9a-f]{2}$")


@dataclass(frozen=True)
class Where:
    """Where an object's bytes are: a pack (name, payload offset) or a loose file."""

    pack: str  # "" for a loose object
    offset: int
    size: int


@dataclass
class Inventory:
    objects: dict[bytes, Where] = field(default_factory=dict)  # 32-byte id -> where
    segments: set[tuple[str, int]] = field(default_factory=set)  # (lane, seq)
    packs: dict[str, int] = field(default_factory=dict)  # pack name -> file size

    # -- the form that crosses the wire: ids joined, segments per lane --------------------
    def encode(self) -> dict:
        lanes: dict[str, list[int]] = {}
        for lane, seq in self.segments:
            lanes.setdefault(lane, []).append(seq)
        names = list(self.packs)
        number = {name: i for i, name in enumerate(names)}
        return {"objects": b"".join(self.objects),
                "sizes": [w.size for w in self.objects.values()],
                "in_pack": [number[w.pack] if w.pack else -1 for w in self.objects.values()],
                "packs": [[name, self.packs[name]] for name in names], "lanes": lanes}

    @classmethod
    def decode(cls, msg: dict) -> Inventory:
        raw: bytes = msg["objects"]
        inv = cls()
        names = [name for name, _size in msg["packs"]]
        inv.packs = {name: size for name, size in msg["packs"]}
        for i, (size, pack) in enumerate(zip(msg["sizes"], msg["in_pack"], strict=True)):
            inv.objects[raw[32 * i:32 * i + 32]] = Where(names[pack] if pack >= 0 else "", 0,
                                                         size)
        inv.segments = {(lane, seq) for lane, seqs in msg["lanes"].items() for seq in seqs}
        return inv


def of_store(root: Path, *, objects: bool = True) -> Inventory:
    inv = Inventory()
    if objects:
        _loose(root / "objects", inv.objects)
        _packed(root / "objects" / "packs", inv.objects, inv.packs)
    inv.segments = {(ref.machine, ref.seq) for ref in list_segments(root / "records")}
    return inv


def _packed(packs: Path, out: dict[bytes, Where], sizes: dict[str, int]) -> None:
    try:
        names = sorted(os.listdir(packs))
    except FileNotFoundError:
        return
    for name in names:
        stem, dot, ext = name.partition(".")
        if ext != "pack" or not _HEX64.match(stem):
            continue  # a sync tool's temp file or conflict copy: not a pack
        try:
            entries = read_pack_directory(packs / name)
            sizes[stem] = (packs / name).stat().st_size
        except (StoreDamagedError, FileNotFoundError):
            continue  # damaged (fsck's business) or rewritten by gc since it was listed
        for oid, off, ln in entries:
            out.setdefault(bytes.fromhex(oid), Where(stem, off, ln))


def _loose(objects: Path, out: dict[bytes, Where]) -> None:
    try:
        tops = [e for e in os.scandir(objects) if _HEX2.match(e.name) and e.is_dir()]
    except FileNotFoundError:
        return
    for top in tops:
        for mid in os.scandir(top.path):
            if not (_HEX2.match(mid.name) and mid.is_dir()):
                continue
            prefix = top.name + mid.name
            for e in os.scandir(mid.path):
                if _HEX64.match(e.name) and e.name.startswith(prefix) and e.is_file():
                    out[bytes.fromhex(e.name)] = Where("", 0, e.stat().st_size)
