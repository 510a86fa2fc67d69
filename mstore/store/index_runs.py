"""The part of the index that holds runs, coverage, artifacts, collections and labels.

Applied from ``Index._apply`` like the catalog records: idempotent, and the latest
claim (by hlc) wins per key, so segments may arrive in any order. Collections, labels,
run states and unit coverage are claimed on several machines at once (people editing, run
workers on other hosts), so they keep the lane that made the claim: two claims with one
hlc are ordered by lane (which starts with the machine id), the same on every machine
whatever order the segments came in.

Databases::

    runs           run id -> msgpack RunInfo (the RunStarted facts, state, counters)
    units          run \\0 step \\0 unit -> msgpack UnitState (latest claim)
    artifacts      artifact id -> msgpack ArtifactMade
    asset_arts     asset id (32 bytes) + kind + \\0 + artifact id -> b""
    run_arts       run \\0 hlc (8 bytes) + artifact id -> b""   (results in the order made)
    reuse          reuse key + \\0 + artifact id -> b""
    dropped        artifact id -> hlc of the gc record that dropped it
    collections    bounded(name) -> lane \\0 msgpack CollectionDefined
    labels         bounded(asset \\0 key \\0 about) -> lane \\0 msgpack Label   (keys.py)
                   (a value without the lane, of an older index: msgpack alone, lane "")
    derived        input id (asset or artifact) \\0 artifact id -> b""   (what was made from it)
    unit_status    run \\0 unit -> status byte (d done, f failed, p part-way) + the asset kind
    run_failures   run \\0 step \\0 unit -> b""   (unit-steps whose latest claim failed)
    kind_pending   unit \\0 run -> b""   (counted before its asset record arrived)

``unit_status`` and ``run_failures`` keep a run's unit counts (``RunInfo.units_done``,
``units_failed``) and its failures list exact as records arrive, so showing a run never
reads all its units; they are filled once the run's ``RunStarted`` is known (it says
which steps apply to which kinds).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import lmdb
import msgspec

from mstore.model.codec import LazyDecoder
from mstore.model.records import (
    ArtifactMade,
    ArtifactsDropped,
    CollectionDefined,
    Label,
    Record,
    RunStarted,
    RunState,
    UnitDone,
)
from mstore.store import keys
from mstore.store.scan import prefix_items, prefix_keys

if TYPE_CHECKING:
    from mstore.store.index import Index

RUN_DBS = ("runs", "units", "artifacts", "asset_arts", "run_arts", "reuse", "dropped",
           "collections", "labels", "derived", "unit_status", "run_failures", "kind_pending")
DERIVED_BUILT = b"derived_built"  # meta key: the derived db covers every artifact
UNKNOWN_KIND = b"?"  # unit_status: the unit's asset record had not arrived yet


class UnitState(msgspec.Struct, array_like=True):
    status: str
    attempts: int
    duration_ms: int
    error: str
    artifacts: list[str]
    hlc: int
    lane: str = ""  # the lane of the claim: orders two claims with one hlc (an older index: "")


class RunInfo(msgspec.Struct, kw_only=True):
    started: RunStarted | None = None  # None until the RunStarted record is applied
    state: str = "pending"
    state_detail: str = ""
    state_hlc: int = 0
    state_lane: str = ""  # the lane of the state's claim, for ties in hlc
    done: int = 0
    reused: int = 0
    failed: int = 0
    skipped: int = 0  # unit-steps that do not apply to their unit (covered, not failed)
    duration_ms: int = 0  # sum over units, for throughput
    first_unit_ms: int = 0
    last_unit_ms: int = 0
    # step -> [done, reused, failed, duration_ms, skipped] (an older index: 4 long)
    per_step: dict[str, list[int]] = {}
    artifacts: int = 0
    # units (not unit-steps) done / failed; valid when unit_counts (an index made before
    # these existed has runs without them, which are then counted the slow way)
    units_done: int = 0
    units_failed: int = 0
    unit_counts: bool = False


_NIL = msgspec.Raw(b"\xc0")


class _RunStateOnly(msgspec.Struct, kw_only=True):
    """What ``run_states`` reads of a RunInfo: its state, and whether it has started
    (the RunStarted record is skipped over, not decoded)."""

    started: msgspec.Raw = _NIL  # as encoded: msgpack's nil until the record is applied
    state: str = "pending"


_enc = msgspec.msgpack.Encoder()
_dec_run = LazyDecoder(RunInfo)
_dec_run_state = LazyDecoder(_RunStateOnly)
_dec_unit = LazyDecoder(UnitState)
_dec_art = LazyDecoder(ArtifactMade)
_dec_coll = LazyDecoder(CollectionDefined)
_dec_label = LazyDecoder(Label)

_SLOT = {"done": 0, "reused": 1, "failed": 2, "skipped": 4}  # 3 is duration_ms


def _run(idx: Index, txn: lmdb.Transaction, run: str) -> RunInfo:
    raw = txn.get(keys.run_key(run), db=idx.db["runs"])
    return _dec_run.decode(raw) if raw is not None else RunInfo()


def _put_run(idx: Index, txn: lmdb.Transaction, run: str, info: RunInfo) -> None:
    txn.put(keys.run_key(run), _enc.encode(info), db=idx.db["runs"])


def _claim(lane: str, rec: Record) -> bytes:
    """A collection's or label's value: the lane that claimed it, NUL, the record."""
    return lane.encode() + b"\0" + _enc.encode(rec)


def _split_claim(raw: bytes) -> tuple[str, bytes]:
    """(lane, record bytes) of a claim. An older index stored the record alone: a msgpack
    map, whose first byte (0x80-0x8f, 0xde, 0xdf) no lane (hex digits first) starts with."""
    raw = bytes(raw)
    if raw[:1] and (raw[0] & 0xF0 == 0x80 or raw[0] in (0xDE, 0xDF)):
        return "", raw
    lane, _, body = raw.partition(b"\0")
    return lane.decode(), body


def _decode_claim(raw: bytes, dec: LazyDecoder) -> tuple[tuple[int, str], Any]:
    """((hlc, lane), record) of a stored claim: the order key of §3.4 and the record."""
    lane, body = _split_claim(raw)
    rec = dec.decode(body)
    return (rec.hlc, lane), rec


def _put_if_later(txn: lmdb.Transaction, db: object, key: bytes, lane: str, rec: Record,
                  dec: LazyDecoder) -> None:
    old = txn.get(key, db=db)
    if old is None or _decode_claim(old, dec)[0] < (rec.hlc, lane):
        txn.put(key, _claim(lane, rec), db=db)


def apply_run_record(idx: Index, txn: lmdb.Transaction, rec: Record, lane: str = "") -> bool:
    """Apply one record of ``lane`` (the records/ directory it came from)."""
    db = idx.db
    if isinstance(rec, RunStarted):
        info = _run(idx, txn, rec.run)
        if info.started is None:
            info.started = rec
            if info.state_hlc == 0:
                info.state, info.state_hlc, info.state_lane = "running", rec.hlc, lane
            # coverage may have arrived first (records sync in any order): count it now
            info.unit_counts = True
            for unit in {u for _s, u, _st in run_units(idx, txn, rec.run) if u != "*"}:
                _recount_unit(idx, txn, info, rec.run, unit)
            _put_run(idx, txn, rec.run, info)
        return True
    if isinstance(rec, RunState):
        info = _run(idx, txn, rec.run)
        if (rec.hlc, lane) > (info.state_hlc, info.state_lane):
            info.state, info.state_detail = rec.state, rec.detail
            info.state_hlc, info.state_lane = rec.hlc, lane
            _put_run(idx, txn, rec.run, info)
        return True
    if isinstance(rec, UnitDone):
        key = keys.unit_key(rec.run, rec.step, rec.unit)
        old_raw = txn.get(key, db=db["units"])
        old = _dec_unit.decode(old_raw) if old_raw is not None else None
        if old is not None and (old.hlc, old.lane) >= (rec.hlc, lane):
            return False
        txn.put(key, _enc.encode(UnitState(rec.status, rec.attempts, rec.duration_ms, rec.error,
                                           rec.artifacts, rec.hlc, lane)), db=db["units"])
        info = _run(idx, txn, rec.run)
        step = info.per_step.setdefault(rec.step, [0, 0, 0, 0, 0])
        if len(step) < 5:  # counted by an mstore without "skipped"
            step.append(0)
        if old is not None:  # the unit changed status (e.g. failed, then done on a rerun)
            setattr(info, old.status, getattr(info, old.status) - 1)
            step[_SLOT[old.status]] -= 1
            info.duration_ms -= old.duration_ms
            step[3] -= old.duration_ms
        setattr(info, rec.status, getattr(info, rec.status) + 1)
        step[_SLOT[rec.status]] += 1
        info.duration_ms += rec.duration_ms
        step[3] += rec.duration_ms
        fkey = key  # the same run \0 step \0 unit
        if rec.status == "failed":
            txn.put(fkey, b"", db=db["run_failures"])
        elif old is not None and old.status == "failed":
            txn.delete(fkey, db=db["run_failures"])
        if info.unit_counts and rec.unit != "*":
            _recount_unit(idx, txn, info, rec.run, rec.unit)
        wall = rec.hlc >> 16
        info.first_unit_ms = min(info.first_unit_ms or wall, wall)
        info.last_unit_ms = max(info.last_unit_ms, wall)
        _put_run(idx, txn, rec.run, info)
        return True
    if isinstance(rec, ArtifactMade):
        aid = keys.artifact_key(rec.id)
        dropped = txn.get(aid, db=db["dropped"])
        if dropped is not None and struct.unpack(">Q", dropped)[0] > rec.hlc:
            return False  # made, then dropped by gc: a re-derivation after gc has a later hlc
        if txn.get(aid, db=db["artifacts"]) is not None:
            return False
        txn.put(aid, _enc.encode(rec), db=db["artifacts"])
        for subject in [rec.asset] if rec.asset else rec.members:
            txn.put(keys.asset_art_key(subject, rec.kind, rec.id), b"", db=db["asset_arts"])
        txn.put(keys.run_art_key(rec.run, rec.hlc, rec.id), b"", db=db["run_arts"])
        if rec.reuse_key:
            txn.put(keys.member_key(rec.reuse_key, rec.id), b"", db=db["reuse"])
        for i in set(rec.inputs):
            txn.put(keys.member_key(i, rec.id), b"", db=db["derived"])
        info = _run(idx, txn, rec.run)
        info.artifacts += 1
        _put_run(idx, txn, rec.run, info)
        return True
    if isinstance(rec, ArtifactsDropped):
        for art_id in rec.ids:
            aid = keys.artifact_key(art_id)
            old = txn.get(aid, db=db["dropped"])
            if old is None or struct.unpack(">Q", old)[0] < rec.hlc:
                txn.put(aid, struct.pack(">Q", rec.hlc), db=db["dropped"])
            raw = txn.get(aid, db=db["artifacts"])
            if raw is None:
                continue
            art = _dec_art.decode(raw)
            if art.hlc > rec.hlc:
                continue  # re-derived after this gc: it stays
            txn.delete(aid, db=db["artifacts"])
            for subject in [art.asset] if art.asset else art.members:
                txn.delete(keys.asset_art_key(subject, art.kind, art.id), db=db["asset_arts"])
            txn.delete(keys.run_art_key(art.run, art.hlc, art.id), db=db["run_arts"])
            if art.reuse_key:
                txn.delete(keys.member_key(art.reuse_key, art.id), db=db["reuse"])
            for i in set(art.inputs):
                txn.delete(keys.member_key(i, art.id), db=db["derived"])
        return True
    if isinstance(rec, CollectionDefined):
        _put_if_later(txn, db["collections"], keys.collection_key(rec.name), lane, rec,
                      _dec_coll)
        return True
    if isinstance(rec, Label):
        _put_if_later(txn, db["labels"], keys.label_key(rec.asset, rec.key, rec.about), lane,
                      rec, _dec_label)
        return True
    return False


def _recount_unit(idx: Index, txn: lmdb.Transaction, info: RunInfo, run: str, unit: str
                  ) -> None:
    """Recompute one unit's status from its unit-steps and move the run's counters: done
    when every per-asset step that applies to its kind is done, reused or skipped (not
    applicable), failed when any step failed (as ``mstore show RUN`` defines them)."""
    assert info.started is not None
    skey = keys.unit_status_key(run, unit)
    old = txn.get(skey, db=idx.db["unit_status"])
    kind: str | None = None
    if old is not None and bytes(old[1:]) != UNKNOWN_KIND:
        kind = bytes(old[1:]).decode()
    else:
        a = idx.asset(txn, unit)
        if a is not None:
            kind = a.meta.kind
            if old is not None:  # it was counted without its kind: no longer pending
                txn.delete(keys.kind_pending_key(unit, run), db=idx.db["kind_pending"])
        else:  # its asset record has not arrived (a partial sync): see asset_arrived
            txn.put(keys.kind_pending_key(unit, run), b"", db=idx.db["kind_pending"])
    statuses = {}
    for s in info.started.steps:
        raw = txn.get(keys.unit_key(run, s.name, unit), db=idx.db["units"])
        if raw is not None:
            statuses[s.name] = _dec_unit.decode(raw).status
    applicable = {s.name for s in info.started.steps
                  if s.shape == "per-asset" and (not s.kinds or kind in s.kinds)}
    if "failed" in statuses.values():
        new = b"f"
    elif kind is not None and applicable <= set(statuses):
        new = b"d"
    else:
        new = b"p"
    prev = bytes(old[:1]) if old is not None else b""
    info.units_done += (new == b"d") - (prev == b"d")
    info.units_failed += (new == b"f") - (prev == b"f")
    value = new + (kind.encode() if kind is not None else UNKNOWN_KIND)
    if old is None or bytes(old) != value:
        txn.put(skey, value, db=idx.db["unit_status"])


def asset_arrived(idx: Index, txn: lmdb.Transaction, aid: str) -> None:
    """An asset record was applied: recount the units that were counted without it."""
    start = keys.kind_pending_key(aid)
    for k in list(prefix_keys(txn, idx.db["kind_pending"], start)):
        run = k[len(start):].decode()
        info = _run(idx, txn, run)
        if info.started is not None and info.unit_counts:
            _recount_unit(idx, txn, info, run, aid)
            _put_run(idx, txn, run, info)
        txn.delete(k, db=idx.db["kind_pending"])


# -- reading ---------------------------------------------------------------------
def run_info(idx: Index, txn: lmdb.Transaction, run: str) -> RunInfo | None:
    raw = txn.get(keys.run_key(run), db=idx.db["runs"])
    return _dec_run.decode(raw) if raw is not None else None


def all_runs(idx: Index, txn: lmdb.Transaction) -> list[tuple[str, RunInfo]]:
    return [(bytes(k).decode(), _dec_run.decode(v)) for k, v in txn.cursor(db=idx.db["runs"])]


def run_states(idx: Index, txn: lmdb.Transaction) -> list[tuple[str, str]]:
    """(run id, state) of every run whose RunStarted record is here, decoding nothing
    else of them (``status`` asks on every call)."""
    out = []
    for k, v in txn.cursor(db=idx.db["runs"]):
        info = _dec_run_state.decode(v)
        if bytes(info.started) != bytes(_NIL):
            out.append((bytes(k).decode(), info.state))
    return out


def run_units(idx: Index, txn: lmdb.Transaction, run: str, step: str | None = None
              ) -> list[tuple[str, str, UnitState]]:
    """(step, unit, state) of a run's units, optionally of one step."""
    out = []
    for k, v in prefix_items(txn, idx.db["units"], keys.unit_key(run, step or "")):
        _, st, unit = keys.split_unit_key(k)
        out.append((st, unit, _dec_unit.decode(v)))
    return out


def run_failures(idx: Index, txn: lmdb.Transaction, run: str, limit: int
                 ) -> list[tuple[str, str, UnitState]]:
    """(step, unit, state) of up to ``limit`` failed unit-steps of a run, in key order."""
    out = []
    for k in prefix_keys(txn, idx.db["run_failures"], keys.unit_key(run)):
        if len(out) >= limit:
            break
        raw = txn.get(k, db=idx.db["units"])
        if raw is not None:
            _, step, unit = keys.split_unit_key(k)
            out.append((step, unit, _dec_unit.decode(raw)))
    return out


def unit_state(idx: Index, txn: lmdb.Transaction, run: str, step: str, unit: str
               ) -> UnitState | None:
    raw = txn.get(keys.unit_key(run, step, unit), db=idx.db["units"])
    return _dec_unit.decode(raw) if raw is not None else None


def artifact(idx: Index, txn: lmdb.Transaction, art_id: str) -> ArtifactMade | None:
    raw = txn.get(keys.artifact_key(art_id), db=idx.db["artifacts"])
    return _dec_art.decode(raw) if raw is not None else None


def artifacts_with_prefix(idx: Index, txn: lmdb.Transaction, prefix: str, limit: int = 2
                          ) -> list[str]:
    out: list[str] = []
    for k in prefix_keys(txn, idx.db["artifacts"], keys.artifact_key(prefix)):
        out.append(k.decode())
        if len(out) >= limit:
            break
    return out


def _artifacts_of(idx: Index, txn: lmdb.Transaction, ids: Iterable[str]
                  ) -> list[ArtifactMade]:
    """The live artifacts among ``ids`` (an index entry may outlive a dropped one)."""
    return [a for i in ids if (a := artifact(idx, txn, i)) is not None]


def asset_artifacts(idx: Index, txn: lmdb.Transaction, asset: str, kind: str | None = None
                    ) -> list[ArtifactMade]:
    start = keys.asset_art_key(asset, kind or "")
    return _artifacts_of(idx, txn, map(keys.asset_art_id, prefix_keys(
        txn, idx.db["asset_arts"], start)))


def run_artifacts(idx: Index, txn: lmdb.Transaction, run: str, limit: int | None = None,
                  newest_first: bool = True) -> list[ArtifactMade]:
    ids = [keys.run_art_id(run, k)
           for k in prefix_keys(txn, idx.db["run_arts"], keys.run_art_key(run))]
    if newest_first:
        ids.reverse()
    out = []
    for i in ids:
        art = artifact(idx, txn, i)
        if art is not None:
            out.append(art)
            if limit is not None and len(out) >= limit:
                break
    return out


def recent_artifacts(idx: Index, txn: lmdb.Transaction, run: str, limit: int,
                     known: int | None = None) -> tuple[int, list[ArtifactMade]]:
    """(number of live artifacts of the run, the newest ``limit`` of them), by one backwards
    scan of ``run_arts`` (its keys sort in the order results were made). ``known``: the
    count when the caller knows it, so the scan stops after ``limit``."""
    prefix = keys.run_art_key(run)
    cur = txn.cursor(db=idx.db["run_arts"])
    # position on the run's last key: the first key past the prefix, then one back
    found = cur.prev() if cur.set_range(run.encode() + b"\x01") else cur.last()
    count = 0
    newest: list[ArtifactMade] = []
    if not found:
        return 0, []
    for k in cur.iterprev(values=False):
        k = bytes(k)
        if not k.startswith(prefix):
            break
        count += 1
        if len(newest) < limit:
            art = artifact(idx, txn, keys.run_art_id(run, k))
            if art is not None:
                newest.append(art)
        elif known is not None:
            return known, newest
    return count, newest


def reusable(idx: Index, txn: lmdb.Transaction, reuse_key: str) -> list[ArtifactMade]:
    return _artifacts_of(idx, txn, (keys.member_id(reuse_key, k) for k in prefix_keys(
        txn, idx.db["reuse"], keys.member_key(reuse_key))))


def derived_from(idx: Index, txn: lmdb.Transaction, input_id: str) -> list[ArtifactMade]:
    """The live artifacts made with ``input_id`` (an asset or artifact id) as an input."""
    return _artifacts_of(idx, txn, (keys.member_id(input_id, k) for k in prefix_keys(
        txn, idx.db["derived"], keys.member_key(input_id))))


def build_derived(idx: Index, txn: lmdb.Transaction) -> None:
    """Fill ``derived`` from the artifacts (an index made before it existed), once."""
    if txn.get(DERIVED_BUILT, db=idx.db["meta"]) is not None:
        return
    for _, v in txn.cursor(db=idx.db["artifacts"]):
        art = _dec_art.decode(v)
        for i in set(art.inputs):
            txn.put(keys.member_key(i, art.id), b"", db=idx.db["derived"])
    txn.put(DERIVED_BUILT, b"1", db=idx.db["meta"])


def all_artifacts(idx: Index, txn: lmdb.Transaction):  # noqa: ANN201 - an iterator
    for _, v in txn.cursor(db=idx.db["artifacts"]):
        yield _dec_art.decode(v)


def collections(idx: Index, txn: lmdb.Transaction, deleted: bool = False
                ) -> list[CollectionDefined]:
    """The collections (with ``deleted``, also the latest claims that deleted one)."""
    out = [_decode_claim(v, _dec_coll)[1] for _, v in txn.cursor(db=idx.db["collections"])]
    return [c for c in out if deleted or not c.deleted]


def collection(idx: Index, txn: lmdb.Transaction, name: str) -> CollectionDefined | None:
    raw = txn.get(keys.collection_key(name), db=idx.db["collections"])
    c = _decode_claim(raw, _dec_coll)[1] if raw is not None else None
    return None if c is None or c.deleted else c


def label_claims(idx: Index, txn: lmdb.Transaction
                 ) -> Iterator[tuple[tuple[int, str], Label]]:
    """Every current label with its order key (hlc, lane): the later of two is the larger."""
    for _, v in txn.cursor(db=idx.db["labels"]):
        yield _decode_claim(v, _dec_label)


def all_labels(idx: Index, txn: lmdb.Transaction) -> Iterator[Label]:
    for _order, lab in label_claims(idx, txn):
        yield lab


def labels(idx: Index, txn: lmdb.Transaction, asset: str) -> list[Label]:
    return [_decode_claim(v, _dec_label)[1]
            for _, v in prefix_items(txn, idx.db["labels"], keys.label_prefix(asset))]
