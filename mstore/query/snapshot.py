"""Build (and cache in the index) the catalog table and the status summary.

The snapshot is rebuilt only when the index's ``data_gen`` moved since it was
made, so ``status`` and ``find`` on an unchanged catalog read one blob each.
"""

from __future__ import annotations

import os
from array import array
from collections import defaultdict

import msgspec

from mstore.query.table import (
    F_ANIMATED,
    F_ERROR,
    F_GPS,
    F_LIVE,
    F_MISSING,
    F_SIDECAR,
    F_TAKEN,
    KIND_CODES,
    NO_ID,
    CatalogTable,
)
from mstore.store.index import Index

SIDECAR_EXTS = {b".xmp", b".aae"}
LIVE_VIDEO_EXTS = {b".mov", b".mp4"}


class Stats(msgspec.Struct):
    assets: int = 0
    bytes: int = 0
    by_kind: dict[str, int] = {}
    bytes_by_kind: dict[str, int] = {}
    missing: int = 0
    errors: int = 0  # paths in error plus assets whose probe failed
    paths: int = 0


def taken_int(taken: str | None) -> int:
    """ "2019-06-01T12:30:00+02:00" -> 20190601123000 (local time; 0 when unknown)."""
    if not taken:
        return 0
    digits = "".join(c for c in taken[:19] if c.isdigit())
    return int(digits.ljust(14, "0")) if len(digits) >= 4 else 0


def _stem(path: bytes) -> bytes:
    """Lower-cased path without extension; 'IMG_1.JPG.xmp' and 'IMG_1.xmp' both -> 'img_1'."""
    base, ext = os.path.splitext(path.lower())
    if ext in SIDECAR_EXTS:
        inner, ext2 = os.path.splitext(base)
        if ext2 and b"/" not in ext2:
            base = inner
    return base


def build(index: Index) -> tuple[CatalogTable, Stats]:
    with index.read() as txn:
        current: dict[str, list[bytes]] = defaultdict(list)
        last_known: dict[str, bytes] = {}
        by_stem: dict[bytes, list[tuple[bytes, str]]] = defaultdict(list)
        for root, path, st in index.iter_paths(txn):
            full = root.encode() + b"/" + path
            if st.present:
                current[st.asset].append(full)
                by_stem[root.encode() + b"/" + _stem(path)].append((full, st.asset))
            else:
                last_known.setdefault(st.asset, full)
        errors: dict[bytes, tuple[str, str]] = {}
        for root, path, err in index.iter_errors(txn):
            errors[root.encode() + b"/" + path] = (err.reason, err.detail)
        assets = list(index.iter_assets(txn))
        for a in assets:  # a missing asset is shown at the last path it was seen at
            if a.id not in current and a.id not in last_known:
                keys = index.asset_path_keys(txn, a.id)
                if keys:
                    last_known[a.id] = keys[-1][0].encode() + b"/" + keys[-1][1]

    kind_of = {a.id: a.meta.kind for a in assets}
    extra_flags: dict[str, int] = defaultdict(int)
    for members in by_stem.values():
        if len(members) < 2:
            continue
        exts = {os.path.splitext(p)[1].lower() for p, _ in members}
        has_sidecar = bool(exts & SIDECAR_EXTS)
        images = [a for p, a in members if kind_of.get(a) == "image"]
        videos = [
            a
            for p, a in members
            if kind_of.get(a) == "video" and os.path.splitext(p)[1].lower() in LIVE_VIDEO_EXTS
        ]
        for p, a in members:
            if has_sidecar and os.path.splitext(p)[1].lower() not in SIDECAR_EXTS:
                extra_flags[a] |= F_SIDECAR
        if images and videos:
            for a in images + videos:
                extra_flags[a] |= F_LIVE

    # one tuple per row: (primary path, id, paths, kind code, size, taken, flags, camera, error)
    rows: list[tuple[bytes, str, list[bytes], int, int, int, int, int, str]] = []
    stats = Stats(by_kind={}, bytes_by_kind={})
    cameras: dict[str, int] = {"": 0}
    for a in assets:
        m = a.meta
        paths = sorted(current.get(a.id, []))
        flags = extra_flags.get(a.id, 0)
        if not paths:
            flags |= F_MISSING
            paths = [last_known.get(a.id, b"")]
        err = m.error or ""
        path_err = next((errors[p][0] for p in paths if p in errors), "")
        if err or path_err:
            flags |= F_ERROR
            err = err or path_err
        if m.gps_lat is not None and m.gps_lon is not None:
            flags |= F_GPS
        if m.taken:
            flags |= F_TAKEN
        if m.frames and m.frames > 1:
            flags |= F_ANIMATED
        cam = " ".join(x for x in (m.camera_make, m.camera_model) if x)
        # "Apple iPhone 12", but "Canon EOS 5D" rather than "Canon Canon EOS 5D"
        if (
            m.camera_make
            and m.camera_model
            and m.camera_model.lower().startswith(m.camera_make.lower())
        ):
            cam = m.camera_model
        cam_i = cameras.setdefault(cam, len(cameras))
        kind = KIND_CODES.get(m.kind, KIND_CODES["other"])
        rows.append((paths[0], a.id, paths, kind, a.size, taken_int(m.taken), flags, cam_i, err))
        stats.assets += 1
        stats.bytes += a.size
        stats.by_kind[m.kind] = stats.by_kind.get(m.kind, 0) + 1
        stats.bytes_by_kind[m.kind] = stats.bytes_by_kind.get(m.kind, 0) + a.size
        stats.missing += bool(flags & F_MISSING)
        stats.errors += bool(m.error)
        stats.paths += len(current.get(a.id, []))
    present_paths = {p for ps in current.values() for p in ps}
    for p, (reason, _detail) in errors.items():
        stats.errors += 1
        if p not in present_paths:
            rows.append((p, "", [p], KIND_CODES["error"], 0, 0, F_ERROR, 0, reason))
    rows.sort(key=lambda r: (r[0], r[1]))

    t = CatalogTable(cameras=[""] * len(cameras))
    for name, i in cameras.items():
        t.cameras[i] = name
    ids, kinds = [], bytearray()
    path_rows = array("I")
    for rowno, (_key, aid, paths, kind, size, tk, fl, cam_i, err) in enumerate(rows):
        ids.append(bytes.fromhex(aid) if aid else NO_ID)
        kinds.append(kind)
        t.sizes.append(size)
        t.taken.append(tk)
        t.flags.append(fl)
        t.camera.append(cam_i)
        t.errors.append(err)
        t.paths.extend(paths)
        path_rows.extend([rowno] * len(paths))
    t.ids, t.kinds, t.path_rows = b"".join(ids), bytes(kinds), path_rows
    return t, stats


_stats_dec = msgspec.msgpack.Decoder(Stats)


# bump when the snapshot's layout or derivation changes: old snapshots are then rebuilt
SNAPSHOT_VERSION = 1


def _fresh_gen(index: Index) -> tuple[int, bool]:
    with index.read() as txn:
        gen = index.meta_int(txn, b"data_gen") * 1000 + SNAPSHOT_VERSION
        have = index.get_blob(txn, b"stats") is not None
        return gen, have and index.meta_int(txn, b"table_gen") == gen


def refresh(index: Index) -> None:
    """Rebuild the cached snapshot if the index changed since it was made."""
    gen, fresh = _fresh_gen(index)
    if fresh:
        return
    table, stats = build(index)
    index.put_blobs({b"table": table.to_bytes(), b"stats": msgspec.msgpack.encode(stats)}, gen)


def load_table(index: Index) -> CatalogTable:
    refresh(index)
    with index.read() as txn:
        blob = index.get_blob(txn, b"table")
    return CatalogTable.from_bytes(blob) if blob else CatalogTable()


def load_stats(index: Index) -> Stats:
    refresh(index)
    with index.read() as txn:
        blob = index.get_blob(txn, b"stats")
    return _stats_dec.decode(blob) if blob else Stats()
