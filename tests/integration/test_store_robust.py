"""A store is never bricked: names of any length the OS allows, records the index cannot
apply, a damaged local index, a read-only store, a full disk."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from mstore.model.meta import Meta
from mstore.model.records import AssetRecorded, CollectionDefined, Label, PathSeen
from mstore.store.keys import CUT
from mstore.store.segments import encode_segment
from tests.fixtures.archive import listing, make_readonly, make_writable
from tests.helpers import catalog_answers, mstore, mstore_proc
from tests.integration.unprivileged import open_up, run_as_nobody

NAME_MAX = 255
PATH_MAX = 4096


def _jpeg(seed: int) -> bytes:
    from io import BytesIO

    from PIL import Image

    buf = BytesIO()
    Image.new("RGB", (8, 8), (seed % 256, 7, 99)).save(buf, "JPEG")
    return buf.getvalue()


def _write_at_depth(root: Path, names: list[bytes], content: bytes) -> bytes:
    """Create the file root/names[0]/.../names[-1] through directory fds (the whole path may
    exceed PATH_MAX); return its path relative to the root."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in names[:-1]:
            os.mkdir(name, dir_fd=fd)
            nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
        f = os.open(names[-1], os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(f, content)
        os.close(f)
    finally:
        os.close(fd)
    return b"/".join(names)


@pytest.fixture
def long_archive(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    """An archive with the longest names the OS allows: a file whose absolute path is just
    under PATH_MAX, 255-byte names 30 levels deep, and exact copies under long paths."""
    root = tmp_path / "archive"
    root.mkdir()
    files: dict[str, bytes] = {}
    # 1. the absolute path just fits PATH_MAX (4095 bytes + NUL)
    room = PATH_MAX - 1 - len(os.fsencode(root)) - 1
    names, left = [], room
    i = 0
    while left > NAME_MAX + 1:
        names.append(b"%02d" % i + b"d" * (NAME_MAX - 2))
        left -= NAME_MAX + 1
        i += 1
    names.append(b"f" * (left - 4) + b".jpg")
    files["path_max"] = _write_at_depth(root, names, _jpeg(1))
    assert len(os.fsencode(root)) + 1 + len(files["path_max"]) == PATH_MAX - 1
    # 2. 255-byte names, 30 levels: the path is far beyond PATH_MAX
    deep = [b"%02d" % i + b"n" * (NAME_MAX - 2) for i in range(29)] + [b"x" * 251 + b".jpg"]
    files["deep"] = _write_at_depth(root, deep, _jpeg(2))
    # 3. an exact duplicate pair whose paths are ~450 bytes (review marks name the path)
    for side in (b"a", b"b"):
        rel = _write_at_depth(root, [side * 200, side * 240 + b".jpg"], _jpeg(3))
        files[f"copy_{side.decode()}"] = rel
    (root / "short.jpg").write_bytes(_jpeg(4))
    files["short"] = b"short.jpg"
    return root, files


def _store(tmp_path: Path, root: Path) -> Path:
    store = tmp_path / "store"
    r = mstore("init", "--store", store, root)
    assert r.code == 0, r.err
    return store


def _works(store: Path) -> None:
    """The commands that a bricked store failed: all answer."""
    for argv in (["status"], ["find", "--count"], ["fsck"], ["log"]):
        r = mstore_proc(*argv, store=store)
        assert r.code == 0, (argv, r.err)
        assert "Traceback" not in r.err


def test_paths_as_long_as_the_os_allows_are_cataloged_and_found(
        tmp_path: Path, long_archive: tuple[Path, dict[str, bytes]]) -> None:
    root, files = long_archive
    store = _store(tmp_path, root)
    r = mstore_proc("add", "--json", store=store)
    assert r.code == 0, r.err
    assert "Traceback" not in r.err
    _works(store)
    rows = mstore("find", "--json", store=store).json_lines()
    by_path = {p.split("/", 1)[1]: row for row in rows for p in row["paths"]}
    root_name = root.name
    for what in ("path_max", "copy_a", "copy_b", "short"):
        rel = files[what].decode()
        assert rel in by_path, what
        # show by path and by id both answer with the full path
        shown = mstore("show", f"{root_name}/{rel}", "--json", store=store)
        assert shown.code == 0, shown.err
        assert rel in [p["path"] for p in shown.json()["paths"]]
    # the deep file cannot be opened by its path (beyond PATH_MAX): a recorded error, whole
    errors = mstore("find", "error:", "--json", store=store).json_lines()
    deep_errors = [e for e in errors if any(files["deep"][:600].decode() in p
                                            for p in e["paths"])]
    assert deep_errors, errors
    # a prefix longer than the key cut still selects exactly what is under it
    long_dir = files["path_max"].rsplit(b"/", 1)[0].decode()
    assert len(long_dir) > CUT
    hits = mstore("find", f"path:{long_dir}/", "--json", store=store).json_lines()
    assert [h["paths"] for h in hits] == [[f"{root_name}/{files['path_max'].decode()}"]]
    # the two long copies are one asset with two paths
    assert by_path[files["copy_a"].decode()]["id"] == by_path[files["copy_b"].decode()]["id"]
    # a rebuilt index answers the same
    before = catalog_answers(store)
    assert mstore_proc("reindex", store=store).code == 0
    assert catalog_answers(store) == before


def test_a_long_path_moved_and_deleted_keeps_its_history(
        tmp_path: Path, long_archive: tuple[Path, dict[str, bytes]]) -> None:
    root, files = long_archive
    store = _store(tmp_path, root)
    assert mstore_proc("add", store=store).code == 0
    old = root / os.fsdecode(files["copy_a"])
    new = old.with_name("m" * 250 + ".jpg")
    old.rename(new)
    r = mstore_proc("add", "--json", store=store)
    assert r.code == 0, r.err
    assert json.loads(r.out)["moved"] == 1
    show = mstore("show", "--json", f"{root.name}/{files['copy_b'].decode()}", store=store).json()
    paths = {p["path"]: p for p in show["paths"]}
    moved_to = os.fsdecode(new.relative_to(root))
    assert moved_to in paths and paths[moved_to]["current"]
    gone = files["copy_a"].decode()
    assert not paths[gone]["current"]
    assert [h["event"] for h in paths[gone]["history"]] == ["seen", "gone"]
    _works(store)


def test_long_label_keys_and_values_and_collection_names(
        tmp_path: Path, long_archive: tuple[Path, dict[str, bytes]]) -> None:
    root, _files = long_archive
    store = _store(tmp_path, root)
    assert mstore_proc("add", store=store).code == 0
    aid = mstore("find", "--json", "short", store=store).json_lines()[0]["id"]
    key, value = "k" * 600, "v" * 20_000
    other_key = "k" * 599 + "j"  # shares the first CUT bytes: a different label all the same
    for k, v in ((key, value), (other_key, "other")):
        r = mstore_proc("label", aid, "--set", f"{k}={v}", store=store)
        assert r.code == 0, r.err
    labels = {lab["key"]: lab["value"]
              for lab in mstore("show", aid, "--json", store=store).json()["labels"]}
    assert labels == {key: value, other_key: "other"}
    assert mstore("find", f"label:{key}={value}", "--count", store=store).out.strip() == "1"
    assert mstore("find", f"label:{other_key}=other", "--count", store=store).out.strip() == "1"
    assert mstore_proc("label", aid, "--set", f"{key}=", store=store).code == 0  # clear it
    assert mstore("find", f"label:{key}={value}", "--count", store=store).out.strip() == "0"
    r = mstore_proc("collection", "create", "c" * 700, "--query", "kind:image", store=store)
    assert r.code == 2 and "collection name" in r.err and "Traceback" not in r.err
    _works(store)


def _other_machine_lane(store: Path) -> Path:
    lane = store / "records" / "00000000cafe"
    lane.mkdir()
    return lane


def test_a_segment_written_before_the_key_scheme_applies_after_the_upgrade(
        tmp_path: Path) -> None:
    """Segments with long paths and label keys, as a store written before this version
    holds them (the format did not change; the old index could not apply them)."""
    root = tmp_path / "archive"
    root.mkdir()
    store = _store(tmp_path, root)
    aid = "ab" * 32
    long_path = b"dir/" + b"p" * 900 + b".jpg"
    recs = [AssetRecorded(hlc=1 << 16, id=aid, size=3, meta=Meta(kind="image", mime="x")),
            PathSeen(hlc=2 << 16, root=root.name, path=long_path, asset=aid, size=3,
                     mtime_ns=1, inode=1),
            Label(hlc=3 << 16, asset=aid, key="q" * 700, value="yes"),
            CollectionDefined(hlc=4 << 16, name="c" * 700, query="kind:image")]
    (_other_machine_lane(store) / "0000000001.seg").write_bytes(
        encode_segment("00000000cafe", 1, recs))
    _works(store)
    show = mstore("show", aid, "--json", store=store).json()
    assert [p["path"] for p in show["paths"]] == [long_path.decode()]
    assert [lab["key"] for lab in show["labels"]] == ["q" * 700]
    listed = mstore("collection", "list", "--json", store=store).json_lines()
    assert [c["name"] for c in listed] == ["c" * 700]


def test_records_the_index_cannot_apply_are_set_aside(tmp_path: Path) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    (root / "a.jpg").write_bytes(_jpeg(5))
    store = _store(tmp_path, root)
    assert mstore_proc("add", store=store).code == 0
    good = "cd" * 32
    raw = encode_segment("00000000cafe", 1, [
        AssetRecorded(hlc=1 << 16, id=good, size=3, meta=Meta(kind="text", mime="text/plain")),
        PathSeen(hlc=2 << 16, root=root.name, path=b"bad", asset="not-an-id", size=1,
                 mtime_ns=1, inode=1),  # an asset id that is not one
        PathSeen(hlc=3 << 16, root=root.name, path=b"good.txt", asset=good, size=3,
                 mtime_ns=1, inode=1),
    ])
    # a fourth record of a known type whose fields do not decode: rewrite the body by hand
    import msgspec

    from mstore.store.segments import MAGIC, verify

    body = msgspec.msgpack.decode(verify(raw))
    body["records"].append({"t": "seen", "hlc": 4 << 16, "root": 7, "path": "x"})
    body["records"].append({"t": "from-a-newer-mstore", "hlc": 5 << 16})  # skipped quietly
    import struct

    import blake3

    enc = msgspec.msgpack.encode(body)
    head = MAGIC + struct.pack(">Q", len(enc))
    (_other_machine_lane(store) / "0000000001.seg").write_bytes(
        head + enc + blake3.blake3(head + enc).digest())
    r = mstore_proc("status", "--json", store=store)
    assert r.code == 0, r.err
    assert json.loads(r.out)["set_aside"] == 2
    human = mstore_proc("status", store=store)
    assert "set aside 2 records" in human.out
    # the rest of the segment applied
    assert mstore("find", "good.txt", "--count", store=store).out.strip() == "1"
    assert mstore("find", "--count", store=store).out.strip() == "2"
    r = mstore_proc("fsck", store=store)
    assert r.code == 5
    assert "segment 00000000cafe/0000000001 position 1 (seen)" in r.out + r.err
    assert "position 3 (seen)" in r.out + r.err
    assert "position 4" not in r.out + r.err
    # reindex keeps them aside, and the store keeps working
    assert mstore_proc("reindex", store=store).code == 0
    assert mstore_proc("status", "--json", store=store).code == 0


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_index_file_is_rebuilt_not_fatal(tmp_path: Path, damage: str) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    for i in range(300):
        (root / f"f{i:03d}.txt").write_text(f"file {i}\n" * (i + 1))
    store = _store(tmp_path, root)
    assert mstore_proc("add", store=store).code == 0
    before = catalog_answers(store)
    data = store / "local" / "index" / "data.mdb"
    size = data.stat().st_size
    if damage == "truncate":
        os.truncate(data, size // 3)
    elif damage == "garbage":
        data.write_bytes(os.urandom(size))
    else:
        os.truncate(data, 0)
    r = mstore_proc("status", store=store)
    assert r.code == 0, (r.code, r.err)  # not killed by SIGBUS (-7)
    assert "index is damaged" in r.err and "rebuilding" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert catalog_answers(store) == before
    assert mstore_proc("fsck", store=store).code == 0


def _photo_store(tmp_path: Path, n: int) -> tuple[Path, Path]:
    """A cataloged store over ``n`` small photos: (store, archive root)."""
    root = tmp_path / "archive"
    root.mkdir()
    for i in range(n):
        (root / f"p{i}.jpg").write_bytes(_jpeg(i))
    store = _store(tmp_path, root)
    assert mstore_proc("add", store=store).code == 0
    return store, root


@pytest.fixture
def root_owned_store(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A store that belongs to root, cataloged, which 'nobody' may read but not write."""
    store, root = _photo_store(tmp_path, 5)
    subprocess.run(["chmod", "-R", "a+rX,go-w", str(tmp_path)], check=True)
    open_up(tmp_path)
    yield store, root


def test_another_users_store_answers_read_commands(
        nobody_python: list[str], root_owned_store: tuple[Path, Path], tmp_path: Path) -> None:
    store, _root = root_owned_store
    as_root = catalog_answers(store)
    before = listing(store)
    for argv in (["status"], ["find", "kind:image"], ["find", "--count"], ["log"],
                 ["collection", "list"]):
        r = run_as_nobody(nobody_python, "--store", store, *argv)
        assert r.code == 0, (argv, r.err)
        assert "Traceback" not in r.err
    r = run_as_nobody(nobody_python, "--store", store, "find", "--json")
    assert [json.loads(x)["id"] for x in r.out.splitlines()] == [
        row["id"] for row in as_root["find"]]
    aid = as_root["find"][0]["id"]
    r = run_as_nobody(nobody_python, "--store", store, "show", aid[:10], "--json")
    assert r.code == 0 and json.loads(r.out)["id"] == aid
    r = run_as_nobody(nobody_python, "--store", store, "status")
    assert "read-only here" in r.out
    # write commands say so, in one line, with their own exit code
    for argv in (["add"], ["label", aid, "--set", "k=v"], ["collection", "create", "x",
                                                           "--query", "kind:image"],
                 ["reindex"], ["gc"]):
        r = run_as_nobody(nobody_python, "--store", store, *argv)
        assert r.code == 7, (argv, r.code, r.err)
        assert "read-only" in r.err and len(r.err.strip().splitlines()) == 1, r.err
    assert listing(store) == before  # nothing in the store was touched


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[callable]:
    """Mount helper (tmpfs, read-only binds); everything is unmounted at the end."""
    mounts: list[Path] = []

    def mount(*args: str, target: Path) -> None:
        target.mkdir(parents=True, exist_ok=True)
        p = subprocess.run(["mount", *args, str(target)], capture_output=True, text=True)
        if p.returncode != 0:
            pytest.skip(f"this machine cannot mount file systems: {p.stderr.strip()}")
        mounts.append(target)

    yield mount
    for m in reversed(mounts):
        subprocess.run(["umount", "-l", str(m)], check=False)


def test_a_store_on_a_read_only_mount_answers_read_commands(
        tmp_path: Path, mounted: callable) -> None:
    store, _root = _photo_store(tmp_path, 4)
    answers = catalog_answers(store)
    ro = tmp_path / "backup"
    mounted("--bind", str(store), target=ro)
    subprocess.run(["mount", "-o", "remount,ro,bind", str(ro)], check=True)
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    r = mstore_proc("find", "--json", store=ro, env=env)
    assert r.code == 0, r.err
    assert [json.loads(x)["id"] for x in r.out.splitlines()] == [
        row["id"] for row in answers["find"]]
    r = mstore_proc("add", store=ro, env=env)
    assert r.code == 7 and "read-only" in r.err, (r.code, r.err)


def test_a_full_disk_during_add_is_one_line_and_loses_nothing(
        tmp_path: Path, mounted: callable) -> None:
    root = tmp_path / "archive"
    root.mkdir()
    for i in range(3000):  # enough records to fill a small disk
        (root / f"{i:04d}-{'n' * 180}.txt").write_text(f"text {i}\n")
    make_readonly(root)
    disk = tmp_path / "disk"
    mounted("-t", "tmpfs", "-o", "size=1m", "tmpfs", target=disk)
    store = disk / "st"
    assert mstore_proc("init", "--store", store, root).code == 0
    r = mstore_proc("add", store=store)
    assert r.code == 8, (r.code, r.out, r.err)
    assert "no space left" in r.err and "Traceback" not in r.err
    assert len(r.err.strip().splitlines()) == 1, r.err
    # nothing half-written: every file under objects/ and records/ is whole
    leftovers = [p for p in (store / "local" / "tmp").rglob("*") if p.is_file()]
    assert not leftovers
    subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
    r = mstore_proc("fsck", store=store)
    assert r.code == 0, r.out + r.err
    r = mstore_proc("add", "--json", store=store)
    assert r.code == 0, r.err
    assert mstore("find", "--count", store=store).out.strip() == "3000"
    make_writable(root)
