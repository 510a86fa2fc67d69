"""Capture time and place read from XMP (catalog/probe/xmp.py): an image's embedded packet
where its EXIF says less, and an XMP sidecar file's, as photo managers write them."""

from __future__ import annotations

import io

import pytest

from mstore.catalog.probe import probe, xmp
from mstore.model.meta import Meta
from tests.fixtures.captions import motion_packet, picture
from tests.fixtures.captions import xmp as packet

ORIGINAL, DIGITIZED, DATETIME = 0x9003, 0x9004, 0x0132


def probed(data: bytes) -> Meta:
    return probe(io.BytesIO(data), len(data), data[:65536])


@pytest.mark.parametrize(("text", "taken"), [
    ("2019-05-12T13:45:01", "2019-05-12T13:45:01"),
    ("2019-05-12T13:45:01.25+02:00", "2019-05-12T13:45:01+02:00"),
    ("2019-05-12T13:45:01Z", "2019-05-12T13:45:01+00:00"),
    ("2019-05-12T13:45-05:30", "2019-05-12T13:45:00-05:30"),
    (" 1975-06-07 ", "1975-06-07"),  # a day and no time: that day
    ("1975", None), ("1975-06", None),  # a year or a month alone: not kept
    ("2019-02-30T10:00:00", None), ("0000-00-00T00:00:00", None), ("12/05/2019", None),
    ("2019-05-12T13:45:01+99:00", "2019-05-12T13:45:01"),  # an impossible offset: left out
])
def test_xmp_dates(text: str, taken: str | None) -> None:
    assert xmp.xmp_date(text) == taken


@pytest.mark.parametrize(("lat", "lon", "where"), [
    ("48,51.4995N", "2,17.671E", (48.858325, 2.2945167)),
    ("33,51,25.2S", "151,12,55.08E", (-33.857, 151.2153)),
    ("40,41.3W", "74,2.7W", None),  # a latitude given as west
    ("48.8583", "-2.2945", (48.8583, -2.2945)),  # signed decimals, as some tools write
    ("0,0.0N", "0,0.0E", None),  # what a receiver without a fix writes
    ("91,0.0N", "2,0.0E", None), ("48,61.0N", "2,0.0E", None), ("north", "2,0.0E", None),
])
def test_xmp_coordinates(lat: str, lon: str, where: tuple[float, float] | None) -> None:
    got = xmp.read(packet(props={"exif:GPSLatitude": lat, "exif:GPSLongitude": lon})).gps
    if where is None:
        assert got is None
    else:
        assert got is not None and got[:2] == pytest.approx(where, abs=1e-4) and got[2] is None


def test_altitude_and_its_reference() -> None:
    place = {"exif:GPSLatitude": "46,0.5N", "exif:GPSLongitude": "7,45.0E"}
    assert xmp.read(packet(props={**place, "exif:GPSAltitude": "45131/10"})).gps == (
        46.0083333, 7.75, 4513.1)
    below = xmp.read(packet(props={**place, "exif:GPSAltitude": "28/1",
                                   "exif:GPSAltitudeRef": "1"})).gps
    assert below is not None and below[2] == -28.0
    assert xmp.read(packet(props={**place, "exif:GPSAltitude": "1/0"})).gps == (
        46.0083333, 7.75, None)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_scan_dated_and_placed_in_a_photo_manager(fmt: str) -> None:
    """No EXIF date at all: the packet's capture time and place are the picture's."""
    m = probed(picture(fmt, xmp_packet=packet(title="Oma", props={
        "photoshop:DateCreated": "1975-06-07", "xmp:CreateDate": "2021-01-02T03:04:05",
        "exif:GPSLatitude": "45,30.0N", "exif:GPSLongitude": "73,34.2W",
        "xmp:ModifyDate": "2022-02-02T02:02:02"})))
    assert (m.taken, m.gps_lat, m.gps_lon, m.title, m.error) == (
        "1975-06-07", 45.5, -73.57, "Oma", None)
    assert (m.taken_from, m.gps_from) == ("xmp", "xmp")  # show says so
    scanned = probed(picture(fmt, xmp_packet=packet(props={
        "xmp:CreateDate": "2021-01-02T03:04:05", "xmp:ModifyDate": "2022-02-02T02:02:02"})))
    assert scanned.taken == "2021-01-02T03:04:05"  # when it was made digital; never ModifyDate
    edited = probed(picture(fmt, xmp_packet=packet(props={"xmp:ModifyDate": "2022-02-02"})))
    assert edited.taken is None


@pytest.mark.parametrize(("exif", "props", "taken"), [
    # EXIF's own capture time wins over everything
    ({ORIGINAL: "2001:02:03 04:05:06", DATETIME: "2020:01:01 00:00:00"},
     {"exif:DateTimeOriginal": "1999-09-09T09:09:09"}, "2001-02-03T04:05:06"),
    # XMP's capture time before EXIF's digitizing time and its IFD0 (edit) time
    ({DIGITIZED: "2001:02:03 04:05:06", DATETIME: "2020:01:01 00:00:00"},
     {"photoshop:DateCreated": "1975-06-07T08:09:10"}, "1975-06-07T08:09:10"),
    # EXIF's digitizing time before XMP's
    ({DIGITIZED: "2001:02:03 04:05:06"}, {"xmp:CreateDate": "2021-01-02T03:04:05"},
     "2001-02-03T04:05:06"),
    # XMP's digitizing time before IFD0's DateTime, which editors move
    ({DATETIME: "2020:01:01 00:00:00"}, {"xmp:CreateDate": "2003-04-05T06:07:08"},
     "2003-04-05T06:07:08"),
    ({DATETIME: "2020:01:01 00:00:00"}, {"xmp:ModifyDate": "2003-04-05T06:07:08"},
     "2020-01-01T00:00:00"),
])
def test_exif_and_xmp_dates_ranked_together(exif: dict[int, str], props: dict[str, str],
                                            taken: str) -> None:
    m = probed(picture(exif_dates=exif, xmp_packet=packet(props=props)))
    assert m.taken == taken
    assert m.taken_from == ("xmp" if taken[:4] in ("1975", "2003") else None)


def test_a_broken_packet_or_bad_values_cost_nothing_else() -> None:
    broken = probed(picture(xmp_packet=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>'
                            b'<rdf:Description photoshop:DateCreated="1975"></x:xmpmeta>'))
    assert (broken.taken, broken.error, broken.width) == (None, None, 24)
    odd = probed(picture(exif_dates={ORIGINAL: "2001:02:03 04:05:06"}, xmp_packet=packet(props={
        "photoshop:DateCreated": "yesterday", "exif:GPSLatitude": "x", "exif:GPSLongitude": "y"})))
    assert (odd.taken, odd.gps_lat, odd.error) == ("2001-02-03T04:05:06", None, None)


def test_an_xmp_sidecar_file_says_when_and_where() -> None:
    sc = probed(packet(props={"exif:DateTimeOriginal": "1988-02-03T04:05:06+01:00",
                              "exif:GPSLatitude": "51,30.0N", "exif:GPSLongitude": "0,7.5W",
                              "exif:GPSAltitude": "11/1"})).sidecar
    assert sc is not None and sc.format == "xmp"
    assert (sc.taken, sc.gps_lat, sc.gps_lon, sc.gps_alt) == (
        "1988-02-03T04:05:06+01:00", 51.5, -0.125, 11.0)
    assert (sc.title, sc.keywords) == (None, None)
    scanned = probed(packet(props={"xmp:CreateDate": "2021-01-02"})).sidecar
    assert scanned is not None and scanned.taken == "2021-01-02"
    assert probed(packet(props={"xmp:ModifyDate": "2021-01-02"})).sidecar is None


def test_jpeg_header_reader_and_pillow_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """A JPEG's headers are read without Pillow (probe/jpeg.py); Pillow's path must give
    the same facts of the packet."""
    from mstore.catalog.probe import jpeg

    data = picture(exif_dates={DATETIME: "2020:01:01 00:00:00"}, xmp_packet=packet(props={
        "photoshop:DateCreated": "1975-06-07", "exif:GPSLatitude": "45,30.0N",
        "exif:GPSLongitude": "73,34.2W"}))
    assert jpeg.read_headers(data, 10**8) is not None
    fast = probed(data)
    with monkeypatch.context() as m:
        m.setattr(jpeg, "read_headers", lambda *_: None)
        slow = probed(data)
    assert fast == slow and (fast.taken, fast.gps_lat) == ("1975-06-07", 45.5)


# a stand-in for the appended MP4: what the prober looks at is the box that starts it
VIDEO = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(200)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("micro", [False, True])
def test_a_motion_photo_carries_its_video(fmt: str, micro: bool) -> None:
    """Pixel's ``PXL_…MP.jpg`` (Motion Photo 1.0) and the older ``MVIMG_`` (MicroVideo):
    the video appended after the picture is found where the packet says, and the photo
    counts as live."""
    from mstore.query.rowfacts import row_facts
    from mstore.query.table import F_LIVE

    data = picture(fmt, xmp_packet=motion_packet(len(VIDEO), micro=micro)) + VIDEO
    m = probed(data)
    assert (m.motion_video, m.error, m.width) == (len(VIDEO), None, 24)
    assert row_facts(m).flags & F_LIVE
    # another file appended after the video is counted in where it starts
    tail = b"extra bytes"
    after = probed(picture(fmt, xmp_packet=motion_packet(len(VIDEO), micro=micro,
                                                         trailing=(len(tail),))) + VIDEO + tail)
    assert after.motion_video == len(VIDEO) + len(tail)


def test_a_packet_that_promises_a_video_the_file_lacks_gives_none() -> None:
    from mstore.query.rowfacts import row_facts
    from mstore.query.table import F_LIVE

    still = picture(xmp_packet=motion_packet(len(VIDEO)))
    for data in (still,  # the video was cut off (an editor kept the packet)
                 still + VIDEO[:-40],  # cut short: the box is no longer where it says
                 still + bytes(len(VIDEO)),  # something else is there
                 picture(xmp_packet=motion_packet(10**9)) + VIDEO):  # beyond the file
        m = probed(data)
        assert m.motion_video is None and m.error is None
        assert not row_facts(m).flags & F_LIVE
    assert probed(picture() + VIDEO).motion_video is None  # no packet: not looked for


def test_container_items_written_as_elements() -> None:
    """Some writers give a container item's fields as elements, not attributes."""
    lis = ('<rdf:li rdf:parseType="Resource"><Container:Item><Item:Semantic>Primary'
           '</Item:Semantic><Item:Mime>image/jpeg</Item:Mime></Container:Item></rdf:li>'
           '<rdf:li rdf:parseType="Resource"><Container:Item><Item:Semantic>MotionPhoto'
           f'</Item:Semantic><Item:Length>{len(VIDEO)}</Item:Length></Container:Item></rdf:li>')
    packet_text = motion_packet(len(VIDEO)).decode()
    start, end = packet_text.index("<rdf:Seq>") + 9, packet_text.index("</rdf:Seq>")
    data = picture(xmp_packet=(packet_text[:start] + lis + packet_text[end:]).encode()) + VIDEO
    assert probed(data).motion_video == len(VIDEO)


def test_damaged_packets_never_raise() -> None:
    """A packet cut or scrambled anywhere gives what it still says, or nothing."""
    import random

    rng = random.Random(6)
    dated = packet(title="Oma", keywords=("See",), props={
        "photoshop:DateCreated": "1975-06-07T14:30:00", "exif:GPSLatitude": "45,30.0N",
        "exif:GPSLongitude": "73,34.2W", "exif:GPSAltitude": "11/1"})
    moving = motion_packet(len(VIDEO))
    assert xmp.read(dated).gps is not None and xmp.read(moving).video_from_end == len(VIDEO)
    for whole in (dated, moving):
        for _ in range(1500):
            data = bytearray(whole)
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(len(data))
                if rng.random() < 0.3:
                    del data[at:at + rng.randint(1, 40)]
                else:
                    data[at] = rng.choice(b'<>/="\x00:,.-+T0123456789NSEWZ')
            facts = xmp.read(bytes(data))
            assert facts.video_from_end is None or facts.video_from_end > 0
            assert facts.taken is None or facts.taken[:4].isdigit()


def _mp4(creation_time: str | None = None, packet_xml: bytes | None = None) -> bytes:
    """A tiny real MP4 (PyAV), with an XMP packet in a top-level ``uuid`` box after its
    boxes, where Adobe's tools put it."""
    import struct

    import av
    import numpy as np

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as c:
        if creation_time:
            c.metadata["creation_time"] = creation_time
        s = c.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        for _ in range(5):
            frame = av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")
            for p in s.encode(frame):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    data = buf.getvalue()
    if packet_xml is not None:
        uuid = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
        data += struct.pack(">I", 24 + len(packet_xml)) + b"uuid" + uuid + packet_xml
    return data


def test_a_video_dated_and_placed_in_a_photo_manager() -> None:
    """A digitized tape: the file was written in 2021, the person dated it 1985; the XMP
    packet in the MP4 gives the capture time and place, the container's time stays the
    fallback (and comes before a packet's digitized time)."""
    dated = packet(props={"photoshop:DateCreated": "1985-07-08T09:10:11",
                          "exif:GPSLatitude": "52,31.2N", "exif:GPSLongitude": "13,24.6E"})
    m = probed(_mp4("2021-03-04T05:06:07.000000Z", dated))
    assert (m.kind, m.taken, m.gps_lat, m.gps_lon, m.error) == (
        "video", "1985-07-08T09:10:11", 52.52, 13.41, None)
    assert (m.taken_from, m.gps_from) == ("xmp", "xmp")
    alone = probed(_mp4(None, dated))
    assert alone.taken == "1985-07-08T09:10:11"
    scanned = packet(props={"xmp:CreateDate": "2022-01-01T00:00:00"})
    container = probed(_mp4("2021-03-04T05:06:07.000000Z", scanned))
    assert (container.taken, container.taken_from) == ("2021-03-04T05:06:07+00:00", None)
    assert probed(_mp4(None, scanned)).taken == "2022-01-01T00:00:00"
    plain = probed(_mp4("2021-03-04T05:06:07.000000Z"))
    assert (plain.taken, plain.gps_lat) == ("2021-03-04T05:06:07+00:00", None)
