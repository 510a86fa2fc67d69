"""The capture time a file's name gives (mstore/query/namedate.py), for the names
messengers, phones, cameras and screenshot tools give files, and for names that only
look like they hold a date."""

from __future__ import annotations

import pytest

from mstore.query.namedate import name_taken, paths_taken


@pytest.mark.parametrize(("name", "taken"), [
    # WhatsApp (images, videos, voice notes: a date and a counter), and its exports
    ("IMG-20190512-WA0003.jpg", "2019-05-12"),
    ("VID-20190512-WA0001.mp4", "2019-05-12"),
    ("PTT-20190512-WA0001.opus", "2019-05-12"),
    ("WhatsApp Image 2019-05-12 at 13.45.01.jpeg", "2019-05-12T13:45:01"),
    ("WhatsApp Image 2019-05-12 at 13.45.01 (1).jpeg", "2019-05-12T13:45:01"),
    # phones' cameras
    ("IMG_20190512_134501.jpg", "2019-05-12T13:45:01"),
    ("IMG_20190512_234501_HDR.jpg", "2019-05-12T23:45:01"),
    ("20190512_134501.mp4", "2019-05-12T13:45:01"),
    ("PXL_20230101_123456789.MP.jpg", "2023-01-01T12:34:56"),  # milliseconds after
    # screenshots
    ("Screenshot_20190512-134501.png", "2019-05-12T13:45:01"),
    ("Screenshot_20190512-134501_Chrome.jpg", "2019-05-12T13:45:01"),
    ("Screenshot_2019-05-12-13-45-01.png", "2019-05-12T13:45:01"),
    ("Screenshot 2019-05-12 at 13.45.01.png", "2019-05-12T13:45:01"),
    ("Screen Shot 2019-05-12 at 1.45.01 PM.png", "2019-05-12T13:45:01"),
    ("Screen Shot 2019-05-12 at 12.05.01 AM.png", "2019-05-12T00:05:01"),
    ("Screen Shot 2019-05-12 at 12.05.01 PM.png", "2019-05-12T12:05:01"),
    # other messengers and uploaders
    ("signal-2019-05-12-134501.jpg", "2019-05-12T13:45:01"),
    ("signal-2019-05-12-13-45-01-123.jpg", "2019-05-12T13:45:01"),
    ("photo_2019-05-12_13-45-01.jpg", "2019-05-12T13:45:01"),
    ("2019-05-12 13.45.01.jpg", "2019-05-12T13:45:01"),
    ("2019-05-12T13:45:01.jpg", "2019-05-12T13:45:01"),
    # Facebook's saved pictures: milliseconds since 1970, an instant in UTC
    ("FB_IMG_1557668701000.jpg", "2019-05-12T13:45:01+00:00"),
    # a person's own naming
    ("wedding 1985-07-04.jpg", "1985-07-04"),
    ("2019.05.12.jpg", "2019-05-12"),
    ("IMG_20190512_999999.jpg", "2019-05-12"),  # no time of day: the date alone
    ("Screen Shot 2019-05-12 at 13.45.01 PM.png", "2019-05-12"),  # 13 PM: no time
])
def test_names_that_give_a_capture_time(name: str, taken: str) -> None:
    assert name_taken(name.encode()) == taken


@pytest.mark.parametrize("name", [
    "IMG_1234.JPG",
    "DSC_2019.jpg",
    "+4915120190512.jpg",  # inside a longer run of digits: a phone number
    "1557668701000.jpg",  # epoch digits without Facebook's prefix: as often an id
    "FB_IMG_15576687010001.jpg",  # one digit too many
    "20190230_120000.jpg",  # not a day
    "20191399.jpg",
    "2019-0512.jpg",  # two different separators
    "18991231.jpg",  # before 1900
    "",
])
def test_names_that_give_none(name: str) -> None:
    assert name_taken(name.encode()) is None


def test_the_first_path_whose_name_holds_a_date_gives_it() -> None:
    paths = [b"a/copy.png", b"a/2019/x.png", b"a/Screenshot_20200101-000102.png",
             b"b/IMG_20180101_000000.jpg"]
    assert paths_taken(paths) == ("2020-01-01T00:01:02", b"a/Screenshot_20200101-000102.png")
    assert paths_taken([b"a/20190512/copy.png"]) is None  # a folder's name does not count
    assert paths_taken([]) is None
