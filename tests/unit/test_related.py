"""Which files of a directory belong together by name: Google Takeout's naming variants."""

from __future__ import annotations

import os
import random

import pytest

from mstore.query.related import SIDECAR_EXTS, DirNames, splitext, stem_key, takeout_pairs
from mstore.query.rows import stem_groups


@pytest.mark.parametrize(("json", "media"), [
    (b"IMG_1234.jpg.json", b"IMG_1234.jpg"),
    (b"IMG_1234.json", b"IMG_1234.jpg"),  # the extension dropped
    (b"IMG_1234.JPG.json", b"img_1234.jpg"),  # case differs
    (b"IMG_1234.jpg.supplemental-metadata.json", b"IMG_1234.jpg"),
    (b"IMG_1234.jpg.supplemental-metad.json", b"IMG_1234.jpg"),  # the suffix cut short
    (b"IMG_1234.jpg.s.json", b"IMG_1234.jpg"),
    (b"IMG_1234.jpg..json", b"IMG_1234.jpg"),
    (b"IMG_1234.jpg(1).json", b"IMG_1234(1).jpg"),  # the album's second IMG_1234.jpg
    (b"IMG_1234.jpg.supplemental-metadata(2).json", b"IMG_1234(2).jpg"),
    (b"IMG_1234.jpg.json", b"IMG_1234-edited.jpg"),  # an edit shares its original's JSON
    # a long name: the JSON's name is cut so that it stays within 51 bytes
    (b"Screenshot_2021-03-04-10-11-12-123_com.example.json",
     b"Screenshot_2021-03-04-10-11-12-123_com.example.app.png"),
])
def test_takeout_json_names(json: bytes, media: bytes) -> None:
    assert len(json) <= 51
    assert takeout_pairs([json], [media, b"other.jpg"]) == {media: json}


def test_the_best_matching_json_wins_and_unrelated_files_stay_alone() -> None:
    jsons = [b"IMG_1.jpg.json", b"IMG_1.jpg(1).json", b"IMG_2.json"]
    media = [b"IMG_1.jpg", b"IMG_1(1).jpg", b"IMG_2.jpg", b"IMG_2.mp4", b"IMG_3.jpg",
             b"IMG_1(1)b.jpg"]
    assert takeout_pairs(jsons, media) == {
        b"IMG_1.jpg": b"IMG_1.jpg.json", b"IMG_1(1).jpg": b"IMG_1.jpg(1).json",
        b"IMG_2.jpg": b"IMG_2.json", b"IMG_2.mp4": b"IMG_2.json"}
    # a file literally named with a counter, described by a JSON of that very name
    assert takeout_pairs([b"IMG_1(1).jpg.json"], [b"IMG_1(1).jpg"]) == {
        b"IMG_1(1).jpg": b"IMG_1(1).jpg.json"}


@pytest.mark.parametrize("name", [
    b"IMG_1.JPG", b"IMG_1.JPG.xmp", b"IMG_1.xmp", b".bashrc", b"..x", b"...", b".", b"",
    b"a..x", b"a.", b"a.b.c", b"dir.d/name", b"dir.d/.hidden", b"dir/..x.xmp", b"x.XMP",
    b".x.xmp", b"..xmp", b"a/b.c/d", b"/abs.x", b"no_ext", b"trailing./", b"\xff\xfe.JPG",
    b"a. b", b"IMG_1.aae", b"IMG_1.MOV.AAE", b"x.y/.z.aae",
])
def test_splitext_and_stem_key_agree_with_os_path(name: bytes) -> None:
    """splitext is os.path.splitext's rule without its loop; stem_key as it was with it."""
    assert splitext(name) == os.path.splitext(name)
    base, ext = os.path.splitext(name.lower())
    if ext in SIDECAR_EXTS:
        inner, ext2 = os.path.splitext(base)
        if ext2 and b"/" not in ext2:
            base = inner
    assert stem_key(name) == base


def test_stem_groups_are_the_files_that_share_a_stem() -> None:
    """A directory's groups (a file, its sidecars, its Live Photo half) are exactly the
    names with one stem_key, however the names are cased, dotted or spelled."""
    names = [b"IMG_1.JPG", b"IMG_1.JPG.xmp", b"img_1.mov", b"IMG_1.xmp", b"IMG_1b.jpg",
             b".bashrc", b".bashrc.xmp", b"..x", b"...", b"a..x", b"a.", b"a", b"A.B.c",
             b"a.b.C.xmp", b"a.b", b"\xff\xfe.JPG", b"\xff\xfe.jpg.AAE", b"line\nbreak.png",
             b"line\nbreak.mp4", b"no_ext", b"x.y.z", b"x.Y.xmp", b"solo.txt", b""]
    rng = random.Random(4)
    for _ in range(200):
        members = [(n, f"asset{i}") for i, n in enumerate(rng.sample(names, rng.randint(0, 12)))]
        by_key: dict[bytes, list[tuple[bytes, str]]] = {}
        for m in members:
            by_key.setdefault(stem_key(m[0]), []).append(m)
        want = sorted(sorted(g) for g in by_key.values() if len(g) > 1)
        assert sorted(sorted(g) for g in stem_groups(members)) == want, members


def test_a_directorys_names_indexed_answer_as_a_scan_of_them() -> None:
    """DirNames (what the snapshot asks of each changed file of a large directory)
    gives the stem group and the Takeout partners a scan of every name gives."""
    names = [b"IMG_1234.jpg", b"IMG_1234.jpg.json", b"IMG_1234(1).jpg", b"IMG_1234.jpg(1).json",
             b"IMG_1234-edited.jpg", b"IMG_2.JPG", b"IMG_2.json", b"IMG_2.mp4", b"IMG_2.xmp",
             b"IMG_3.jpg.supplemental-metadata.json", b"IMG_3.jpg", b"IMG_3.jpg.s.json",
             b"Screenshot_2021-03-04-10-11-12-123_com.example.app.png",
             b"Screenshot_2021-03-04-10-11-12-123_com.example.json", b"notes.txt",
             b"metadata.json", b"IMG_5.HEIC", b"img_5.heic.JSON", b".hidden", b"IMG_6.AAE"]
    rng = random.Random(7)
    for _ in range(150):
        here = rng.sample(names, rng.randint(0, len(names)))
        index = DirNames(here)
        jsons = [n for n in here if n.lower().endswith(b".json")]
        media = [n for n in here if not n.lower().endswith(b".json")]
        for name in names:  # asked of names that are here and of names that went
            assert sorted(index.stem_group(name)) == sorted(
                n for n in here if stem_key(n) == stem_key(name)), (here, name)
            if name.lower().endswith(b".json"):
                want = set(takeout_pairs([name], media))
            else:
                want = set(takeout_pairs(jsons, [name]).values())
            assert set(index.takeout_partners(name)) == want, (here, name)
        # paired as takeout_pairs pairs them when only some JSONs hold Takeout's facts
        real = {j for j in jsons if rng.random() < 0.7}
        pairs = takeout_pairs(real, media)
        for name in media:
            assert index.takeout_json_of(name, real.__contains__) == pairs.get(name), name
        for name in jsons:
            assert index.takeout_media_of(name, real.__contains__) == sorted(
                m for m, j in pairs.items() if j == name), name
