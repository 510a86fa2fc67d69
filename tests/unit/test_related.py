"""Which files of a directory belong together by name: Google Takeout's naming variants."""

from __future__ import annotations

import pytest

from mstore.query.related import takeout_pairs


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
