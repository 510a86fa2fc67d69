"""What file-sync tools leave beside a store's files — conflict copies, temp files, partial
downloads, their own folders — is never applied, never removed, and reported by fsck with
the tool that probably left it (docs/format.md section 8)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from mstore.model.meta import Meta
from mstore.model.records import AssetRecorded, PathSeen
from mstore.store.objects import ObjectStore, object_id
from mstore.store.segments import encode_segment
from tests.helpers import catalog_answers, mstore, mstore_proc

SYNCTHING = ".sync-conflict-20240101-120000-ABCDEFG"
GHOST = "ee" * 32  # an asset only the conflict copies know


def _fsck(store: Path, *args: str) -> tuple[int, dict]:
    r = mstore_proc("fsck", "--json", *args, store=store)
    assert "Traceback" not in r.err, r.err
    return r.code, json.loads(r.out)


def _lane(store: Path) -> Path:
    """The catalog lane (the cli lane, <machine>.cli, holds the collection)."""
    (lane,) = [d for d in (store / "records").iterdir() if d.is_dir() and "." not in d.name]
    return lane


def _other_records(store: Path, lane: str, seq: int) -> bytes:
    """A whole, valid segment of ``lane`` numbered ``seq`` holding a photo nobody cataloged:
    what the other machine wrote under the same name."""
    root = next(iter(json.loads(mstore("status", "--json", store=store).out)["roots"]))
    recs = [AssetRecorded(hlc=1 << 16, id=GHOST, size=3, meta=Meta(kind="image",
                                                                  mime="image/jpeg")),
            PathSeen(hlc=2 << 16, root=root, path=b"ghost.jpg", asset=GHOST, size=3,
                     mtime_ns=1, inode=1)]
    return encode_segment(lane, seq, recs)


def _pack_bytes(tmp: Path, objects: dict[str, bytes]) -> tuple[str, bytes]:
    """A real pack of ``objects`` (id -> payload), made aside: (its id, its bytes)."""
    os_ = ObjectStore(tmp / "objects", tmp / "tmp")
    pid = os_.write_pack(objects)
    return pid, (tmp / "objects" / "packs" / f"{pid}.pack").read_bytes()


@pytest.fixture
def synced(fresh_store: tuple[Path, Path], tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A cataloged store (with a frozen collection, so a pack) and what a syncer left in it:
    relative path -> the tool fsck must name."""
    store, _root = fresh_store
    assert mstore("add", store=store).code == 0
    r = mstore("collection", "create", "pics", "--query", "kind:image", "--freeze", store=store)
    assert r.code == 0, r.err
    lane = _lane(store)
    seg = (lane / "0000000001.seg").read_bytes()
    (pack,) = (store / "objects" / "packs").iterdir()
    pack_bytes = pack.read_bytes()
    hexid = pack.name.removesuffix(".pack")
    doomed = b"an object only a conflict copy of a pack holds"
    _pid, other_pack = _pack_bytes(tmp_path / "aside", {object_id(doomed): doomed})
    wrong_dir = "ff" * 32  # a loose object's name, in a directory that is not its own
    left = {
        # Syncthing: a conflict copy of a segment (the same bytes), of a pack (another pack
        # under that name), temp files of a download in progress, its folder marker and
        # version archive
        f"records/{lane.name}/0000000001{SYNCTHING}.seg": ("Syncthing", seg),
        f"objects/packs/{hexid}{SYNCTHING}.pack": ("Syncthing", other_pack),
        f"objects/packs/.syncthing.{hexid}.pack.tmp": ("Syncthing", pack_bytes[:40]),
        f"records/{lane.name}/~syncthing~0000000002.seg.tmp": ("Syncthing", seg[:30]),
        "records/.stfolder": ("Syncthing", b""),
        "records/.stversions/": ("Syncthing", None),
        # Dropbox
        f"records/{lane.name}/0000000001 (laptop's conflicted copy 2024-01-01).seg":
            ("Dropbox", seg),
        "objects/.dropbox.cache/": ("Dropbox", None),
        # Nextcloud / ownCloud: a download in progress, the client's journal, a conflict
        f"records/{lane.name}/.0000000002.seg.~1a2b3c4d": ("Nextcloud/ownCloud", seg[:20]),
        "records/.sync_5f3e2a1b0c9d.db": ("Nextcloud/ownCloud", b"SQLite format 3\0"),
        f"objects/packs/{hexid} (conflicted copy 2024-01-01 120000).pack":
            ("Nextcloud", pack_bytes),
        # Resilio Sync: a half-received pack
        f"objects/packs/{hexid}.pack.!sync": ("Resilio Sync", pack_bytes[: len(pack_bytes) // 2]),
        # rsync's temp file of a segment it was copying when it was stopped
        f"records/{lane.name}/.0000000002.seg.Xa12Bc": ("rsync", seg[: len(seg) // 2]),
        # generic partial downloads, and a name that is nobody's in particular
        f"objects/packs/{hexid}.pack.part": ("a download or copy tool", pack_bytes[:100]),
        f"objects/ff/ff/{wrong_dir}.partial": ("a download or copy tool", b"half"),
        # an object's name in a directory that is not its own (ff/ff/ is)
        f"objects/00/00/{wrong_dir}": ("unknown", b"not where its name says"),
    }
    tools = {}
    for rel, (tool, data) in left.items():
        p = store / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        if data is None:
            p.mkdir()
            (p / "0000000001.seg").write_bytes(seg)  # e.g. an old version kept by the tool
        else:
            p.write_bytes(data)
        tools[rel] = tool
    return store, tools


def _files(store: Path) -> dict[str, bytes]:
    return {str(p.relative_to(store)): p.read_bytes()
            for top in ("objects", "records") for p in sorted((store / top).rglob("*"))
            if p.is_file()}


def test_sync_leftovers_are_reported_never_applied_nor_removed(synced) -> None:  # noqa: ANN001
    store, tools = synced
    before = _files(store)
    code, rep = _fsck(store, "--full")
    assert code == 0, rep["problems"]  # nothing is damaged: foreign files alone exit 0
    assert rep["clean"] and rep["quarantined"] == [] and rep["problems"] == []
    got = {f["path"]: f["tool"] for f in rep["foreign"]}
    assert got == tools
    copy = next(f for f in rep["foreign"] if f["path"].endswith(f"0000000001{SYNCTHING}.seg"))
    assert copy["copy_of"] == "0000000001.seg" and "same bytes" in copy["note"]
    assert _files(store) == before  # nothing moved, deleted or added

    text = mstore_proc("fsck", store=store)
    assert text.code == 0
    lines = [ln for ln in text.out.splitlines() if ln.startswith("foreign: ")]
    assert len(lines) == len(tools)
    assert all(ln.endswith("; ignored, not applied") for ln in lines)
    lane = next(iter(tools)).split("/")[1]
    assert (f"foreign: records/{lane}/0000000001{SYNCTHING}.seg: Syncthing conflict copy of "
            "0000000001.seg (the same bytes as 0000000001.seg); ignored, not applied") in lines
    assert text.out.splitlines()[-1].startswith(f"clean ({len(tools)} foreign files ignored")


def test_sync_leftovers_change_no_answer_and_gc_leaves_them(synced) -> None:  # noqa: ANN001
    store, tools = synced
    # remove them, take the answers, put them back: what a user reads must not change
    saved = {rel: (store / rel).read_bytes() for rel in tools if not rel.endswith("/")}
    for rel in tools:
        p = store / rel
        shutil.rmtree(p) if rel.endswith("/") else p.unlink()
    clean = catalog_answers(store)
    for rel in tools:
        p = store / rel
        if rel.endswith("/"):
            p.mkdir()
        else:
            p.write_bytes(saved[rel])
    assert catalog_answers(store) == clean
    assert mstore("reindex", store=store).code == 0
    assert catalog_answers(store) == clean

    # an interrupted gc left the conflict copy's object in its journal: gc sweeps what
    # is mstore's and leaves the sync tool's files as they are
    doomed = object_id(b"an object only a conflict copy of a pack holds")
    journal = store / "local" / "gc" / "journal.json"
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_text(json.dumps({"drop": 0, "objects": [doomed], "at_ms": 0}))
    before = _files(store)
    r = mstore("gc", "--json", store=store)
    assert r.code == 0, r.err
    assert r.json()["objects"] == 0 and r.json()["packs_rewritten"] == 0
    assert _files(store) == before


def test_a_conflict_copy_with_other_records_says_two_machines_wrote_the_lane(
        fresh_store: tuple[Path, Path]) -> None:
    store, _root = fresh_store
    assert mstore("add", store=store).code == 0
    lane = _lane(store)
    clean = catalog_answers(store)
    copy = lane / f"0000000001{SYNCTHING}.seg"
    copy.write_bytes(_other_records(store, lane.name, 1))
    lonely = lane / "0000000007 (laptop's conflicted copy 2024-01-01).seg"
    lonely.write_bytes(_other_records(store, lane.name, 7))

    # never applied: not by a read, not by a rebuild
    assert catalog_answers(store) == clean
    assert mstore("reindex", store=store).code == 0
    assert catalog_answers(store) == clean

    code, rep = _fsck(store)
    assert code == 5
    two = [p for p in rep["problems"] if p.startswith(f"two machines wrote lane {lane.name}")]
    assert len(two) == 1 and copy.name in two[0] and "local/machine-id" in two[0]
    alone = [p for p in rep["problems"] if "0000000007.seg is only in a Dropbox conflict copy"
             in p]
    assert len(alone) == 1, rep["problems"]
    notes = {f["path"].rsplit("/", 1)[1]: f["note"] for f in rep["foreign"]}
    assert "two machines wrote this lane" in notes[copy.name]
    assert rep["quarantined"] == [] and copy.exists() and lonely.exists()


def test_foreign_names_that_are_not_text_are_reported_on_one_line(
        fresh_store: tuple[Path, Path]) -> None:
    """A host name in a conflict copy may not be UTF-8, a name may hold a newline: each is
    still one line of the report and valid JSON, never a traceback."""
    store, _root = fresh_store
    assert mstore("add", store=store).code == 0
    lane = _lane(store)
    seg = (lane / "0000000001.seg").read_bytes()
    latin = os.fsencode(lane) + b"/0000000001 (caf\xe9's conflicted copy 2024-01-01).seg"
    with open(latin, "wb") as f:
        f.write(seg)
    (store / "objects" / "two\nlines.part").write_bytes(b"x")
    code, rep = _fsck(store)
    assert code == 0, rep["problems"]
    paths = {f["path"]: f for f in rep["foreign"]}
    shown = f"records/{lane.name}/0000000001 (caf\\xe9's conflicted copy 2024-01-01).seg"
    assert paths[shown]["tool"] == "Dropbox" and "same bytes" in paths[shown]["note"]
    assert paths["objects/two\\nlines.part"]["tool"] == "a download or copy tool"
    text = mstore_proc("fsck", store=store)
    assert text.code == 0 and "Traceback" not in text.err
    assert f"foreign: {shown}: Dropbox conflict copy of 0000000001.seg" in text.out
    assert "foreign: objects/two\\nlines.part: a download or copy tool partial file; " \
        "ignored, not applied" in text.out.splitlines()
