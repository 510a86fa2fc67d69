"""The fixture archive generator writes what its manifest claims.

Every other catalog test trusts the manifest as its oracle, so a fixture that
silently drifted from it would make those tests pass or fail for the wrong reason.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import blake3
import pytest

from tests.fixtures.archive import (
    KINDS,
    Manifest,
    build_archive,
    build_bulk,
    build_sample,
    listing,
    make_readonly,
    make_writable,
)


@pytest.fixture
def tmp_root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    # mode-000 hostile entries would stop an unprivileged pytest from cleaning up
    make_writable(tmp_path, unlock=True)


def _digest(path: bytes) -> str:
    with open(path, "rb") as f:
        return blake3.blake3(f.read()).hexdigest()


def _check_common(m: Manifest) -> None:
    assert m.files
    for rel, kind in m.files.items():
        st = os.lstat(m.fspath(rel))
        assert stat.S_ISREG(st.st_mode), rel
        assert kind in KINDS, (rel, kind)
    for group in m.duplicates:
        assert len(group) >= 2
        assert len({_digest(m.fspath(p)) for p in group}) == 1, group
    # duplicates must be complete: no two other assets share bytes
    grouped = {p for g in m.duplicates for p in g}
    singles = [_digest(m.fspath(p)) for p in m.files if p not in grouped]
    assert len(singles) == len(set(singles))
    for rel in m.ignored:
        assert os.path.isfile(m.fspath(rel)) and rel not in m.files
    for sidecar, media in m.sidecars.items():
        assert sidecar in m.files and media in m.files
    for image, video in m.live_pairs:
        assert m.files[image] == "image" and m.files[video] == "video"
        assert os.path.splitext(image)[0] == os.path.splitext(video)[0]
    for rel in m.expected:
        assert rel in m.files, rel
    assert Manifest.from_json(m.to_json()) == m


def test_build_archive(tmp_root: Path) -> None:
    t0 = time.perf_counter()
    m = build_archive(tmp_root / "a", seed=1)
    assert time.perf_counter() - t0 < 10  # budget is 5 s; leave slack for loaded CI machines
    _check_common(m)
    kinds = set(m.files.values())
    assert set(KINDS) <= kinds
    assert m.duplicates and m.near_duplicates and m.live_pairs and m.symlinks
    # the cases of the catalog's real-archive checks are all there
    assert {os.path.splitext(p)[1].lower() for p in m.sidecars} == {".xmp", ".aae", ".json"}
    assert all(len(os.path.basename(p)) <= 51 for p in m.sidecars)  # Takeout's name limit
    assert {m.files[g[0]] for g in m.duplicates} >= {"image", "video", "audio", "text"}
    truncated = {os.path.splitext(p)[1] for p, why in m.probe_errors.items()
                 if why == "truncated"}
    assert truncated >= {".jpg", ".gif", ".webp", ".mp3", ".pdf"}
    assert (".heic" in truncated) == m.heic
    facts = list(m.expected.values())
    assert any(e.get("encoding") == "cp1252" for e in facts)
    assert any(e.get("taken_source") == "sidecar" for e in facts)
    assert {e.get("text_layer") for e in facts} >= {True, False}
    assert m.expected["2019/vacation/IMG_0003.JPG"]["width"] == 240  # orientation 6
    assert m.expected["2020/family/DSC_0102.JPG"]["taken"] is None  # bogus date

    # hostile names exist byte-exactly
    root = os.fsencode(m.root)
    for name in (b"hostile/new\nline.jpg", b"hostile/bad-\xff\xfe.jpg",
                 b"hostile/<script>alert(1)</script>.jpg", b"hostile/-rf.jpg"):
        assert os.path.isfile(root + b"/" + name), name
        assert os.fsdecode(name) in m.files
    longest = [p for p in m.files if len(os.fsencode(os.path.basename(p))) == 255]
    assert len(longest) == 1 and os.path.isfile(m.fspath(longest[0]))
    deep = [p for p in m.files if p.count("/") >= 31]
    assert len(deep) == 1 and os.path.isfile(m.fspath(deep[0]))

    # each hostile entry is the file type its reason says
    for rel, reason in m.hostile_errors.items():
        st = os.lstat(m.fspath(rel))
        assert rel not in m.files
        if reason == "fifo":
            assert stat.S_ISFIFO(st.st_mode)
        elif reason == "socket":
            assert stat.S_ISSOCK(st.st_mode)
        elif reason in ("symlink-loop", "symlink-outside", "broken-symlink"):
            assert stat.S_ISLNK(st.st_mode)
        elif reason in ("unreadable", "unreadable-dir"):
            assert stat.S_IMODE(st.st_mode) == 0
        else:
            pytest.fail(f"unknown reason {reason!r}")
    assert set(m.hostile_errors.values()) >= {"symlink-loop", "symlink-outside",
                                               "broken-symlink", "unreadable", "unreadable-dir"}
    for link, target in m.symlinks.items():
        assert os.path.islink(m.fspath(link))
        assert os.path.realpath(m.fspath(link)) == os.path.realpath(m.fspath(target))
    for rel in m.probe_errors:
        assert rel in m.files
    assert os.path.getsize(m.fspath("hostile/empty.jpg")) == 0

    # listing is stable, and read-only round-trips without touching content
    before = listing(tmp_root / "a")
    assert listing(tmp_root / "a") == before
    assert before["hostile/fifo"]["type"] == "fifo" and "blake3" not in before["hostile/fifo"]
    modes = make_readonly(tmp_root / "a")
    ro = listing(tmp_root / "a")
    assert all(not e["mode"] & 0o222 for e in ro.values() if e["type"] in ("file", "dir"))
    assert {k: {**e, "mode": 0} for k, e in ro.items()} == {
        k: {**e, "mode": 0} for k, e in before.items()}
    make_writable(tmp_root / "a", modes)
    assert listing(tmp_root / "a") == before

    # same seed, same bytes
    again = build_archive(tmp_root / "b", seed=1)
    assert {p: _digest(again.fspath(p)) for p in again.files} == {
        p: _digest(m.fspath(p)) for p in m.files}


def test_build_sample(tmp_root: Path) -> None:
    m = build_sample(tmp_root / "s")
    _check_common(m)
    assert 50 <= len(m.files) <= 70
    assert not m.hostile_errors and not m.probe_errors
    years = {p.split("/")[0] for p in m.files}
    assert {"2019", "2020", "2021"} <= years
    assert m.duplicates and m.live_pairs and m.sidecars and m.ignored


def test_build_bulk(tmp_root: Path) -> None:
    build_bulk(tmp_root / "bulk", 500, seed=3)
    files = [Path(d, f) for d, _, fs in os.walk(tmp_root / "bulk") for f in fs]
    assert len(files) == 500
    assert len({_digest(os.fsencode(f)) for f in files}) == 500
    images = [f for f in files if f.suffix in (".JPG", ".png")]
    assert 20 <= len(images) <= 90  # image_fraction 0.1
    for f in images[:5]:
        head = f.read_bytes()[:8]
        assert head.startswith(b"\xff\xd8") or head == b"\x89PNG\r\n\x1a\n"
