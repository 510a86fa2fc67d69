"""One transfer: list both sides, move what the receiving side lacks, objects before the
segments whose records may name them. Every item is complete on arrival (receive.py), so
an interrupted transfer resumes by running it again: the next listing no longer shows what
arrived."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from mstore.sync.endpoint import Endpoint
from mstore.sync.items import Item, ObjectItem, PackItem, SegmentItem, Stored

WHOLE_PACK = 0.9  # send a pack as it is when the receiver lacks this share of its bytes


@dataclass
class Plan:
    packs: list[str] = field(default_factory=list)  # whole pack files
    pack_objects: int = 0  # the objects inside them
    objects: list[bytes] = field(default_factory=list)  # objects one by one
    object_bytes: int = 0  # of both
    segments: list[tuple[str, int]] = field(default_factory=list)

    @property
    def items(self) -> int:
        return len(self.packs) + len(self.objects) + len(self.segments)


@dataclass
class Progress:
    """Counts as items arrive, for a progress line: ``report(done, total, bytes)``."""

    total: int
    report: Callable[[int, int, int], None]
    done: int = 0
    nbytes: int = 0

    def wrap(self, items: Iterable[Item]) -> Iterator[Item]:
        for item in items:
            if isinstance(item, ObjectItem):
                item = ObjectItem(item.oid, item.size, self._count(item.chunks))
            elif isinstance(item, PackItem):
                item = PackItem(item.name, item.size, self._count(item.chunks))
            elif isinstance(item, SegmentItem):
                self.nbytes += len(item.data)
            yield item
            self.done += 1
            self.report(self.done, self.total, self.nbytes)

    def _count(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        for c in chunks:
            self.nbytes += len(c)
            yield c


def plan(src: Endpoint, dst: Endpoint, *, objects: bool = True,
         want: set[bytes] | None = None, segments: bool = True) -> Plan:
    """What ``dst`` lacks of what ``src`` holds (``want``: only these objects)."""
    s = src.inventory(objects=objects)
    d = dst.inventory(objects=objects)
    p = Plan()
    if objects:
        lacking: dict[str, list[bytes]] = {}  # sender's pack ("" loose) -> objects to send
        for oid, where in s.objects.items():
            if oid not in d.objects and (want is None or oid in want):
                lacking.setdefault(where.pack, []).append(oid)
                p.object_bytes += where.size
        held = {name: 0 for name in s.packs}  # payload bytes per sender pack
        for where in s.objects.values():
            if where.pack:
                held[where.pack] += where.size
        for pack, oids in lacking.items():
            missing = sum(s.objects[o].size for o in oids)
            if pack and pack not in d.packs and missing >= WHOLE_PACK * held[pack]:
                p.packs.append(pack)
                p.pack_objects += len(oids)
            else:
                p.objects += oids
    if segments:
        p.segments = sorted(s.segments - d.segments)
    return p


def move(src: Endpoint, dst: Endpoint, p: Plan,
         report: Callable[[int, int, int], None] | None = None) -> Stored:
    if not p.items:
        return Stored()
    items: Iterable[Item] = src.fetch(p.objects, p.segments, p.packs)
    if report is not None:
        items = Progress(p.items, report).wrap(items)
    return dst.put(items)


@dataclass
class Result:
    """What one direction of a sync did, for the summary and ``--json``."""

    direction: str  # "pull" or "push"
    planned_objects: int = 0
    planned_bytes: int = 0
    planned_segments: int = 0
    stored: Stored = field(default_factory=Stored)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"direction": self.direction, **self.stored.as_dict(),
                "planned": {"objects": self.planned_objects, "bytes": self.planned_bytes,
                            "segments": self.planned_segments},
                "seconds": round(self.seconds, 3)}


def run(direction: str, src: Endpoint, dst: Endpoint, *, objects: bool = True,
        want: set[bytes] | None = None, segments: bool = True,
        report: Callable[[int, int, int], None] | None = None) -> Result:
    t0 = time.monotonic()
    p = plan(src, dst, objects=objects, want=want, segments=segments)
    res = Result(direction, len(p.objects) + p.pack_objects, p.object_bytes, len(p.segments))
    res.stored = move(src, dst, p, report)
    res.seconds = time.monotonic() - t0
    return res

