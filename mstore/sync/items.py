"""What a transfer moves, one item at a time, in the order it must arrive: packs and
objects first, then the segments whose records may name them (docs/format.md section 4)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

CHUNK = 1 << 20  # bytes per piece of a large object, on the wire and on disk


@dataclass
class ObjectItem:
    oid: bytes  # 32 raw bytes
    size: int
    chunks: Iterator[bytes]  # the payload, ``size`` bytes in all; read before the next item


@dataclass
class PackItem:
    """A whole pack file of the sender's, sent as it is when the receiver lacks (nearly) all
    of its objects: one file to write and check instead of many objects to repack."""

    name: str  # the pack's BLAKE3, its file name without ".pack"
    size: int
    chunks: Iterator[bytes]


@dataclass
class GoneItem:
    """An object that was listed but is gone on the sending side (gc dropped it since)."""

    oid: bytes


@dataclass
class SegmentItem:
    lane: str
    seq: int
    data: bytes


Item = ObjectItem | PackItem | GoneItem | SegmentItem


@dataclass
class Stored:
    """What the receiving side did with a stream of items."""

    objects: int = 0
    object_bytes: int = 0
    segments: int = 0
    segment_bytes: int = 0
    had: int = 0  # items it had already (another transfer brought them meanwhile)
    gone: int = 0  # objects the sender no longer had
    rejected: list[str] = field(default_factory=list)  # one line per item that failed its check

    def add(self, other: Stored) -> None:
        for name in ("objects", "object_bytes", "segments", "segment_bytes", "had", "gone"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.rejected += other.rejected

    def as_dict(self) -> dict:
        return {"objects": self.objects, "object_bytes": self.object_bytes,
                "segments": self.segments, "segment_bytes": self.segment_bytes,
                "had": self.had, "gone": self.gone, "rejected": list(self.rejected)}

    @classmethod
    def from_dict(cls, d: dict) -> Stored:
        return cls(**{k: d[k] for k in ("objects", "object_bytes", "segments",
                                         "segment_bytes", "had", "gone", "rejected")})
