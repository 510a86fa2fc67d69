"""Record segments: ``records/<machine>/<seq>.seg``, write-once, one writer per machine.

Layout of one segment file (all integers big-endian)::

    magic      8 bytes  b"MSTSEG1\\n"
    body_len   8 bytes  length of body
    body       msgpack map {"machine": str, "seq": int, "schema": int, "records": [record, ...]}
    checksum  32 bytes  BLAKE3 of magic + body_len + body

A segment is written whole (temp file, fsync, rename, fsync dir) and never
changed afterwards, so a file syncer only ever sees complete segments.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from pathlib import Path

import msgspec

from mstore.errors import StoreDamagedError
from mstore.model.codec import LazyDecoder
from mstore.model.records import SCHEMA_VERSION, AnyRecord, Record
from mstore.store.fsutil import write_once
from mstore.store.keys import segment_key
from mstore.store.storenames import is_lane, segment_seq

MAGIC = b"MSTSEG1\n"

_encoder = msgspec.msgpack.Encoder()
_record_decoder = LazyDecoder(AnyRecord)


class _Body(msgspec.Struct):
    machine: str
    seq: int
    schema: int
    records: list[msgspec.Raw]


_body_decoder = LazyDecoder(_Body)


class SegmentRef(msgspec.Struct, frozen=True):
    machine: str
    seq: int
    path: Path

    @property
    def key(self) -> bytes:
        return segment_key(self.machine, self.seq)


def segment_name(seq: int) -> str:
    return f"{seq:010d}.seg"


def encode_segment(machine: str, seq: int, records: list[Record]) -> bytes:
    import blake3  # here, not at the top: most read commands never need it

    body = _encoder.encode(
        {"machine": machine, "seq": seq, "schema": SCHEMA_VERSION, "records": records}
    )
    head = MAGIC + struct.pack(">Q", len(body))
    return head + body + blake3.blake3(head + body).digest()


def write_segment(records_dir: Path, tmp_dir: Path, machine: str, seq: int,
                  records: list[Record]) -> SegmentRef:
    path = records_dir / machine / segment_name(seq)
    if path.exists():
        raise StoreDamagedError(f"segment {path} already exists; refusing to overwrite")
    write_once(path, encode_segment(machine, seq, records), tmp_dir)
    return SegmentRef(machine, seq, path)


def verify(data: bytes) -> bytes:
    """Check magic and checksum; return the body."""
    import blake3  # here, not at the top: most read commands never need it

    if len(data) < len(MAGIC) + 8 + 32 or not data.startswith(MAGIC):
        raise StoreDamagedError("not a segment (bad magic or too short)")
    (body_len,) = struct.unpack(">Q", data[8:16])
    end = 16 + body_len
    if end + 32 != len(data):
        raise StoreDamagedError("segment length does not match its header")
    if blake3.blake3(data[:end]).digest() != data[end:]:
        raise StoreDamagedError("segment checksum mismatch")
    return data[16:end]


class Rejected(msgspec.Struct, frozen=True):
    """A record of a type this version knows whose fields do not decode (wrong types,
    missing fields): it cannot be applied, and is set aside instead of stopping the store."""

    position: int
    type: str
    error: str


class SegmentContent(msgspec.Struct):
    records: list[Record]
    positions: list[int]  # each record's position in the segment
    rejected: list[Rejected]


_KNOWN_TAGS = {cls.__struct_config__.tag for cls in AnyRecord.__args__}
_tag_decoder = LazyDecoder(dict[str, msgspec.Raw])


def _tag_of(raw: msgspec.Raw) -> str:
    try:
        tag = msgspec.msgpack.decode(_tag_decoder.decode(raw).get("t", b"\xa0"))
    except (msgspec.DecodeError, TypeError):
        return ""
    return tag if isinstance(tag, str) else ""


def load_segment(path: Path) -> SegmentContent:
    """A segment's records with their positions; record types this version does not know
    are skipped (a newer mstore wrote them), known ones that do not decode are rejected."""
    try:
        data = path.read_bytes()
        body = _body_decoder.decode(verify(data))
    except StoreDamagedError as e:
        raise StoreDamagedError(f"{path}: {e.message}") from None
    except msgspec.DecodeError as e:
        raise StoreDamagedError(f"{path}: undecodable segment body: {e}") from None
    out = SegmentContent([], [], [])
    decode = _record_decoder.get().decode
    for pos, raw in enumerate(body.records):
        try:
            out.records.append(decode(raw))
            out.positions.append(pos)
        except msgspec.ValidationError as e:
            tag = _tag_of(raw)
            if tag in _KNOWN_TAGS:
                out.rejected.append(Rejected(pos, tag, str(e)))
            # else: a record type from a newer mstore: tolerated, not applied
    return out


def read_segment(path: Path) -> list[Record]:
    """The records of a segment that this version can apply."""
    return load_segment(path).records


def list_segments(records_dir: Path) -> Iterator[SegmentRef]:
    """Every complete segment of every lane, in (lane, seq) order (directories whose names
    are not lanes, e.g. a file syncer's, are not read)."""
    try:
        machines = sorted(e.name for e in os.scandir(records_dir)
                          if e.is_dir() and is_lane(e.name))
    except FileNotFoundError:
        return
    for machine in machines:
        names = sorted(os.listdir(records_dir / machine))
        for name in names:
            seq = segment_seq(name)
            if seq is not None:
                yield SegmentRef(machine, seq, records_dir / machine / name)


def new_segments(records_dir: Path, lane: str, after: int) -> tuple[list[SegmentRef], int]:
    """The lane's segments numbered above ``after`` (in order), and the new watermark: the
    highest n such that every segment ``after+1 .. n`` exists (a synced lane may arrive
    with gaps; nothing past a gap is assumed seen). Names are fixed-width, so the filter
    is a string comparison, not a parse per file."""
    floor = segment_name(after)
    try:
        names = sorted(n for n in os.listdir(records_dir / lane) if n > floor)
    except FileNotFoundError:
        return [], after
    refs = [SegmentRef(lane, seq, records_dir / lane / n)
            for n in names if (seq := segment_seq(n)) is not None]
    mark = after
    for r in refs:
        if r.seq != mark + 1:
            break
        mark = r.seq
    return refs, mark


def next_seq(records_dir: Path, machine: str) -> int:
    try:
        seqs = [seq for n in os.listdir(records_dir / machine)
                if (seq := segment_seq(n)) is not None]
    except FileNotFoundError:
        return 1
    return max(seqs, default=0) + 1
