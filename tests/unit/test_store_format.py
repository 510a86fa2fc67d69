"""Segments, objects, the clock and the index: the on-disk format of docs/format.md."""

from __future__ import annotations

import struct
from pathlib import Path

import blake3
import msgspec
import pytest

from mstore.errors import StoreDamagedError
from mstore.model.meta import Meta
from mstore.model.records import AssetRecorded, PathGone, PathSeen
from mstore.store.hlc import HybridClock
from mstore.store.index import Index
from mstore.store.objects import LOOSE_MIN, ObjectStore, verify_pack
from mstore.store.segments import encode_segment, read_segment, write_segment


def _records(n: int, base: int = 1 << 16) -> list:
    out = []
    for i in range(n):
        aid = blake3.blake3(str(i).encode()).hexdigest()
        out.append(AssetRecorded(hlc=base + 2 * i, id=aid, size=i,
                                 meta=Meta(kind="text", mime="text/plain")))
        out.append(PathSeen(hlc=base + 2 * i + 1, root="r", path=f"f{i}".encode(), asset=aid,
                            size=i, mtime_ns=1, inode=i))
    return out


def test_segment_roundtrip_and_layout(tmp_path: Path) -> None:
    recs = _records(3)
    ref = write_segment(tmp_path / "records", tmp_path / "tmp", "m1", 1, recs)
    data = ref.path.read_bytes()
    assert ref.path.name == "0000000001.seg"
    assert data[:8] == b"MSTSEG1\n"
    (body_len,) = struct.unpack(">Q", data[8:16])
    assert len(data) == 16 + body_len + 32
    assert blake3.blake3(data[:-32]).digest() == data[-32:]
    body = msgspec.msgpack.decode(data[16:-32])
    assert body["machine"] == "m1" and body["seq"] == 1 and body["schema"] == 1
    assert body["records"][0]["t"] == "asset"
    assert read_segment(ref.path) == recs


def test_segment_damage_is_detected(tmp_path: Path) -> None:
    ref = write_segment(tmp_path / "records", tmp_path / "tmp", "m1", 1, _records(2))
    data = bytearray(ref.path.read_bytes())
    data[40] ^= 0xFF
    ref.path.write_bytes(bytes(data))
    with pytest.raises(StoreDamagedError, match="checksum"):
        read_segment(ref.path)
    ref.path.write_bytes(bytes(data[:30]))
    with pytest.raises(StoreDamagedError):
        read_segment(ref.path)


def test_unknown_record_types_and_fields_are_tolerated(tmp_path: Path) -> None:
    recs = _records(1)
    raw = msgspec.msgpack.decode(encode_segment("m", 1, recs)[16:-32])
    raw["records"].append({"t": "from-the-future", "hlc": 5, "x": 1})
    raw["records"][0]["new_field"] = [1, 2, 3]
    body = msgspec.msgpack.encode(raw)
    head = b"MSTSEG1\n" + struct.pack(">Q", len(body))
    path = tmp_path / "0000000001.seg"
    path.write_bytes(head + body + blake3.blake3(head + body).digest())
    assert read_segment(path) == recs


def test_hybrid_clock_never_goes_back() -> None:
    clock = HybridClock()
    stamps = [clock.now() for _ in range(1000)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 1000
    future = stamps[-1] + (10_000 << 16)
    clock.observe(future)
    assert clock.now() > future


def test_objects_loose_and_packed(tmp_path: Path) -> None:
    objs = ObjectStore(tmp_path / "objects", tmp_path / "tmp")
    small = [f"payload {i}".encode() for i in range(50)]
    big = b"x" * LOOSE_MIN
    ids = [objs.put(d) for d in small]
    big_id = objs.put(big)
    assert objs.loose_path(big_id).read_bytes() == big  # large: durable at once
    assert not objs.packs()
    objs.flush()
    [pack] = objs.packs()
    assert pack.read_bytes()[:8] == b"MSTPACK1"
    assert blake3.blake3(pack.read_bytes()).hexdigest() == pack.stem
    fresh = ObjectStore(tmp_path / "objects", tmp_path / "tmp")
    assert [fresh.get(i) for i in ids] == small
    assert fresh.get(big_id) == big
    assert verify_pack(pack) == []
    data = bytearray(pack.read_bytes())
    data[60] ^= 1
    pack.write_bytes(bytes(data))
    assert verify_pack(pack)


def _digest(idx: Index) -> dict:
    out = {}
    with idx.read() as txn:
        for name in ("assets", "paths", "asset_paths", "history", "errors"):
            out[name] = [(bytes(k), bytes(v)) for k, v in txn.cursor(db=idx.db[name])]
    return out


def test_index_apply_is_order_independent_and_idempotent(tmp_path: Path) -> None:
    recs = _records(20)
    aid = recs[0].id
    later = [PathGone(hlc=1 << 40, root="r", path=b"f0", asset=aid)]
    segs = [(b"m/1", recs[:20]), (b"m/2", recs[20:]), (b"m/3", later)]
    a = Index(tmp_path / "a")
    for key, rs in segs:
        a.apply_segment(key, "m", rs)
    b = Index(tmp_path / "b")
    for key, rs in reversed(segs):
        b.apply_segment(key, "m", rs)
    assert not b.apply_segment(b"m/1", "m", recs[:20])  # applied twice: no-op
    assert _digest(a) == _digest(b)
    with a.read() as txn:
        assert not a.path_state(txn, "r", b"f0").present  # the later claim wins


def test_index_grows_its_map(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mstore.store.index as index_mod

    monkeypatch.setattr(index_mod, "INITIAL_MAP", 256 * 1024)
    idx = Index(tmp_path / "small")
    recs = _records(3000)
    idx.apply_segment(b"m/1", "m", recs)  # far more than 256 KiB of entries
    with idx.read() as txn:
        assert txn.stat(idx.db["assets"])["entries"] == 3000
    assert idx.env.info()["map_size"] > 256 * 1024


_GROW = """
import sys
from pathlib import Path
import mstore.store.index as index_mod
index_mod.INITIAL_MAP = 256 * 1024
idx = index_mod.Index(Path(sys.argv[1]))
# more than the other process's map holds: the map grows, and the file with it
idx.run_write(lambda txn: txn.put(b"grown", b"x" * (1 << 20), db=idx.db["meta"]))
"""


def test_a_map_grown_by_another_process_while_opening_is_not_damage(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy worker grows the map; a command opening the index right then must adopt
    the new size, not call the index damaged and rebuild it from the records."""
    import subprocess
    import sys

    import lmdb

    import mstore.store.index as index_mod

    monkeypatch.setattr(index_mod, "INITIAL_MAP", 256 * 1024)
    path = tmp_path / "index"
    idx = Index(path)
    idx.apply_segment(b"m/1", "m", _records(10))
    idx.close()
    real_open = lmdb.open

    def open_then_grow(*args: object, **kwargs: object) -> lmdb.Environment:
        env = real_open(*args, **kwargs)
        subprocess.run([sys.executable, "-c", _GROW, str(path)], check=True)
        return env

    monkeypatch.setattr(lmdb, "open", open_then_grow)
    idx = Index(path)
    with idx.read() as txn:
        assert txn.stat(idx.db["assets"])["entries"] == 10
        assert txn.get(b"grown", db=idx.db["meta"]) == b"x" * (1 << 20)


def test_error_then_sighting_in_any_order(tmp_path: Path) -> None:
    from mstore.model.records import PathError

    aid = "ab" * 32
    err = PathError(hlc=10 << 16, root="r", path=b"x", reason="unreadable")
    seen = PathSeen(hlc=20 << 16, root="r", path=b"x", asset=aid, size=1, mtime_ns=1, inode=1)
    results = []
    for order in ([err, seen], [seen, err]):
        idx = Index(tmp_path / f"i{len(results)}")
        for i, rec in enumerate(order):
            idx.apply_segment(f"m/{i}".encode(), "m", [rec])
        with idx.read() as txn:
            results.append(idx.error_at(txn, "r", b"x"))
    assert results == [None, None]


def test_the_best_probed_facts_win_in_any_order(tmp_path: Path) -> None:
    aid = "cd" * 32
    old = AssetRecorded(hlc=10 << 16, id=aid, size=9, meta=Meta(kind="other",
                                                              mime="application/pdf"))
    new = AssetRecorded(hlc=30 << 16, id=aid, size=9, probe=1,
                        meta=Meta(kind="document", mime="application/pdf", pages=2))
    again = AssetRecorded(hlc=20 << 16, id=aid, size=9, meta=Meta(kind="other", mime="x"))
    results = []
    for order in ([old, new, again], [new, again, old], [again, new, old]):
        idx = Index(tmp_path / f"i{len(results)}")
        for i, rec in enumerate(order):
            idx.apply_segment(f"m/{i}".encode(), "m", [rec])
        with idx.read() as txn:
            info = idx.asset(txn, aid)
            assert info is not None
            results.append((info.meta, info.probe, info.first_hlc))
    assert results == [(new.meta, 1, 10 << 16)] * 3  # first seen at 10, facts from probe 1


OTHER = "0123456789ab"  # another machine's id


def test_catch_up_finds_synced_segments_in_any_order_and_skips_unchanged_lanes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Segments arriving from another machine (out of order, with a gap for a while) are
    all applied; a lane whose directory did not change is not listed again."""
    import os

    from mstore.store import segments
    from mstore.store import store as store_mod
    from mstore.store.store import Store

    (tmp_path / "arch").mkdir()
    st = Store.init(tmp_path / "st", [tmp_path / "arch"])
    try:
        recs = _records(4)
        made = tmp_path / "elsewhere"
        for seq in (1, 2, 3):  # machine OTHER wrote three segments
            write_segment(made / "records", made / "tmp", OTHER, seq, recs[2 * seq - 2:2 * seq])
        lane = st.layout.records / OTHER
        lane.mkdir()

        def arrive(seq: int, age_s: float) -> None:
            name = segments.segment_name(seq)
            os.link(made / "records" / OTHER / name, lane / name)
            t = time_ns() - int(age_s * 1e9)
            os.utime(lane, ns=(t, t))  # as a sync tool may leave it

        def assets() -> int:
            with st.index.read() as txn:
                return txn.stat(st.index.db["assets"])["entries"]

        from time import time_ns

        assert assets() == 0  # the index is open (opening it catches up too)
        arrive(1, 60)
        arrive(3, 50)  # 2 is still on its way: a gap
        assert st.catch_up() == 2 and assets() == 2
        with st.index.read() as txn:
            assert st.index.lane_seen(txn, OTHER)[1] == 1  # the watermark stops at the gap
        arrive(2, 40)
        assert st.catch_up() == 1 and assets() == 3
        # unchanged (and not racy): the lane is not listed again
        listed: list[str] = []
        real = segments.new_segments
        monkeypatch.setattr(store_mod, "new_segments",
                            lambda r, name, after: listed.append(name) or real(r, name, after))
        assert st.catch_up() == 0 and listed == []
        # a directory changed just now is listed every time until it settles
        os.utime(lane, ns=(time_ns(), time_ns()))
        st.catch_up()
        st.catch_up()
        assert listed == [OTHER, OTHER]
    finally:
        st.close()


def _mixed_segments() -> list[tuple[bytes, str, list]]:
    """Segments of new files, a path claimed twice, a file gone, an error and its
    clearing, known content seen again and probed better: what a writer's batch holds."""
    from mstore.model.records import PathError

    recs = _records(30)
    aid = recs[0].id
    later = [
        PathSeen(hlc=1 << 40, root="r", path=b"f1", asset=aid, size=0, mtime_ns=2, inode=0),
        PathGone(hlc=(1 << 40) + 1, root="r", path=b"f2", asset=recs[4].id),
        PathError(hlc=(1 << 40) + 2, root="r", path=b"bad", reason="unreadable"),
        PathSeen(hlc=(1 << 40) + 3, root="r", path=b"bad", asset=aid, size=0, mtime_ns=1,
                 inode=1),
        AssetRecorded(hlc=(1 << 40) + 4, id=aid, size=0, probe=1,
                      meta=Meta(kind="text", mime="text/plain", encoding="utf-8")),
        PathSeen(hlc=(1 << 40) + 5, root="r", path=b"long/" + b"x" * 500, asset=aid, size=0,
                 mtime_ns=1, inode=9),
    ]
    return [(b"m/1", "m", recs[:25]), (b"m/2", "m", recs[25:]), (b"m/3", "m", later)]


def test_segments_applied_together_equal_one_by_one(tmp_path: Path) -> None:
    """A writer applies its segments in one transaction (Index.apply_segments): the index
    it leaves is the one a segment at a time leaves, and applying again changes nothing."""
    segs = _mixed_segments()
    a = Index(tmp_path / "a")
    for seg in segs:
        a.apply_segment(*seg)
    b = Index(tmp_path / "b")
    assert b.apply_segments(segs) == 3
    assert b.apply_segments(segs) == 0
    assert _digest(a) == _digest(b)
    with a.read() as ta, b.read() as tb:
        assert [(k, a.meta_int(ta, k)) for k in (b"clock",)] == [
            (k, b.meta_int(tb, k)) for k in (b"clock",)]


def test_a_record_with_meta_encoded_beforehand_is_the_same_record(tmp_path: Path) -> None:
    """add's workers encode the Meta; the record carries it as msgspec.Raw. Its segment
    bytes and what the index makes of it are those of the record with the Meta itself."""
    meta = Meta(kind="image", mime="image/jpeg", width=4, height=3, camera_make="Canon")
    aid = "ef" * 32
    plain = [AssetRecorded(hlc=5 << 16, id=aid, size=9, meta=meta, probe=3)]
    raw = [AssetRecorded(hlc=5 << 16, id=aid, size=9, meta=msgspec.Raw(
        msgspec.msgpack.encode(meta)), probe=3)]
    assert encode_segment("m", 1, plain) == encode_segment("m", 1, raw)
    a, b = Index(tmp_path / "a"), Index(tmp_path / "b")
    a.apply_segment(b"m/1", "m", plain)
    b.apply_segments([(b"m/1", "m", raw)])
    assert _digest(a) == _digest(b)
    with b.read() as txn:
        assert b.asset(txn, aid).meta == meta


@pytest.mark.parametrize("batch", [1, 2, 3, 65_536])
def test_present_states_under_is_a_scan_of_the_present_paths(
        tmp_path: Path, batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bulk read add starts with: every present path under a prefix, long (hashed)
    keys included, paths gone left out — read a batch at a time, whatever the batch."""
    import mstore.store.index as index_module

    monkeypatch.setattr(index_module, "PRESENT_BATCH", batch)
    idx = Index(tmp_path / "i")
    for seg in _mixed_segments():
        idx.apply_segment(*seg)
    with idx.read() as txn:
        every = {p: st for p, st in idx.path_states_under(txn, "r") if st.present}
        assert b"f2" not in every and b"long/" + b"x" * 500 in every
        for prefix in (b"", b"f", b"f1", b"long/", b"nothing/"):
            got = idx.present_states_under(txn, "r", prefix)
            assert {p: got.get(p) for p in got} == {
                p: st for p, st in every.items() if p.startswith(prefix)}, prefix
        assert not idx.present_states_under(txn, "other")


def test_the_present_files_of_a_directory_are_those_directly_in_it(tmp_path: Path) -> None:
    """What sidecars pair with and `show` lists as related: the present files directly in
    one directory, found by jumping over its subdirectories' trees, long (hashed) names
    included, paths gone left out."""
    aid = "ab" * 32
    paths = [b"top.jpg", b"top.xmp", b"a/one.jpg", b"a/b/deep.jpg", b"a/b/c/deeper.jpg",
             b"a/two.jpg", b"a0/beside.jpg", b"a/" + b"x" * 500 + b".jpg",
             b"a/" + b"y" * 500 + b"/under-a-long-dir.jpg", b"a/gone.jpg", b"z.jpg"]
    recs: list = [PathSeen(hlc=(1 << 40) + i, root="r", path=p, asset=aid, size=0, mtime_ns=1,
                           inode=i) for i, p in enumerate(paths)]
    recs.append(PathGone(hlc=1 << 41, root="r", path=b"a/gone.jpg", asset=aid))
    recs.append(PathSeen(hlc=(1 << 41) + 1, root="other", path=b"a/elsewhere.jpg", asset=aid,
                         size=0, mtime_ns=1, inode=99))
    idx = Index(tmp_path / "i")
    idx.apply_segment(b"m/1", "m", recs)
    with idx.read() as txn:
        present = [p for p, st in idx.path_states_under(txn, "r") if st.present]
        for d in (b"", b"a", b"a/b", b"a/b/c", b"a0", b"a/" + b"y" * 500, b"nothing"):
            inside = d + b"/" if d else b""
            want = sorted(p[len(inside):] for p in present
                          if p.startswith(inside) and b"/" not in p[len(inside):])
            got = idx.present_in_dir(txn, "r", d)
            assert sorted(name for name, _ in got) == want, d
            assert {a for _, a in got} <= {aid}


def test_an_ok_clears_an_error_in_whatever_order_they_arrive(tmp_path: Path) -> None:
    """A path is in error while its latest `error` is later than its latest `ok` (and
    `seen`, `gone`): the same whichever of the records a copy of the store applies first,
    a long path's (hashed key) included."""
    import itertools

    from mstore.model.records import PathError, PathOk

    for path in (b"pipe", b"d/" + b"x" * 500):
        err1 = PathError(hlc=1 << 40, root="r", path=path, reason="fifo")
        ok = PathOk(hlc=(1 << 40) + 5, root="r", path=path)
        err2 = PathError(hlc=(1 << 40) + 9, root="r", path=path, reason="unreadable")
        for recs, in_error in (([err1, ok], None), ([err1, ok, err2], "unreadable")):
            digests = []
            for n, order in enumerate(itertools.permutations(recs)):
                idx = Index(tmp_path / f"{len(path)}-{len(recs)}-{n}")
                for i, rec in enumerate(order):  # each in a segment of its own lane
                    idx.apply_segment(f"m{i}/1".encode(), f"m{i}", [rec])
                with idx.read() as txn:
                    err = idx.error_at(txn, "r", path)
                assert (err.reason if err else None) == in_error, (path, order)
                digests.append(_digest(idx)["errors"])
                idx.close()
            assert all(d == digests[0] for d in digests)
