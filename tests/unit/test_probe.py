"""probe(): real media made on the fly with Pillow and PyAV, plus hostile content.

Every file is generated in the test (no binary fixtures in the repo) and kept tiny
(64x48, one second) so the whole module runs in a few seconds.
"""

from __future__ import annotations

import io
import mmap
import os
import random
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import pytest
from PIL import Image
from PIL.TiffImagePlugin import IFDRational

from mstore.catalog import probe as probe_pkg
from mstore.catalog.probe import image as image_mod
from mstore.catalog.probe import probe
from mstore.catalog.probe.document import pdf_datetime
from mstore.catalog.probe.image import exif_datetime
from mstore.catalog.probe.media import iso6709, media_datetime
from mstore.model.meta import Meta
from tests.fixtures.archive import make_pdf

HEAD = 64 << 10


def probe_bytes(data: bytes) -> Meta:
    return probe(io.BytesIO(data), len(data), data[:HEAD])


def probe_path(path: Path) -> Meta:
    return probe_bytes(path.read_bytes())


# -- makers ---------------------------------------------------------------------------


def camera_exif(
    *,
    orientation: int | None = 6,
    original: str | None = "2021:06:05 14:03:02",
    offset: str | None = "+02:00",
    digitized: str | None = None,
    datetime_: str | None = None,
    make: object = "Canon\x00\x00",
    model: object = " EOS R5 ",
    gps: dict[int, object] | None = None,
) -> Image.Exif:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    if make is not None:
        exif[0x010F] = make
    if model is not None:
        exif[0x0110] = model
    if datetime_ is not None:
        exif[0x0132] = datetime_
    sub = exif.get_ifd(0x8769)
    if original is not None:
        sub[0x9003] = original
    if offset is not None:
        sub[0x9011] = offset
    if digitized is not None:
        sub[0x9004] = digitized
    if gps is None:  # Sydney Opera House, 5.5 m below sea level (ref 1)
        gps = {1: "S", 2: (33.0, 51.0, 25.0), 3: "E", 4: (151.0, 12.0, 53.0), 5: b"\x01", 6: 5.5}
    exif.get_ifd(0x8825).update(gps)
    return exif


SYDNEY = (-(33 + 51 / 60 + 25 / 3600), 151 + 12 / 60 + 53 / 3600)


def jpeg_bytes(
    exif: Image.Exif | None = None, size: tuple[int, int] = (64, 48), noise: bool = False
) -> bytes:
    buf = io.BytesIO()
    img = Image.effect_noise(size, 60).convert("RGB") if noise else Image.new("RGB", size, "red")
    img.save(buf, "JPEG", quality=90, exif=exif if exif is not None else Image.Exif())
    return buf.getvalue()


def png_chunk(ctype: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(ctype + data).to_bytes(4, "big")
    return len(data).to_bytes(4, "big") + ctype + data + crc


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares width x height but carries one tiny IDAT: a bomb if decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def make_av(
    path: Path,
    *,
    fmt: str | None = None,
    video: str | None = "libx264",
    audio: str | None = "aac",
    size: tuple[int, int] = (64, 48),
    fps: int = 24,
    rate: int = 44100,
    seconds: float = 1.0,
    metadata: dict[str, str] | None = None,
    rotation: int | None = None,
    video_options: dict[str, str] | None = None,
    container_options: dict[str, str] | None = None,
) -> Path:
    """Encode a tiny real file with PyAV: moving gray video and/or silent stereo audio."""
    with av.open(str(path), "w", format=fmt, container_options=container_options) as out:
        out.metadata.update(metadata or {})
        vstream = astream = None
        if video:
            vstream = out.add_stream(video, rate=fps)
            vstream.width, vstream.height = size
            vstream.pix_fmt = "yuv420p"
            vstream.options = video_options or {}
            if rotation is not None:
                vstream.set_display_rotation(rotation)
        if audio:
            astream = out.add_stream(audio, rate=rate)
            astream.layout = "stereo"
        if vstream is not None:
            for i in range(int(fps * seconds)):
                frame = av.VideoFrame(size[0], size[1], "yuv420p")
                for plane in frame.planes:
                    plane.update(bytes([(i * 7) % 256]) * plane.buffer_size)
                frame.pts = i
                out.mux(vstream.encode(frame))
            out.mux(vstream.encode(None))
        if astream is not None:
            cc = astream.codec_context
            samples = cc.frame_size or 1024
            pts = 0
            while pts < rate * seconds:
                frame = av.AudioFrame(format=cc.format.name, layout="stereo", samples=samples)
                for plane in frame.planes:
                    plane.update(bytes(plane.buffer_size))
                frame.sample_rate, frame.pts = rate, pts
                frame.time_base = Fraction(1, rate)
                pts += samples
                out.mux(astream.encode(frame))
            out.mux(astream.encode(None))
    return path


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The audio/video files, made once for the module (encoding is the slow part)."""
    d = tmp_path_factory.mktemp("media")
    meta = {
        "creation_time": "2021-06-05T14:03:02.000000Z",
        "location": "+37.7858-122.4064+012.000/",
    }
    make_av(d / "clip.mp4", metadata=meta)
    make_av(d / "faststart.mp4", container_options={"movflags": "+faststart"})
    make_av(d / "portrait.mov", rotation=-90)  # PyAV angles are counter-clockwise
    make_av(d / "clip.avi", video="mpeg4", audio="libmp3lame")
    make_av(d / "clip.ts", fmt="mpegts")
    vp8 = {"deadline": "realtime", "cpu-used": "8"}
    make_av(d / "clip.webm", video="libvpx", audio="libopus", rate=48000, video_options=vp8)
    make_av(d / "tone.wav", video=None, audio="pcm_s16le")
    make_av(d / "tone.mp3", video=None, audio="libmp3lame")
    make_av(d / "tone.ogg", video=None, audio="libopus", rate=48000)
    make_av(d / "tone.flac", video=None, audio="flac")
    make_av(d / "tone.m4a", fmt="ipod", video=None, audio="aac")
    make_av(d / "audio_only.mp4", video=None, audio="aac")  # isom brand, but no video
    return d


# -- import hygiene -----------------------------------------------------------------


def test_import_does_not_load_heavy_libraries() -> None:
    code = (
        "import sys, mstore.catalog.probe, mstore.catalog.sniff\n"
        "heavy = [m for m in ('PIL', 'av', 'pillow_heif', 'pypdf') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# -- images ---------------------------------------------------------------------------


def test_jpeg_with_full_exif() -> None:
    m = probe_bytes(jpeg_bytes(camera_exif()))
    assert (m.kind, m.mime) == ("image", "image/jpeg")
    assert (m.width, m.height) == (48, 64)  # orientation 6: stored 64x48, shown portrait
    assert m.orientation == 6
    assert m.taken == "2021-06-05T14:03:02+02:00"
    assert (m.camera_make, m.camera_model) == ("Canon", "EOS R5")
    assert m.gps_lat == pytest.approx(SYDNEY[0], abs=1e-4)
    assert m.gps_lon == pytest.approx(SYDNEY[1], abs=1e-4)
    assert m.gps_alt == pytest.approx(-5.5)
    assert m.error is None and m.frames is None


def test_jpeg_without_exif() -> None:
    m = probe_bytes(jpeg_bytes(None, size=(33, 17)))
    assert (m.width, m.height, m.orientation, m.taken) == (33, 17, None, None)
    assert m.error is None


@pytest.mark.parametrize(
    ("kwargs", "taken"),
    [
        ({"original": None, "digitized": "2020:01:02 03:04:05"}, "2020-01-02T03:04:05"),
        (
            {"original": None, "offset": None, "datetime_": "2019:12:31 23:59:59"},
            "2019-12-31T23:59:59",
        ),
        (
            {"original": "0000:00:00 00:00:00", "datetime_": "2019:12:31 23:59:59"},
            "2019-12-31T23:59:59",
        ),
        ({"offset": "   :  "}, "2021-06-05T14:03:02"),  # blank offset: local time only
        ({"offset": "-05:30"}, "2021-06-05T14:03:02-05:30"),
    ],
)
def test_taken_fallbacks(kwargs: dict[str, object], taken: str) -> None:
    m = probe_bytes(jpeg_bytes(camera_exif(**kwargs)))  # type: ignore[arg-type]
    assert m.taken == taken


@pytest.mark.parametrize(
    "value",
    [
        "0000:00:00 00:00:00",
        "",
        "    :  :     :  :  ",
        "1700:05:06 07:08:09",
        "2021:00:10 10:00:00",
        "2021:02:30 10:00:00",
        "2021:06:05 25:00:00",
        "not a date",
        None,
        12345,
        (1, 2),
    ],
)
def test_bogus_exif_dates_are_ignored(value: object) -> None:
    assert exif_datetime(value, "+01:00") is None


def test_exif_datetime_accepts_common_variants() -> None:
    assert exif_datetime("2021:06:05 14:03:02\x00") == "2021-06-05T14:03:02"
    assert exif_datetime(b"2021:06:05 14:03:02", b"+0100") == "2021-06-05T14:03:02+01:00"
    assert exif_datetime("2021-06-05T14:03:02", "Z") == "2021-06-05T14:03:02"
    assert exif_datetime("2021:06:05 14:03:02", "+99:00") == "2021-06-05T14:03:02"


def test_malformed_exif_values_do_not_raise_and_are_dropped() -> None:
    exif = camera_exif(
        orientation=9,
        original="0000:00:00 00:00:00",
        make="\x00",
        model="   ",
        gps={
            1: "N",
            2: (IFDRational(37, 0), IFDRational(1, 0), IFDRational(0, 0)),  # x/0
            3: "E",
            4: (10.0, 0.0, 0.0),
            6: IFDRational(5, 0),
        },
    )
    m = probe_bytes(jpeg_bytes(exif))
    assert (m.width, m.height) == (64, 48)  # orientation 9 is not a valid orientation
    assert m.orientation is None and m.taken is None
    assert m.camera_make is None and m.camera_model is None
    assert m.gps_lat is None and m.gps_lon is None and m.gps_alt is None
    assert m.error is None  # placeholders real cameras write are not errors


def test_non_string_make_is_skipped() -> None:
    # Pillow's writer would coerce a number to ASCII; craft an IFD0 whose Make is a SHORT.
    entries = [
        (0x010F, 3, 1, struct.pack("<HH", 1234, 0)),  # Make as SHORT 1234
        (0x0112, 3, 1, struct.pack("<HH", 8, 0)),  # Orientation 8
    ]
    ifd = len(entries).to_bytes(2, "little") + b"".join(
        struct.pack("<HHI", tag, typ, count) + value for tag, typ, count, value in entries
    )
    tiff = b"II*\x00" + (8).to_bytes(4, "little") + ifd + b"\x00\x00\x00\x00"
    m = probe_bytes(jpeg_bytes(None)[:2] + _app1(b"Exif\x00\x00" + tiff) + jpeg_bytes(None)[2:])
    assert m.camera_make is None
    assert (m.orientation, m.width, m.height) == (8, 48, 64)


def _app1(payload: bytes) -> bytes:
    return b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload


@pytest.mark.parametrize(
    "gps",
    [
        {1: "N", 2: (95.0, 0.0, 0.0), 3: "E", 4: (10.0, 0.0, 0.0)},  # latitude > 90
        {1: "N", 2: (45.0, 0.0, 0.0), 3: "W", 4: (190.0, 0.0, 0.0)},  # longitude > 180
        {1: "N", 2: (45.0, 75.0, 0.0), 3: "W", 4: (10.0, 0.0, 0.0)},  # 75 minutes
        {1: "N", 2: (0.0, 0.0, 0.0), 3: "E", 4: (0.0, 0.0, 0.0)},  # no-fix placeholder
        {1: "N", 3: "E", 4: (10.0, 0.0, 0.0)},  # latitude missing
    ],
)
def test_gps_out_of_range_is_rejected(gps: dict[int, object]) -> None:
    m = probe_bytes(jpeg_bytes(camera_exif(gps=gps)))
    assert m.gps_lat is None and m.gps_lon is None
    assert m.taken == "2021-06-05T14:03:02+02:00"  # the rest of the EXIF still counts


def test_gps_single_rational_and_north_east() -> None:
    gps = {1: "N", 2: (48.8584,), 3: "E", 4: (2.2945,), 5: b"\x00", 6: 35.0}
    m = probe_bytes(jpeg_bytes(camera_exif(gps=gps)))
    assert m.gps_lat == pytest.approx(48.8584, abs=1e-4)
    assert m.gps_lon == pytest.approx(2.2945, abs=1e-4)
    assert m.gps_alt == pytest.approx(35.0)


def test_png(tmp_path: Path) -> None:
    p = tmp_path / "a.png"
    Image.new("RGBA", (40, 30)).save(p)
    m = probe_path(p)
    assert (m.kind, m.mime, m.width, m.height, m.error) == ("image", "image/png", 40, 30, None)


def test_png_exif_after_image_data_is_read_without_decoding() -> None:
    # Pillow writes eXIf before IDAT; move it after, where Pillow would need load().
    buf = io.BytesIO()
    Image.new("RGB", (40, 30)).save(buf, "PNG", exif=camera_exif())
    data = buf.getvalue()
    chunks, pos = [], 8
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunks.append(data[pos : pos + 12 + length])
        pos += 12 + length
    exif_chunk = next(c for c in chunks if c[4:8] == b"eXIf")
    rest = [c for c in chunks if c is not exif_chunk]
    late = data[:8] + b"".join(rest[:-1]) + exif_chunk + rest[-1]
    m = probe_bytes(late)
    assert (m.width, m.height, m.orientation) == (30, 40, 6)
    assert m.taken == "2021-06-05T14:03:02+02:00"
    assert m.error is None


def test_animated_gif_counts_frames(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (32, 24), c) for c in ("red", "green", "blue")]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    m = probe_path(p)
    assert (m.mime, m.width, m.height, m.frames) == ("image/gif", 32, 24, 3)


def test_webp_static_and_animated() -> None:
    frames = [Image.new("RGB", (32, 24), c) for c in ("red", "green", "blue")]
    still, anim = io.BytesIO(), io.BytesIO()
    frames[0].save(still, "WEBP")
    frames[0].save(anim, "WEBP", save_all=True, append_images=frames[1:], duration=100)
    m = probe_bytes(still.getvalue())
    assert (m.mime, m.width, m.height, m.frames) == ("image/webp", 32, 24, None)
    assert probe_bytes(anim.getvalue()).frames == 3


def test_tiff_orientation_is_applied_once() -> None:
    buf = io.BytesIO()
    Image.new("RGB", (32, 24)).save(buf, "TIFF", exif=camera_exif())
    m = probe_bytes(buf.getvalue())
    assert (m.mime, m.width, m.height, m.orientation) == ("image/tiff", 24, 32, 6)
    assert m.camera_make == "Canon"


def test_progressive_jpeg_is_complete() -> None:
    buf = io.BytesIO()
    Image.effect_noise((64, 48), 40).save(buf, "JPEG", progressive=True, quality=80)
    m = probe_bytes(buf.getvalue())  # several SOS scans, with tables in between
    assert (m.width, m.height, m.error) == (64, 48, None)


def test_tiff_based_raw_reports_exif_but_not_the_preview_size() -> None:
    from PIL import TiffImagePlugin

    ifd = TiffImagePlugin.ImageFileDirectory_v2()
    ifd[50706] = b"\x01\x04\x00\x00"  # DNGVersion
    ifd.tagtype[50706] = 1
    ifd[271], ifd[274] = "Canon", 6
    buf = io.BytesIO()
    Image.new("RGB", (32, 24)).save(buf, "TIFF", tiffinfo=ifd)
    m = probe_bytes(buf.getvalue())
    assert (m.mime, m.camera_make, m.orientation) == ("image/x-adobe-dng", "Canon", 6)
    assert m.width is None and m.height is None and m.error is None


def test_heic() -> None:
    import pillow_heif  # a declared dependency: its absence must fail, not skip
    if not pillow_heif.libheif_info().get("HEIF"):
        pytest.skip("this libheif build has no HEVC encoder, cannot make a HEIC")
    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "blue").save(buf, "HEIF", exif=camera_exif(), quality=50)
    m = probe_bytes(buf.getvalue())
    assert (m.kind, m.mime) == ("image", "image/heic")
    # HEIF rotates with its irot box, never with EXIF (pillow_heif already applied irot),
    # so the size is as decoded; the file's EXIF orientation is still reported.
    assert (m.width, m.height, m.orientation) == (64, 48, 6)
    assert m.taken == "2021-06-05T14:03:02+02:00"
    assert m.gps_lat == pytest.approx(SYDNEY[0], abs=1e-4)


def test_avif() -> None:
    from PIL import features

    if not features.check("avif"):
        pytest.skip("this Pillow has no AVIF support")
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), "green").save(buf, "AVIF", exif=camera_exif(), quality=50)
    m = probe_bytes(buf.getvalue())
    assert (m.mime, m.width, m.height, m.orientation) == ("image/avif", 48, 64, 6)
    assert m.camera_make == "Canon"


# -- hostile images -------------------------------------------------------------------


def test_zero_bytes(tmp_path: Path) -> None:
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    with p.open("rb") as f:
        m = probe(f, 0, b"")
    assert (m.kind, m.mime, m.error) == ("other", "application/x-empty", "other: empty file")


def test_truncated_jpeg_keeps_header_facts_and_flags_error() -> None:
    data = jpeg_bytes(camera_exif(), size=(256, 192), noise=True)
    m = probe_bytes(data[: int(len(data) * 0.4)])
    assert m.error == "image: truncated file"
    assert (m.width, m.height, m.taken) == (192, 256, "2021-06-05T14:03:02+02:00")
    assert probe_bytes(data[:-2]).error == "image: truncated file"  # only EOI missing
    # cut inside the headers: Pillow itself fails, with the same message
    assert probe_bytes(data[:300]).error == "image: truncated file"


def test_jpeg_read_through_a_file_is_cut_exactly_where_its_eoi_goes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # files too large to read whole are searched for their EOI a chunk at a time from
    # the end: with tiny chunks, every cut lands on some chunk boundary, FF|D9 too
    monkeypatch.setattr(image_mod, "_SCAN", 7)
    data = jpeg_bytes(camera_exif(), size=(64, 48), noise=True)
    assert data.endswith(b"\xff\xd9")
    p = tmp_path / "photo.jpg"

    def through_file(content: bytes) -> str | None:
        p.write_bytes(content)
        with p.open("rb") as f:
            return probe(f, len(content), content[:4096]).error

    for cut in (len(data) - 1, len(data) - 2, len(data) - 9, len(data) // 2):
        assert through_file(data[:cut]) == "image: truncated file", cut
    for trailer in (b"", b"x", b"SEFT" * 5):
        assert through_file(data + trailer) is None, trailer


def test_jpeg_with_trailer_after_eoi_is_complete() -> None:
    data = jpeg_bytes(camera_exif()) + b"\x00" * 1000 + b"SEFT vendor trailer"
    assert probe_bytes(data).error is None


def test_random_bytes_named_jpg(tmp_path: Path) -> None:
    p = tmp_path / "photo.jpg"
    p.write_bytes(random.Random(7).randbytes(4096))
    m = probe_path(p)
    assert (m.kind, m.mime) == ("other", "application/octet-stream")
    assert m.error == "other: unrecognized content"


def test_recognised_other_formats_are_not_errors() -> None:
    m = probe_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(40))
    assert (m.kind, m.mime, m.error) == ("other", "application/zip", None)


# -- documents ------------------------------------------------------------------------


def test_pdf_with_text_pages_and_date() -> None:
    m = probe_bytes(make_pdf(3, created="D:20190601123000+02'00'"))
    assert (m.kind, m.mime, m.pages, m.text_layer) == ("document", "application/pdf", 3, True)
    assert (m.taken, m.error) == ("2019-06-01T12:30:00+02:00", None)


def test_pdf_of_scanned_pages_has_no_text_layer() -> None:
    m = probe_bytes(make_pdf(2, text=None, image=True))
    assert (m.kind, m.pages, m.text_layer, m.taken, m.error) == ("document", 2, False, None,
                                                                 None)


def test_pdf_text_layer_is_looked_for_in_the_first_pages_only() -> None:
    # the fonts of a many-page document are found without reading every page
    m = probe_bytes(make_pdf(500))
    assert (m.pages, m.text_layer) == (500, True)


def test_truncated_and_garbage_pdfs_are_documents_with_an_error() -> None:
    data = make_pdf(4)
    assert probe_bytes(data[: len(data) // 2]).error == "document: truncated file"
    m = probe_bytes(b"%PDF-1.7\n" + random.Random(2).randbytes(3000))
    assert m.kind == "document" and m.error is not None and m.error.startswith("document: ")
    assert "0x" not in m.error


@pytest.mark.parametrize(("value", "expected"), [
    ("D:20190601123000+02'00'", "2019-06-01T12:30:00+02:00"),
    ("D:20250208122313Z", "2025-02-08T12:23:13+00:00"),
    ("D:20250208122313Z00'00'", "2025-02-08T12:23:13+00:00"),
    ("D:20190601123000-05'30", "2019-06-01T12:30:00-05:30"),
    ("20190601", "2019-06-01T00:00:00"),
    ("D:2019", "2019-01-01T00:00:00"),
    ("D:20191341", None),
    ("yesterday", None),
    (None, None),
])
def test_pdf_datetime(value: str | None, expected: str | None) -> None:
    assert pdf_datetime(value) == expected


def test_jpeg_magic_then_garbage() -> None:
    m = probe_bytes(b"\xff\xd8\xff" + random.Random(3).randbytes(2000))
    assert m.kind == "image" and m.error is not None and m.error.startswith("image: ")
    assert "0x" not in m.error  # no object reprs: the record is keyed by content


@pytest.mark.parametrize(("w", "h"), [(100_000, 100_000), (15_000, 15_000)])
def test_decompression_bomb(w: int, h: int) -> None:
    # 10 Gpx trips Pillow's error, 225 Mpx only its warning; both are errors here.
    m = probe_bytes(png_header_only(w, h))
    assert (m.kind, m.mime) == ("image", "image/png")
    assert m.error == f"image: decompression bomb ({w * h} pixels)"
    assert m.width is None


def test_truncated_png() -> None:
    buf = io.BytesIO()
    Image.effect_noise((64, 64), 50).save(buf, "PNG")
    m = probe_bytes(buf.getvalue()[:-20])
    assert (m.width, m.height, m.error) == (64, 64, "image: truncated file")


def _gif(frames: int = 3) -> bytes:
    imgs = [Image.effect_noise((96, 64), 40 + 10 * i).convert("P") for i in range(frames)]
    buf = io.BytesIO()
    imgs[0].save(buf, "GIF", save_all=True, append_images=imgs[1:], duration=100, loop=0)
    return buf.getvalue()


def test_truncated_gif_is_flagged_wherever_it_is_cut() -> None:
    data = _gif()
    assert probe_bytes(data).error is None
    assert probe_bytes(data + b"junk after the trailer").error is None
    for cut in (len(data) * 3 // 10, len(data) * 9 // 10, len(data) - 1):
        m = probe_bytes(data[:cut])
        assert m.error == "image: truncated file", cut
        assert (m.width, m.height) == (96, 64)  # the header facts are kept


def test_truncated_webp_is_flagged() -> None:
    buf = io.BytesIO()
    Image.effect_noise((256, 192), 60).convert("RGB").save(buf, "WEBP", quality=90)
    data = buf.getvalue()
    assert probe_bytes(data).error is None
    for cut in (0.5, 0.95):
        assert probe_bytes(data[: int(len(data) * cut)]).error == "image: truncated file"


def test_truncated_heic_is_flagged() -> None:
    import pillow_heif  # a declared dependency: its absence must fail, not skip
    if not pillow_heif.libheif_info().get("HEIF"):
        pytest.skip("this libheif build has no HEVC encoder, cannot make a HEIC")
    pillow_heif.register_heif_opener()
    buf = io.BytesIO()
    Image.effect_noise((256, 192), 60).convert("RGB").save(buf, "HEIF", quality=80)
    data = buf.getvalue()
    assert probe_bytes(data).error is None
    m = probe_bytes(data[: int(len(data) * 0.6)])
    assert (m.mime, m.width, m.height, m.error) == ("image/heic", 256, 192,
                                                   "image: truncated file")


@pytest.mark.parametrize(("name", "fmt", "codec"), [
    ("tone.mp3", None, "libmp3lame"),  # LAME writes a Xing header: duration from frames
    ("tone.flac", None, "flac"),  # STREAMINFO's sample count
    ("tone.mka", "matroska", "aac"),  # the Duration element
    ("tone.wav", None, "pcm_s16le"),  # the RIFF size
])
def test_truncated_audio_is_flagged(tmp_path: Path, name: str, fmt: str | None,
                                    codec: str) -> None:
    data = make_av(tmp_path / name, fmt=fmt, video=None, audio=codec, seconds=6.0).read_bytes()
    whole = probe_bytes(data)
    assert whole.error is None and whole.duration == pytest.approx(6.0, abs=0.1)
    for cut in (0.5, 0.9):
        m = probe_bytes(data[: int(len(data) * cut)])
        assert (m.kind, m.error) == ("audio", "audio: truncated file"), cut


def test_cut_audio_whose_duration_is_estimated_from_its_size_is_not_flagged(
        tmp_path: Path) -> None:
    # raw ADTS AAC has no length header: FFmpeg's duration follows the file's size, so a
    # cut file is consistent with itself and there is nothing to report
    data = make_av(tmp_path / "tone.aac", fmt="adts", video=None, audio="aac",
                   seconds=6.0).read_bytes()
    m = probe_bytes(data[: len(data) // 2])
    assert m.error is None and m.duration == pytest.approx(3.0, abs=0.5)


def test_corrupt_exif_segment() -> None:
    data = jpeg_bytes(None)
    junk = b"Exif\x00\x00" + b"MM\x00*\x00\x00\x00\x08\xff\xff" + random.Random(1).randbytes(40)
    m = probe_bytes(data[:2] + _app1(junk) + data[2:])
    assert (m.width, m.height) == (64, 48)


# -- video and audio ------------------------------------------------------------------


def test_mp4_video_with_audio_and_tags(media_dir: Path) -> None:
    m = probe_path(media_dir / "clip.mp4")
    assert (m.kind, m.mime) == ("video", "video/mp4")
    assert (m.width, m.height, m.rotation) == (64, 48, 0)
    assert (m.video_codec, m.audio_codec) == ("h264", "aac")
    assert m.fps == pytest.approx(24.0)
    assert m.duration == pytest.approx(1.0, abs=0.1)
    assert (m.sample_rate, m.channels) == (44100, 2)
    assert m.taken == "2021-06-05T14:03:02+00:00"
    assert m.gps_lat == pytest.approx(37.7858, abs=1e-4)
    assert m.gps_lon == pytest.approx(-122.4064, abs=1e-4)
    assert m.gps_alt == pytest.approx(12.0)
    assert m.error is None


def test_rotated_mov_reports_displayed_size(media_dir: Path) -> None:
    m = probe_path(media_dir / "portrait.mov")
    assert (m.kind, m.mime) == ("video", "video/quicktime")
    assert (m.rotation, m.width, m.height) == (90, 48, 64)


@pytest.mark.parametrize(
    ("name", "kind", "mime", "vcodec", "acodec", "rate"),
    [
        ("clip.avi", "video", "video/x-msvideo", "mpeg4", "mp3", 44100),
        ("clip.ts", "video", "video/mp2t", "h264", "aac", 44100),
        ("clip.webm", "video", "video/webm", "vp8", "opus", 48000),
        ("tone.wav", "audio", "audio/wav", None, "pcm_s16le", 44100),
        ("tone.mp3", "audio", "audio/mpeg", None, "mp3", 44100),
        ("tone.ogg", "audio", "audio/ogg", None, "opus", 48000),
        ("tone.flac", "audio", "audio/flac", None, "flac", 44100),
        ("tone.m4a", "audio", "audio/mp4", None, "aac", 44100),
        ("audio_only.mp4", "audio", "audio/mp4", None, "aac", 44100),  # kind from streams
    ],
)
def test_containers(
    media_dir: Path,
    name: str,
    kind: str,
    mime: str,
    vcodec: str | None,
    acodec: str,
    rate: int,
) -> None:
    m = probe_path(media_dir / name)
    assert (m.kind, m.mime, m.video_codec, m.audio_codec) == (kind, mime, vcodec, acodec)
    assert (m.sample_rate, m.channels) == (rate, 2)
    assert m.duration == pytest.approx(1.0, abs=0.15)
    assert m.error is None
    if kind == "video":
        assert (m.width, m.height) == (64, 48)
    else:
        assert m.width is None and m.fps is None


def test_truncated_mp4_without_moov(media_dir: Path) -> None:
    data = (media_dir / "clip.mp4").read_bytes()  # PyAV writes moov last
    for cut in (0.4, 0.5, 0.9):
        m = probe_bytes(data[: int(len(data) * cut)])
        assert (m.kind, m.mime) == ("video", "video/mp4")
        assert m.error is not None and m.error.startswith("video: ")
        assert "Errno" not in m.error and "<none>" not in m.error


def test_truncated_mp4_with_moov_first(media_dir: Path) -> None:
    data = (media_dir / "faststart.mp4").read_bytes()
    assert data.find(b"moov") < data.find(b"mdat")
    whole = probe_bytes(data)
    assert whole.error is None
    m = probe_bytes(data[: len(data) - 100])  # the media data lost its end
    assert m.error == "video: truncated file"
    assert (m.video_codec, m.width, m.height) == ("h264", 64, 48)  # the rest is still known


def test_ftyp_then_garbage() -> None:
    data = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isommp41" + random.Random(5).randbytes(3000)
    m = probe_bytes(data)
    assert m.kind == "video" and m.error is not None and m.error.startswith("video: ")


def test_mp3_frames_then_garbage() -> None:
    frame = b"\xff\xfb\x90\x64" + b"\x00" * 413  # MPEG-1 layer III 128 kbit/s 44.1 kHz
    m = probe_bytes(frame * 3 + random.Random(9).randbytes(5000))
    assert m.kind == "audio"  # what FFmpeg makes of it varies; it must just not raise


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-06-05T14:03:02.000000Z", "2021-06-05T14:03:02+00:00"),
        ("2019-08-12T10:11:12+0200", "2019-08-12T10:11:12+02:00"),
        ("2019-08-12 10:11:12", "2019-08-12T10:11:12"),
        ("1904-01-01T00:00:00.000000Z", None),
        ("1970-01-01T00:00:00.000000Z", None),
        ("0000-00-00T00:00:00Z", None),
        ("yesterday", None),
        (None, None),
    ],
)
def test_media_datetime(value: str | None, expected: str | None) -> None:
    assert media_datetime(value) == expected


def test_iso6709() -> None:
    assert iso6709("+37.7858-122.4064+012.000/") == (37.7858, -122.4064, 12.0)
    assert iso6709("+48.8584+002.2945/") == (48.8584, 2.2945, None)
    lat, lon, _ = iso6709("+4851.504+00217.670/") or (0, 0, 0)  # DDMM.mmm
    assert lat == pytest.approx(48.8584, abs=1e-4) and lon == pytest.approx(2.29450, abs=1e-4)
    assert iso6709("+95.0000+010.0000/") is None
    assert iso6709("+00.0000+000.0000/") is None
    assert iso6709("garbage") is None


# -- text -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime", "encoding", "lines"),
    [
        ("héllo\nwörld\n€uro\n".encode(), "text/plain", "utf-8", 3),
        (b"one\ntwo\nno newline at end", "text/plain", "utf-8", 3),
        (b"crlf\r\nlines\r\n", "text/plain", "utf-8", 2),
        (b"old\rmac\r", "text/plain", "utf-8", 2),
        ("café crème\nà la carte\n".encode("latin-1"), "text/plain", "latin-1", 2),
        ("\ufeffbom\nutf8\n".encode(), "text/plain", "utf-8-sig", 2),
        ("\ufeffutf-16 ĊĊ\nline two\n".encode("utf-16-le"), "text/plain", "utf-16-le", 2),
        ("\ufeffbig endian\n".encode("utf-16-be"), "text/plain", "utf-16-be", 1),
        (b'<?xml version="1.0"?>\n<x:xmpmeta/>\n', "application/xml", "utf-8", 2),
        (b'{"a": [1, 2]}\n', "application/json", "utf-8", 1),
    ],
)
def test_text(data: bytes, mime: str, encoding: str, lines: int) -> None:
    m = probe_bytes(data)
    assert (m.kind, m.mime, m.encoding, m.lines, m.error) == ("text", mime, encoding, lines, None)


_WINDOWS_TEXT = "\u201cQuotes\u201d \u2014 it\u2019s \u20ac5 \u2026 \u2018ok\u2019\nna\u00efve\n"


@pytest.mark.parametrize("text", [
    _WINDOWS_TEXT,  # cp1252: curly quotes, em dash, euro, ellipsis (bytes 0x80-0x9F)
    "caf\u00e9 cr\u00e8me \u00bd\n",  # no byte in 0x80-0x9F: latin-1 and cp1252 agree
    "\u201cquoted\u201d" + "x" * (70 << 10) + "\u00e9\n",  # the head alone is not enough
])
def test_decoding_with_the_reported_encoding_gives_back_the_text(text: str) -> None:
    data = text.encode("cp1252")
    m = probe_bytes(data)
    assert m.encoding is not None and data.decode(m.encoding) == text


def test_cp1252_and_latin1_are_told_apart() -> None:
    assert probe_bytes(_WINDOWS_TEXT.encode("cp1252")).encoding == "cp1252"
    # 0x81 is not a cp1252 character: the file is not cp1252, latin-1 still decodes it
    data = "\u201cquoted\u201d, then a byte cp1252 lacks: ".encode("cp1252") + b"\x81\n"
    m = probe_bytes(data)
    assert m.encoding == "latin-1" and data.decode(m.encoding).encode("latin-1") == data


def _takeout(**fields: object) -> bytes:
    import json

    doc = {"title": "IMG_1234.jpg", "description": "",
           "creationTime": {"timestamp": "1600598769", "formatted": "Sep 20, 2020"},
           "photoTakenTime": {"timestamp": "1600596727", "formatted": "Sep 20, 2020"},
           "geoData": {"latitude": 48.8584, "longitude": 2.2945, "altitude": 35.0,
                       "latitudeSpan": 0.0, "longitudeSpan": 0.0},
           "geoDataExif": {"latitude": 0.0, "longitude": 0.0, "altitude": 0.0},
           "url": "https://photos.google.com/photo/x"}
    doc.update(fields)
    return json.dumps(doc, indent=2).encode()


def test_google_takeout_json_gives_time_and_place() -> None:
    m = probe_bytes(_takeout())
    assert (m.kind, m.mime) == ("text", "application/json")
    assert m.sidecar is not None and m.sidecar.format == "google-takeout"
    # UTC epoch seconds: the time is UTC; the JSON file itself claims no capture time
    assert (m.sidecar.taken, m.taken) == ("2020-09-20T10:12:07+00:00", None)
    assert (m.sidecar.gps_lat, m.sidecar.gps_lon, m.sidecar.gps_alt) == (48.8584, 2.2945, 35.0)


def test_takeout_unknowns_and_the_camera_place() -> None:
    unknown = {"latitude": 0.0, "longitude": 0.0, "altitude": 0.0}
    m = probe_bytes(_takeout(photoTakenTime={"timestamp": "0"}, geoData=unknown,
                             geoDataExif=unknown))
    assert m.sidecar is not None
    assert (m.sidecar.taken, m.sidecar.gps_lat) == (None, None)
    m = probe_bytes(_takeout(geoData={"latitude": 1.5, "longitude": 2.5, "altitude": 0.0}))
    assert m.sidecar is not None and (m.sidecar.gps_lat, m.sidecar.gps_alt) == (1.5, None)
    m = probe_bytes(_takeout(geoData=unknown,
                             geoDataExif={"latitude": -33.8568, "longitude": 151.2153}))
    assert m.sidecar is not None and (m.sidecar.gps_lat, m.sidecar.gps_lon) == (-33.8568,
                                                                               151.2153)


@pytest.mark.parametrize("data", [
    b'{"name": "not takeout", "geo": {"latitude": 1}}\n',  # other JSON
    b'{"title": "album", "date": {"timestamp": "1672477816"}}\n',  # an album's metadata.json
    b'{"photoTakenTime": "broken", "geoData": [1, 2]\n',  # not even valid JSON
])
def test_other_json_is_not_a_sidecar(data: bytes) -> None:
    m = probe_bytes(data)
    assert m.kind == "text" and m.sidecar is None and m.error is None


def test_text_valid_utf8_head_latin1_tail() -> None:
    data = b"ascii line\n" * 7000 + "d\xe9j\xe0 vu\n".encode("latin-1")  # past the head
    m = probe_bytes(data)
    assert (m.encoding, m.lines) == ("latin-1", 7001)


# -- sources and the safety net -------------------------------------------------------


def test_mmap_and_raw_file_sources(tmp_path: Path, media_dir: Path) -> None:
    for path in (media_dir / "clip.mp4", tmp_path / "p.jpg"):
        if not path.exists():
            path.write_bytes(jpeg_bytes(camera_exif()))
        expected = probe_path(path)
        size = path.stat().st_size
        with path.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            assert probe(mm, size, mm[:HEAD]) == expected
            assert not mm.closed
        with path.open("rb", buffering=0) as raw:  # how large files arrive in production
            assert probe(raw, size, path.read_bytes()[:HEAD]) == expected
            assert not raw.closed
            raw.seek(0)
            assert raw.read(4) == path.read_bytes()[:4]  # still usable by the caller


@pytest.mark.parametrize("fmt", ["WEBP", "PNG", "JPEG"])
def test_sources_agree_on_damaged_files(tmp_path: Path, fmt: str) -> None:
    # mmap.seek() past the end raises where a file's does not; parsers of damaged
    # files do it, and the facts recorded must not depend on the source type.
    p = tmp_path / "damaged"
    for damaged in _cuts(_image(fmt)()):
        p.write_bytes(damaged)
        expected = probe_bytes(damaged)
        with p.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            assert probe(mm, len(mm), mm[:HEAD]) == expected


def test_mapped_file_behaves_like_a_file(tmp_path: Path) -> None:
    p = tmp_path / "lines"
    p.write_bytes(b"one\ntwo\nthree")
    with p.open("rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        f = probe_pkg.MappedFile(mm)
        assert (f.readline(), f.readline(2), f.readline(), f.readline()) == (
            b"one\n",
            b"tw",
            b"o\n",
            b"three",
        )
        assert f.seek(100) == 100 and f.read(10) == b"" and f.tell() == 100
        assert f.seek(-2, 2) == 11 and f.read() == b"ee"
        with pytest.raises(OSError):
            f.seek(-1)


def test_unexpected_prober_exception_becomes_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object) -> Meta:
        raise RuntimeError("bug in a prober at <object at 0xdeadbeef>")

    monkeypatch.setattr(image_mod, "probe_image", boom)
    m = probe_bytes(jpeg_bytes(None))
    assert (m.kind, m.mime) == ("image", "image/jpeg")
    assert m.error == "image: bug in a prober at"


def test_describe_error_is_short() -> None:
    msg = probe_pkg.describe_error("video", "x" * 1000)
    assert msg.startswith("video: x") and len(msg) < 200


def _cuts(data: bytes) -> list[bytes]:
    rnd = random.Random(len(data))
    out = [data[:n] for n in (1, 12, 100, len(data) // 3, len(data) // 2, len(data) - 1)]
    for _ in range(3):  # a few bytes flipped inside the headers
        b = bytearray(data)
        for _ in range(8):
            i = rnd.randrange(min(len(b), 4096))
            b[i] = rnd.randrange(256)
        out.append(bytes(b))
    return out


def _image(fmt: str) -> Callable[[], bytes]:
    def make() -> bytes:
        buf = io.BytesIO()
        Image.new("RGB", (48, 32), "red").save(buf, fmt, exif=camera_exif())
        return buf.getvalue()

    return make


@pytest.mark.parametrize("source", ["JPEG", "PNG", "WEBP", "TIFF", "GIF", "clip.mp4", "tone.mp3"])
def test_damaged_files_never_raise(source: str, media_dir: Path) -> None:
    if source.isupper():
        data = _image(source)()
    else:
        data = (media_dir / source).read_bytes()
    for damaged in _cuts(data):
        m = probe_bytes(damaged)
        assert isinstance(m, Meta) and m.kind in ("image", "video", "audio", "text", "other")


def test_os_urandom_never_raises() -> None:
    for n in (1, 2, 3, 4, 188 * 3, 4096):
        probe_bytes(os.urandom(n))


@pytest.mark.parametrize("make", ["nef", "cr2", "arw", "dng", "cr3", "raf", "rw2", "orf"])
def test_camera_raws_give_their_exif_facts_and_no_error(make: str) -> None:
    """A raw's capture time, camera and orientation, whether Pillow opens it (NEF, CR2,
    DNG) or not (Sony's ARW: its IFD0 gives no picture size, so its EXIF directories are
    read as a JPEG's EXIF block, which they are; Canon's CR3 keeps them in boxes of an
    ISO media file, Fujifilm's RAF in the JPEG it carries, Olympus's ORF and Panasonic's
    RW2 behind magic numbers of their own). No size is recorded (IFD0's is a thumbnail's
    or none), and nothing is an error."""
    from tests.fixtures import raws

    data = getattr(raws, make)(orientation=8)
    m = probe_bytes(data)
    assert (m.kind, m.mime, m.error) == ("image", f"image/x-{_RAW_MIMES[make]}", None)
    assert m.orientation == 8 and (m.width, m.height) == (None, None)
    assert m.camera_make and m.camera_model
    if make in _RAW_FACTS:
        assert (m.camera_make, m.camera_model, m.taken) == _RAW_FACTS[make]
    if make == "cr3":  # its GPS directory is a structure of its own too
        assert (m.gps_lat, m.gps_lon) == (pytest.approx(48.1416667), pytest.approx(11.5666667))
        assert probe_bytes(raws.cr3(gps=False)).gps_lat is None


_RAW_MIMES = {"nef": "nikon-nef", "cr2": "canon-cr2", "arw": "sony-arw", "dng": "adobe-dng",
              "cr3": "canon-cr3", "raf": "fuji-raf", "rw2": "panasonic-rw2",
              "orf": "olympus-orf"}
_RAW_FACTS = {"arw": ("SONY", "ILCE-7M3", "2023-07-14T18:30:05+02:00"),
              "cr3": ("Canon", "Canon EOS R6", "2024-02-10T16:45:30+01:00"),
              "raf": ("FUJIFILM", "X-T3", "2022-05-03T09:15:00"),
              "rw2": ("Panasonic", "DC-G9", "2021-09-18T11:05:00"),
              "orf": ("OLYMPUS CORPORATION", "E-M1MarkII", "2020-12-24T18:00:00")}


@pytest.mark.parametrize("make", ["cr3", "raf", "rw2", "orf", "arw"])
def test_a_damaged_raw_records_what_it_can_and_no_error(make: str) -> None:
    """Bytes flipped or set to extremes, or the file cut short, in the structures that
    lead to the EXIF: never an exception, and never an error for a raw."""
    from tests.fixtures import raws

    rng = random.Random(make)
    whole = getattr(raws, make)()
    mime = f"image/x-{_RAW_MIMES[make]}"
    for _ in range(400):
        data = bytearray(whole)
        for _ in range(rng.randint(1, 6)):
            if not data:
                break
            at = rng.randrange(min(len(data), 1500))
            what = rng.random()
            if what < 0.6:
                data[at] = rng.randrange(256)
            elif what < 0.8:
                data[at:at + 4] = rng.choice([b"\xff" * 4, bytes(4), b"\x7f\xff\xff\xff"])
            else:
                del data[at:]
        m = probe_bytes(bytes(data))  # raises nothing
        if m.mime == mime:  # still this raw (not bytes that now sniff as something else)
            assert m.error is None, (make, m)


def test_a_raw_whose_directories_run_past_its_end_is_still_no_error() -> None:
    from tests.fixtures import raws

    data = raws.arw()
    m = probe_bytes(data[:200])  # cut inside its first directory's values
    assert (m.kind, m.mime, m.error, m.taken) == ("image", "image/x-sony-arw", None, None)


def test_raws_read_by_older_probers_are_read_again_by_verify() -> None:
    """``add --verify`` records again the facts of content whose probers could tell less:
    the raws Pillow does not open were kind and type only before version 4 (ARW before
    3); a JPEG or a NEF read by version 3 has nothing new to tell but version 6's (an
    XMP packet's capture time and place)."""
    from mstore.model.meta import PROBE_VERSION, Meta, probed_before_news

    for mime in ("image/x-canon-cr3", "image/x-fuji-raf", "image/x-olympus-orf",
                 "image/x-panasonic-rw2"):
        assert probed_before_news(Meta(kind="image", mime=mime), 3)
        assert not probed_before_news(Meta(kind="image", mime=mime), PROBE_VERSION)
    assert probed_before_news(Meta(kind="image", mime="image/x-sony-arw"), 2)
    assert not probed_before_news(Meta(kind="image", mime="image/x-sony-arw"), 3)
    for mime in ("image/jpeg", "image/x-nikon-nef"):
        assert probed_before_news(Meta(kind="image", mime=mime), 3)  # for version 6 only
        assert probed_before_news(Meta(kind="image", mime=mime), 5)
        assert not probed_before_news(Meta(kind="image", mime=mime), 6)
    xml = Meta(kind="text", mime="application/xml")
    assert probed_before_news(xml, 5) and not probed_before_news(xml, 6)
    mp4 = Meta(kind="video", mime="video/mp4")  # its XMP packet
    assert probed_before_news(mp4, 5) and not probed_before_news(mp4, 6)
    assert not probed_before_news(Meta(kind="video", mime="video/webm"), 5)
    # content not recognised before version 5 is read again: it may be a picture now
    octet = Meta(kind="other", mime="application/octet-stream", error="other: unrecognized content")
    assert probed_before_news(octet, 4) and not probed_before_news(octet, PROBE_VERSION)
    assert not probed_before_news(Meta(kind="other", mime="application/zip"), 4)


@pytest.mark.parametrize("fmt", ["ICO", "PPM", "PCX", "SGI", "QOI", "DDS", "TGA"])
def test_pictures_pillow_reads_beyond_the_common_ones_are_images(fmt: str) -> None:
    """Icons, Netpbm, PCX, SGI, QOI, DDS and TGA pictures: images with their size, no error
    (they were "other: unrecognized content" errors before)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (48, 32), (10, 200, 30)).save(buf, fmt)
    m = probe_bytes(buf.getvalue())
    assert (m.kind, m.error) == ("image", None), m
    with Image.open(buf) as im:  # an icon's largest picture (Pillow picks the sizes)
        assert (m.width, m.height) == im.size == ((32, 21) if fmt == "ICO" else (48, 32))


@pytest.mark.parametrize(("fmt", "codec", "mime"), [
    ("caf", "pcm_s16le", "audio/x-caf"),  # a Mac's and an iPhone's own recordings
    ("au", "pcm_s16be", "audio/basic"),
    ("rm", "ac3", "audio/vnd.rn-realaudio"),  # the 2000s' streaming format
    ("wv", "wavpack", "audio/x-wavpack"),
])
def test_older_and_rarer_audio_formats_are_audio(tmp_path: Path, fmt: str, codec: str,
                                                  mime: str) -> None:
    """Before, "other: unrecognized content" errors: now audio with its duration."""
    path = make_av(tmp_path / f"a.{fmt}", fmt=fmt, video=None, audio=codec, seconds=1.0)
    m = probe_path(path)
    assert (m.kind, m.mime, m.error) == ("audio", mime, None), m
    assert m.duration is not None and 0.8 < m.duration < 1.3


def test_a_camcorder_tape_captured_as_raw_dv_is_video(tmp_path: Path) -> None:
    """Raw DV (.dv: a tape captured by iMovie or dvgrab) has no container, only DIF
    blocks: video, with its frame size and duration (before: an unrecognized-content
    error)."""
    path = tmp_path / "tape.dv"
    with av.open(str(path), "w", format="dv") as out:
        s = out.add_stream("dvvideo", rate=25)
        s.width, s.height, s.pix_fmt = 720, 576, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame(720, 576, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([(i * 20) % 256]) * plane.buffer_size)
            frame.pts = i
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    m = probe_path(path)
    assert (m.kind, m.mime, m.error) == ("video", "video/x-dv", None), m
    assert (m.width, m.height) == (720, 576) and m.duration == pytest.approx(0.4, abs=0.05)


def avchd(path: Path, mdpm: bytes | None, at_packet: int = 0) -> Path:
    """An H.264 transport stream as AVCHD camcorders write it: the recording time only in
    an SEI message (unregistered user data, UUID 17ee8c60-..., "MDPM" and its entries)
    in front of one of the first frames, none in the container."""
    uuid = bytes.fromhex("17ee8c60f84d11d98cd60800200c9a66")
    with av.open(str(path), "w", format="mpegts") as out:
        s = out.add_stream("libx264", rate=25)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p"
        packets = []
        for i in range(10):
            frame = av.VideoFrame(64, 48, "yuv420p")
            for plane in frame.planes:
                plane.update(bytes([(i * 20) % 256]) * plane.buffer_size)
            frame.pts = i
            packets += s.encode(frame)
        packets += s.encode(None)
        for n, packet in enumerate(packets):
            if mdpm is not None and n == at_packet:
                body = uuid + b"MDPM" + mdpm
                sei = b"\x00\x00\x00\x01\x06" + bytes([5, len(body)]) + body + b"\x80"
                made = av.Packet(sei + bytes(packet))
                made.pts, made.dts, made.time_base = packet.pts, packet.dts, packet.time_base
                made.stream, made.is_keyframe = s, packet.is_keyframe
                packet = made
            out.mux(packet)
    return path


def test_an_avchd_camcorders_recording_time_comes_from_its_video_stream(tmp_path: Path) -> None:
    """A .MTS from an AVCHD camcorder has no date in its container: the one its H.264
    stream carries (MDPM tags 0x18/0x19, BCD) is its capture time, as local time, from
    the first frame or a later one (Panasonic's). Damaged or absent: none, no error."""
    when = bytes([2, 0x18, 0x12, 0x20, 0x13, 0x08, 0x19, 0x15, 0x17, 0x30, 0x45])
    m = probe_path(avchd(tmp_path / "00001.MTS", when))
    assert (m.kind, m.mime, m.error, m.taken) == ("video", "video/mp2t", None,
                                                  "2013-08-15T17:30:45")
    assert probe_path(avchd(tmp_path / "later.MTS", when, at_packet=3)).taken == (
        "2013-08-15T17:30:45")
    bad_month = bytes([2, 0x18, 0x12, 0x20, 0x13, 0x13, 0x19, 0x15, 0x17, 0x30, 0x45])
    not_bcd = bytes([2, 0x18, 0x12, 0x20, 0x1A, 0x08, 0x19, 0x15, 0x17, 0x30, 0x45])
    no_clock = bytes([1, 0x18, 0x12, 0x20, 0x13, 0x08])
    for name, mdpm in (("month", bad_month), ("bcd", not_bcd), ("clock", no_clock),
                       ("cut", when[:4]), ("none", None)):
        m = probe_path(avchd(tmp_path / f"{name}.MTS", mdpm))
        assert (m.kind, m.error, m.taken) == ("video", None, None), name
