"""Changes ``add`` must see on a second run: in-place edits that keep size and mtime,
``--verify``, and links that appear, change or go."""

from __future__ import annotations

import os
import time
from pathlib import Path

from mstore.model.records import PathSeen
from mstore.store.segments import list_segments, read_segment
from mstore.store.store import Store
from tests.helpers import mstore


def _archive(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "archive"
    (root / "notes").mkdir(parents=True)
    (root / "notes" / "a.txt").write_text("alpha alpha\n")
    (root / "notes" / "b.txt").write_text("bravo bravo\n")
    (root / "notes" / "c.txt").write_text("charlie\n")
    store = tmp_path / "store"
    assert mstore("init", "--store", store, root).code == 0
    return store, root


def _add_settled(store: Path) -> None:
    """Catalog until an add reads nothing again. A file written within a timestamp tick of
    being read is recorded as racy and read by the next add too (docs/catalog.md); the
    tests below count what later adds read, so they start from a settled catalog."""
    deadline = time.monotonic() + 30
    while True:
        r = mstore("add", "--json", store=store)
        assert r.code == 0, r.err
        if r.json()["bytes_hashed"] == 0:
            return
        assert time.monotonic() < deadline, "adds kept reading files"


def _edit_in_place(path: Path, text: str) -> None:
    """What a tool that preserves timestamps does: same size, content changed, old mtime
    put back (only the inode's ctime, which no tool can set, still moves)."""
    st = path.stat()
    assert len(text.encode()) == st.st_size
    with open(path, "r+b") as f:
        f.write(text.encode())
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = path.stat()
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (
        st.st_size, st.st_mtime_ns, st.st_ino)


def _id_at(store: Path, path: Path) -> str:
    return mstore("show", path, "--json", store=store).json()["id"]


def _resight(store: Path, path: Path, rel: bytes, aid: str | None = None,
             **fields: object) -> None:
    """Append a sighting of ``rel`` (its asset, its current stat) with these fields: a
    record as another writer (an older mstore, a racy read) would have made it."""
    aid = aid or _id_at(store, path)
    st = path.stat()
    s = Store.discover(store)
    w = s.writer()
    w.append(PathSeen(hlc=w.now(), root="archive", path=rel, asset=aid, size=st.st_size,
                      mtime_ns=st.st_mtime_ns, inode=st.st_ino, **fields))
    w.flush()
    s.close()


def _records(store: Path, kind: type) -> list:
    out = []
    for ref in list_segments(store / "records"):
        out += [r for r in read_segment(ref.path) if isinstance(r, kind)]
    return out


def test_an_in_place_edit_that_restores_the_mtime_is_seen(tmp_path: Path) -> None:
    store, root = _archive(tmp_path)
    _add_settled(store)
    f = root / "notes" / "a.txt"
    before = _id_at(store, f)
    _edit_in_place(f, "ALPHA alpha\n")
    s = mstore("add", "--json", store=store).json()
    assert (s["changed"], s["new"], s["unchanged"]) == (1, 0, 2)
    assert s["bytes_hashed"] == f.stat().st_size  # only the edited file was read
    after = _id_at(store, f)
    assert after != before
    missing = {r["id"] for r in mstore("find", "missing:", "--json", store=store).json_lines()}
    assert missing == {before}


def test_verify_reads_everything_and_reports_what_stat_could_not_show(tmp_path: Path) -> None:
    store, root = _archive(tmp_path)
    _add_settled(store)
    f = root / "notes" / "b.txt"
    before = _id_at(store, f)
    # the catalog of an older mstore, which did not record ctime: its re-sighting of b.txt
    # is the latest claim, so only (size, mtime, inode) can be compared for that path
    _resight(store, f, b"notes/b.txt")
    _edit_in_place(f, "BRAVO bravo\n")
    plain = mstore("add", "--json", store=store).json()
    assert (plain["changed"], plain["bytes_hashed"]) == (0, 0)  # stat alone cannot tell
    seen_before = len(_records(store, PathSeen))
    r = mstore("add", "--verify", "--json", store=store)
    v = r.json()
    assert v["verified"] and v["changed"] == 1 and v["unchanged"] == 2
    assert v["changed_unseen"] == ["archive/notes/b.txt"]
    assert v["bytes_hashed"] == sum(p.stat().st_size for p in (root / "notes").iterdir())
    # the unchanged files were read but nothing new was recorded for them
    assert len(_records(store, PathSeen)) == seen_before + 1
    assert _id_at(store, f) != before
    human = mstore("add", "--verify", store=store).out
    assert "verified: no content changed" in human


def test_verify_lists_unseen_changes_for_people(tmp_path: Path) -> None:
    store, root = _archive(tmp_path)
    assert mstore("add", store=store).code == 0
    f = root / "notes" / "c.txt"
    _resight(store, f, b"notes/c.txt")
    _edit_in_place(f, "CHARLIE\n")
    out = mstore("add", "--verify", store=store).out
    assert "1 changed although size, times and inode had not:" in out
    assert "  archive/notes/c.txt" in out.splitlines()


def test_links_appear_change_and_go(tmp_path: Path) -> None:
    store, root = _archive(tmp_path)
    notes = root / "notes"
    os.symlink("a.txt", notes / "link.txt")
    s = mstore("add", "--json", store=store).json()
    assert (s["new"], s["links"]) == (3, 1)
    a = mstore("show", notes / "a.txt", "--json", store=store).json()
    assert [p["path"] for p in a["paths"]] == ["notes/a.txt"]
    assert [lk["path"] for lk in a["links"]] == ["notes/link.txt"]
    # re-pointed: the link follows its new target
    (notes / "link.txt").unlink()
    os.symlink("b.txt", notes / "link.txt")
    assert mstore("add", "--json", store=store).json()["links"] == 1
    assert mstore("show", notes / "a.txt", "--json", store=store).json()["links"] == []
    b = mstore("show", notes / "b.txt", "--json", store=store).json()
    assert [lk["path"] for lk in b["links"]] == ["notes/link.txt"]
    # replaced by a real copy: now it is a path of the content (an exact duplicate)
    (notes / "link.txt").unlink()
    (notes / "link.txt").write_bytes((notes / "b.txt").read_bytes())
    s = mstore("add", "--json", store=store).json()
    assert (s["new"], s["links"]) == (1, 1)
    b = mstore("show", notes / "b.txt", "--json", store=store).json()
    assert sorted(p["path"] for p in b["paths"] if p["current"]) == [
        "notes/b.txt", "notes/link.txt"]
    assert b["links"] == []
    # a file replaced by a link: the path stops being one of the content's paths
    (notes / "link.txt").unlink()
    os.symlink("c.txt", notes / "link.txt")
    s = mstore("add", "--json", store=store).json()
    assert (s["missing"], s["links"]) == (0, 1)
    b = mstore("show", notes / "b.txt", "--json", store=store).json()
    assert [p["path"] for p in b["paths"] if p["current"]] == ["notes/b.txt"]
    at = mstore("show", notes / "link.txt", "--json", store=store).json()
    assert at["link"]["path"] == "notes/c.txt"
    assert [h["event"] for h in at["history"]] == ["link", "link", "unlink", "seen", "gone",
                                                        "link"]
    # a link whose target vanishes stays a link, with an error; removed, it is gone
    (notes / "c.txt").unlink()
    s = mstore("add", "--json", store=store).json()
    assert s["errors"] == 1
    at = mstore("show", "archive/notes/link.txt", "--json", store=store).json()
    assert at["error"]["reason"] == "broken-symlink" and at["link"]["asset"] is None
    (notes / "link.txt").unlink()
    s = mstore("add", "--json", store=store).json()
    assert (s["links"], s["errors"]) == (1, 0)
    r = mstore("show", "archive/notes/link.txt", "--json", store=store).json()
    assert r["link"] is None and r["history"][-1]["event"] == "unlink"


def test_add_of_a_link_path_catalogs_the_link(tmp_path: Path) -> None:
    store, root = _archive(tmp_path)
    os.symlink("a.txt", root / "notes" / "link.txt")
    s = mstore("add", root / "notes" / "link.txt", "--json", store=store).json()
    assert (s["new"], s["links"]) == (0, 1)
    at = mstore("show", "archive/notes/link.txt", "--json", store=store).json()
    assert at["link"] == {"path": "notes/a.txt", "asset": None}  # a.txt not added yet


def test_a_racily_clean_file_is_read_again(tmp_path: Path) -> None:
    store, root = _archive(tmp_path)
    _add_settled(store)
    f = root / "notes" / "a.txt"
    st = f.stat()
    # what add records for a file that changed moments before it was read
    _resight(store, f, b"notes/a.txt", ctime_ns=st.st_ctime_ns, racy=True)
    r = mstore("add", "--json", store=store).json()
    assert r["bytes_hashed"] == st.st_size and r["unchanged"] == 3 and r["changed"] == 0


def test_racy_means_changed_within_one_timestamp_tick() -> None:
    from mstore.catalog.fileinfo import is_racy

    read = 1_700_000_000_500_000_000
    assert is_racy(read - 1_000_000, read)  # 1 ms before the read, nanosecond stamps
    assert not is_racy(read - 50_000_000, read)
    # whole-second stamps: a coarse file system, where one tick is up to 2 s
    assert is_racy(1_700_000_000_000_000_000 - 1_000_000_000, read)
    assert not is_racy(1_700_000_000_000_000_000 - 3_000_000_000, read)


def test_verify_brings_an_older_catalog_up_to_the_current_probes(tmp_path: Path) -> None:
    import blake3

    from mstore.model.meta import Meta
    from mstore.model.records import AssetRecorded
    from tests.fixtures.archive import make_pdf

    store, root = _archive(tmp_path)
    pdf = root / "notes" / "manual.pdf"
    pdf.write_bytes(make_pdf(4, created="D:20210102030405Z"))
    # what an mstore without documents recorded: a PDF was "other", probe version 0
    aid = blake3.blake3(pdf.read_bytes()).hexdigest()
    s = Store.discover(store)
    w = s.writer()
    w.append(AssetRecorded(hlc=w.now(), id=aid, size=pdf.stat().st_size,
                           meta=Meta(kind="other", mime="application/pdf")))
    w.flush()
    s.close()
    _resight(store, pdf, b"notes/manual.pdf", aid)
    s = mstore("add", "--json", store=store).json()
    assert (s["new"], s["reprobed"]) == (3, 0)  # the PDF's stat says unchanged: not read
    assert mstore("find", "kind:document", store=store).code == 1
    v = mstore("add", "--verify", "--json", store=store).json()
    assert (v["reprobed"], v["changed"], v["new"]) == (1, 0, 0)
    rows = mstore("find", "kind:document", "--json", store=store).json_lines()
    assert [r["paths"] for r in rows] == [["archive/notes/manual.pdf"]]
    meta = mstore("show", aid, "--json", store=store).json()["meta"]
    assert (meta["pages"], meta["taken"], meta["taken_source"]) == (
        4, "2021-01-02T03:04:05+00:00", "pdf")
    assert mstore("add", "--verify", "--json", store=store).json()["reprobed"] == 0


def test_add_of_a_directory_link_does_not_follow_it(tmp_path: Path) -> None:
    store, root = _archive(tmp_path)
    os.symlink("notes", root / "also-notes")
    s = mstore("add", root / "also-notes", "--json", store=store).json()
    assert (s["new"], s["errors"]) == (0, 1)
    err = mstore("show", "archive/also-notes", "--json", store=store).json()["error"]
    assert err["reason"] == "symlink-dir"


def test_an_error_goes_when_what_caused_it_goes(tmp_path: Path) -> None:
    """A FIFO is an error while it is there; removed, it is not an error any more (it
    stayed one for ever: only a file seen at the path cleared an error)."""
    store, root = _archive(tmp_path)
    os.mkfifo(root / "notes" / "pipe")
    os.mkfifo(root / "notes" / "second-pipe")
    assert mstore("add", store=store).code == 0
    errors = mstore("find", "error:", "--json", store=store).json_lines()
    assert sorted(e["paths"][0] for e in errors) == ["archive/notes/pipe",
                                                      "archive/notes/second-pipe"]
    (root / "notes" / "pipe").unlink()
    assert mstore("add", store=store).code == 0
    errors = mstore("find", "error:", "--json", store=store).json_lines()
    assert [e["paths"][0] for e in errors] == ["archive/notes/second-pipe"]
    assert mstore("status", "--json", store=store).json()["errors"] == 1
    # a file where the other one was: recorded, not an error
    (root / "notes" / "second-pipe").unlink()
    (root / "notes" / "second-pipe").write_text("a file now\n")
    assert mstore("add", store=store).code == 0
    assert mstore("find", "error:", store=store).code == 1
    assert mstore("find", "path:*second-pipe", "--count", store=store).out == "1\n"
    assert mstore("fsck", store=store).code == 0


def test_a_root_that_is_not_there_loses_nothing(tmp_path: Path) -> None:
    """An archive on a drive that is not mounted: the root's folder is gone, or left empty
    (a mount point). Its cataloged files are not recorded missing — every one of them
    would be, and seen again as new paths when the drive is back; the add says so in a
    line. `--allow-empty` is for an archive really emptied."""
    store, root = _archive(tmp_path)
    assert mstore("add", store=store).code == 0
    away = tmp_path / "unplugged"
    root.rename(away)
    r = mstore("add", "--json", store=store)
    assert r.code == 0, r.err
    assert (r.json()["missing"], r.json()["unavailable"][0]["root"],
            r.json()["unavailable"][0]["files"]) == (0, "archive", 3)
    assert "archive root 'archive'" in r.err and "not mounted?" in r.err
    assert mstore("find", "missing:", store=store).code == 1
    status = mstore("status", "--json", store=store).json()
    assert status["errors"] == 1  # the root itself
    assert status["last_add"]["unavailable"] == ["archive"]
    assert "root 'archive' was not there" in mstore("status", store=store).out
    away.rename(root)
    r = mstore("add", "--json", store=store)
    assert (r.json()["new"], r.json()["unchanged"], r.json()["unavailable"], r.err) == (
        0, 3, [], "")
    status = mstore("status", "--json", store=store).json()
    assert (status["errors"], status["last_add"]["unavailable"]) == (0, [])
    # a mount point left empty
    away.mkdir()
    for f in (root / "notes").iterdir():
        f.rename(away / f.name)
    (root / "notes").rmdir()
    r = mstore("add", store=store)
    assert r.code == 0 and "0 missing" in r.out and "is empty" in r.err, r.err
    assert "--allow-empty" in r.err
    assert mstore("find", "missing:", store=store).code == 1
    r = mstore("add", "--allow-empty", "--json", store=store)
    assert (r.json()["missing"], r.json()["unavailable"]) == (3, [])
    assert mstore("find", "missing:", "--count", store=store).out == "3\n"
    assert mstore("fsck", store=store).code == 0


def test_a_messengers_photo_is_dated_by_its_name(tmp_path: Path) -> None:
    """WhatsApp strips EXIF, a screenshot has none: such files are dated by their names
    wherever the catalog shows a capture time (find, show, the timeline), show says so,
    and a photo's own EXIF wins over its name."""
    from PIL import Image

    store, root = _archive(tmp_path)
    chat = root / "WhatsApp Images"
    chat.mkdir()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(chat / "IMG-20190512-WA0003.jpg")
    Image.new("RGB", (8, 8), (10, 200, 10)).save(chat / "Screenshot_20200102-030405.png")
    exif = Image.Exif()
    exif.get_ifd(0x8769)[0x9003] = "2011:11:11 11:11:11"
    Image.new("RGB", (8, 8), (10, 10, 200)).save(root / "IMG_20180101_000000.jpg",
                                                 exif=exif.tobytes())
    (root / "notes" / "minutes-20190512.txt").write_text("not a photo\n")
    assert mstore("add", store=store).code == 0
    rows = mstore("find", "taken:2019..2020", "--json", store=store).json_lines()
    assert sorted(r["paths"][0] for r in rows) == [
        "archive/WhatsApp Images/IMG-20190512-WA0003.jpg",
        "archive/WhatsApp Images/Screenshot_20200102-030405.png"]
    assert [r["taken"] for r in rows if "Screenshot" in r["paths"][0]] == ["2020-01-02T03:04:05"]
    meta = mstore("show", "archive/WhatsApp Images/IMG-20190512-WA0003.jpg", "--json",
                  store=store).json()["meta"]
    assert (meta["taken"], meta["taken_source"], meta["taken_path"]) == (
        "2019-05-12", "filename", "archive/WhatsApp Images/IMG-20190512-WA0003.jpg")
    shown = mstore("show", "archive/WhatsApp Images/IMG-20190512-WA0003.jpg", store=store)
    assert "2019-05-12  (from the file name)" in shown.out
    meta = mstore("show", "archive/IMG_20180101_000000.jpg", "--json", store=store).json()["meta"]
    assert (meta["taken"], meta["taken_source"]) == ("2011-11-11T11:11:11", "exif")
    assert "taken_path" not in meta
    assert mstore("find", "taken:2018", store=store).code == 1  # nothing: EXIF won
    assert mstore("find", "kind:text has:taken", store=store).code == 1


def test_names_from_a_mac_are_found_as_typed(tmp_path: Path) -> None:
    """A folder copied from a Mac keeps its names decomposed ("e" and a combining accent);
    what a person types is composed, or has no accent. find, a path glob and show find
    it either way."""
    store, root = _archive(tmp_path)
    folder = root / "Cafe\u0301 Mu\u0308ller"  # as macOS writes "Café Müller"
    folder.mkdir()
    (folder / "menu.txt").write_text("espresso\n")
    assert mstore("add", store=store).code == 0
    for query in ("café", "CAFÉ", "cafe", "path:*müller/*", "müller menu", "muller"):
        rows = mstore("find", query, "--json", store=store).json_lines()
        assert [r["paths"] for r in rows] == [["archive/Cafe\u0301 Mu\u0308ller/menu.txt"]], query
    typed = "archive/Caf\u00e9 M\u00fcller/menu.txt"
    shown = mstore("show", typed, "--json", store=store)
    assert shown.code == 0
    assert shown.json()["paths"][0]["path"] == "Cafe\u0301 Mu\u0308ller/menu.txt"
    assert mstore("show", "archive/Café Muller/menu.txt", store=store).code != 0
