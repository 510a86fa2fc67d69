"""The built-in tools (workers/), called the way runs call them: through the registry
and ``mstore.tools.runner.run_tool``, on real media written here with Pillow and PyAV."""

from __future__ import annotations

import io
import itertools
import os
import random
import stat
import time
import wave
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import msgspec
import pytest
from PIL import Image, ImageDraw

from mstore.errors import UsageError
from mstore.tools.api import (
    BadInput,
    InputArtifact,
    NotApplicable,
    ToolInput,
    ToolRequest,
    ToolResult,
)
from mstore.tools.manifest import Manifest, load_manifest
from mstore.tools.registry import BUILTIN, Registry
from mstore.tools.runner import run_tool
from mstore.tools.views import FramePolicy, FrameSource, frame_policy, frame_source

TOOLS = {"metadata", "thumbnail", "phash", "keyframes", "audio", "duplicates", "noop",
         "wordcount", "ocr", "transcribe", "scenes", "faces", "people"}
RED = (255, 0, 0)


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.for_store(None)


def call(registry: Registry, tool: str, inputs: list[ToolInput], out_dir: Path,
         params: dict[str, Any] | None = None, views: dict[str, Any] | None = None,
         progress: Any = None) -> ToolResult:
    m = registry.get(tool)
    req = ToolRequest(tool=tool, version=m.version, params=m.resolve_params(params or {}),
                      inputs=inputs, out_dir=str(out_dir), views=views or {})
    return run_tool(m, req, progress)


def asset(path: Path, kind: str, mime: str = "", name: str | None = None,
          **artifacts: InputArtifact) -> ToolInput:
    return ToolInput(asset=name or f"id-{path.name}", kind=kind, mime=mime, path=str(path),
                     artifacts=artifacts)


# --------------------------------------------------------------------------- media


def picture(seed: int, size: tuple[int, int] = (400, 300)) -> Image.Image:
    """A picture with structure at several scales, so perceptual hashes mean something."""
    rng = random.Random(seed)
    w, h = size
    img = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    d = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rng.randrange(w), rng.randrange(h)
        box = (x, y, x + rng.randrange(w // 8, w // 2), y + rng.randrange(h // 8, h // 2))
        fill = tuple(rng.randrange(256) for _ in range(3))
        (d.ellipse if rng.random() < 0.5 else d.rectangle)(box, fill=fill)
    return img


def exif_photo(path: Path, *, orientation: int = 6, size: tuple[int, int] = (400, 200)) -> Path:
    """A landscape-stored JPEG that displays as portrait (orientation 6 = turn 90° CW),
    red in its stored top-left corner, with camera and GPS tags."""
    img = picture(1, size)
    ImageDraw.Draw(img).rectangle((0, 0, size[0] // 4, size[1] // 4), fill=RED)
    exif = Image.Exif()
    exif[0x010F] = "TestMake"
    exif[0x0110] = "TestModel 1"
    exif[0x0112] = orientation
    exif.get_ifd(0x8769)[0x9003] = "2021:06:01 12:00:00"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (Fraction(52), Fraction(31), Fraction(1250, 100))
    gps[3], gps[4] = "E", (Fraction(13), Fraction(24), Fraction(0))
    img.save(path, "JPEG", quality=90, exif=exif,
             xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><rating>4</rating></x:xmpmeta>")
    return path


def make_video(path: Path, *, seconds: float = 3.0, fps: int = 10,
               size: tuple[int, int] = (160, 120), audio: bool = True,
               rotation: int = 0) -> Path:
    """An mp4 with a keyframe every second (gop = fps), h264 (or mpeg4) + AAC mono."""
    try:
        av.codec.Codec("libx264", "w")
        vcodec, opts = "libx264", {"preset": "ultrafast"}
    except Exception:  # FFmpeg built without x264: mpeg4 is always there
        vcodec, opts = "mpeg4", {}
    with av.open(str(path), "w", format="mp4") as out:
        vs = out.add_stream(vcodec, rate=fps, options=opts)
        vs.width, vs.height = size
        vs.pix_fmt = "yuv420p"
        vs.codec_context.gop_size = fps
        if rotation:
            vs.set_display_rotation(rotation)
        aus = None
        if audio:
            aus = out.add_stream("aac", rate=22050)
            aus.layout = "mono"
        base = picture(2, size)
        for i in range(int(seconds * fps)):
            img = base.copy()
            ImageDraw.Draw(img).rectangle((0, 0, size[0] // 4, size[1] // 4), fill=RED)
            frame = av.VideoFrame.from_image(img)
            frame.pts, frame.time_base = i, Fraction(1, fps)
            out.mux(vs.encode(frame))
        out.mux(vs.encode(None))
        if aus is not None:
            step = aus.codec_context.frame_size or 1024
            total, pts = int(seconds * 22050), 0
            while pts < total:
                n = min(step, total - pts)
                af = av.AudioFrame(format=aus.codec_context.format.name, layout="mono", samples=n)
                for plane in af.planes:
                    plane.update(b"\x00" * plane.buffer_size)  # silence is audio too
                af.sample_rate, af.pts, af.time_base = 22050, pts, Fraction(1, 22050)
                out.mux(aus.encode(af))
                pts += n
            out.mux(aus.encode(None))
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("media")
    png = d / "alpha.png"
    rgba = picture(3, (300, 200)).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(png)
    text = d / "notes.txt"
    text.write_text("one two three\nfour five\n\nsix\n")
    return {"jpeg": exif_photo(d / "photo.jpg"), "png": png, "text": text,
            "video": make_video(d / "clip.mp4"),
            "silent": make_video(d / "silent.mp4", audio=False, seconds=1.0),
            "rotated": make_video(d / "rotated.mp4", audio=False, seconds=1.0, rotation=-90)}


# --------------------------------------------------------------------------- registry


def test_registry_lists_every_builtin_tool_with_coercible_param_defaults(
        registry: Registry) -> None:
    assert TOOLS <= set(registry.tools)
    for tool_id in TOOLS:
        m: Manifest = registry.get(tool_id)
        assert m.folder.parent == BUILTIN
        assert m.version and m.inputs and m.outputs
        for p in m.params.values():
            assert p.default is not None, f"{tool_id}.{p.name} has no default"
            assert p.coerce(p.default) == p.default
            # values given on the command line arrive as strings
            text = str(p.default).lower() if p.type == "bool" else str(p.default)
            assert p.coerce(text) == p.default
        assert set(m.resolve_params({})) == set(m.params)
    assert registry.get("duplicates").shape == "aggregate"
    assert registry.get("wordcount").entry == "exec:wordcount.sh"


def test_param_ranges_are_checked_when_params_are_resolved(registry: Registry,
                                                         tmp_path: Path) -> None:
    """A value outside a param's declared range (or beyond 64 bits, which no record can
    hold) is a usage error when the run is requested, not a failure once it runs."""
    thumb = registry.get("thumbnail")
    assert (thumb.params["size"].min, thumb.params["size"].max) == (16, 4096)
    assert thumb.resolve_params({"size": "128"})["size"] == 128
    for bad, why in (("-1", "out of range (16..4096)"), ("99999999999999999999", "out of range"),
                     ("5000", "out of range"), ("12.5", "is not a int")):
        with pytest.raises(UsageError, match=why.replace("(", r"\(").replace(")", r"\)")):
            thumb.resolve_params({"size": bad})
    with pytest.raises(UsageError, match="not a finite number"):
        registry.get("noop").resolve_params({"sleep": "nan"})
    with pytest.raises(UsageError, match="out of range"):
        registry.get("noop").resolve_params({"sleep": "-1"})
    # no declared range: an int param still fits in 64 bits
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "manifest.toml").write_text(
        'id = "t"\nversion = "1"\ninputs = ["image"]\noutputs = ["t"]\nentry = "exec:t"\n'
        '[params.n]\ntype = "int"\ndefault = 1\n')
    free = load_manifest(tmp_path / "t" / "manifest.toml")
    assert free.resolve_params({"n": str(2**63 - 1)})["n"] == 2**63 - 1
    with pytest.raises(UsageError, match="out of range"):
        free.resolve_params({"n": str(2**63)})
    # a bound on a param that cannot have one is an error in the manifest itself
    (tmp_path / "t" / "manifest.toml").write_text(
        'id = "t"\nversion = "1"\ninputs = ["image"]\noutputs = ["t"]\nentry = "exec:t"\n'
        '[params.s]\ntype = "str"\ndefault = "x"\nmin = 1\n')
    with pytest.raises(UsageError, match="min / max need an int or float"):
        load_manifest(tmp_path / "t" / "manifest.toml")


def test_names_the_index_keys_by_are_short_and_plain(tmp_path: Path) -> None:
    """Step names, tool ids and artifact kinds go into index keys: a manifest or pipeline
    whose names could not be keyed is refused when it is loaded, not at run time."""
    from mstore.runs.pipelines import load_pipeline

    (tmp_path / "t").mkdir()
    for field, value in (("id", "x" * 65), ("id", "a b"), ("outputs", "../k"),
                         ("inputs", "artifact:" + "k" * 100)):
        fields = {"id": "t", "inputs": "image", "outputs": "t"} | {field: value}
        (tmp_path / "t" / "manifest.toml").write_text(
            f'id = "{fields["id"]}"\nversion = "1"\ninputs = ["{fields["inputs"]}"]\n'
            f'outputs = ["{fields["outputs"]}"]\nentry = "exec:t"\n')
        with pytest.raises(UsageError, match=f"{field} .*: use letters, digits"):
            load_manifest(tmp_path / "t" / "manifest.toml")
    for step in ("s" * 65, "two words", ""):
        (tmp_path / "p.toml").write_text(
            f'name = "p"\n[[steps]]\nname = "{step}"\ntool = "noop"\n')
        with pytest.raises(UsageError, match="use letters, digits"):
            load_pipeline(tmp_path / "p.toml")


def test_views_a_manifest_declares_are_checked(tmp_path: Path) -> None:
    """``views`` (read) and ``provides`` (materialized by an output kind) name known views;
    a tool provides a view only through one of its own outputs."""
    (tmp_path / "t").mkdir()
    head = 'id = "t"\nversion = "1"\ninputs = ["video"]\noutputs = ["still"]\nentry = "exec:t"\n'
    manifest = tmp_path / "t" / "manifest.toml"
    manifest.write_text(head + 'views = ["frames"]\nprovides = { frames = "still" }\n')
    m = load_manifest(manifest)
    assert (m.views, m.provides) == (("frames",), {"frames": "still"})
    for extra, why in (('views = ["sounds"]', "unknown view 'sounds'"),
                       ('provides = { depth = "still" }', "unknown view 'depth'"),
                       ('provides = { frames = "keyframe" }', "not one of its outputs")):
        manifest.write_text(head + extra + "\n")
        with pytest.raises(UsageError, match=why):
            load_manifest(manifest)
    reg = Registry.for_store(None)
    assert reg.get("thumbnail").views == ("frames",)
    assert reg.get("keyframes").provides == {"frames": "keyframe"}


def test_exec_tool_exit_3_is_not_applicable(tmp_path: Path) -> None:
    """The exec protocol's "this step does not apply to this input": exit 3."""
    folder = tmp_path / "silent"
    folder.mkdir()
    (folder / "manifest.toml").write_text(
        'id = "silent"\nversion = "1"\ninputs = ["video"]\noutputs = ["x"]\n'
        'entry = "exec:run.sh"\n')
    script = folder / "run.sh"
    script.write_text("#!/bin/sh\ncat >/dev/null\necho 'no audio track' >&2\nexit 3\n")
    script.chmod(0o755)
    m = load_manifest(folder / "manifest.toml")
    req = ToolRequest(tool="silent", version="1", params={}, out_dir=str(tmp_path / "out"),
                      inputs=[asset(tmp_path / "v.mp4", "video")])
    with pytest.raises(NotApplicable, match="no audio track"):
        run_tool(m, req)


# --------------------------------------------------------------------------- thumbnail


def test_thumbnail_is_upright_and_sized(registry: Registry, media: dict[str, Path],
                                        tmp_path: Path) -> None:
    res = call(registry, "thumbnail", [asset(media["jpeg"], "image")], tmp_path)
    (art,) = res.artifacts
    assert art.kind == "thumbnail" and art.file == "thumb.webp"
    # stored 400x200 with orientation 6: displayed (and thumbnailed) as 200x400 portrait
    assert (art.meta["width"], art.meta["height"]) == (128, 256)
    assert art.meta["format"] == "webp"
    with Image.open(tmp_path / art.file) as im:
        assert im.format == "WEBP" and im.size == (128, 256)
        # the stored top-left red corner is at the top-right after turning 90° clockwise
        r, g, b = im.convert("RGB").getpixel((im.width - 6, 6))
        assert r > 200 and g < 60 and b < 60


def test_thumbnail_jpeg_format_size_and_alpha(registry: Registry, media: dict[str, Path],
                                             tmp_path: Path) -> None:
    res = call(registry, "thumbnail", [asset(media["png"], "image")], tmp_path / "j",
               {"format": "jpeg", "size": 100, "quality": 70})
    (art,) = res.artifacts
    assert art.file == "thumb.jpeg"
    with Image.open(tmp_path / "j" / art.file) as im:
        assert im.format == "JPEG" and im.size == (100, 67) and im.mode == "RGB"
    res = call(registry, "thumbnail", [asset(media["png"], "image")], tmp_path / "w")
    with Image.open(tmp_path / "w" / "thumb.webp") as im:
        assert im.mode == "RGBA"  # WebP keeps the transparency
        assert im.size == (256, 171)
    # smaller than size: not enlarged
    res = call(registry, "thumbnail", [asset(media["png"], "image")], tmp_path / "s",
               {"size": 1000})
    assert (res.artifacts[0].meta["width"], res.artifacts[0].meta["height"]) == (300, 200)


def test_a_thumbnail_of_floating_point_pixels_spans_their_range(registry: Registry,
                                                                tmp_path: Path) -> None:
    """A floating-point TIFF (HDR merges, scientific data) has no standard range: 0..1
    came out black and -200..800 white. The picture's own range is stretched to 0..255."""
    ramp = Image.linear_gradient("L").convert("F")  # 0 at the top .. 255 at the bottom
    for name, to in (("unit", lambda v: v / 255), ("wide", lambda v: v * 1000 / 255 - 200)):
        ramp.point(to).save(tmp_path / f"{name}.tif")
        (art,) = call(registry, "thumbnail", [asset(tmp_path / f"{name}.tif", "image")],
                      tmp_path / name).artifacts
        with Image.open(tmp_path / name / art.file) as im:
            grey = im.convert("L")
            top, bottom = grey.getpixel((128, 3)), grey.getpixel((128, im.height - 4))
        assert top < 20 and bottom > 235, (name, top, bottom)


def test_thumbnail_effort_is_the_webp_encoders(registry: Registry, tmp_path: Path) -> None:
    rng = random.Random(7)
    src = Image.new("RGB", (600, 400))
    draw = ImageDraw.Draw(src)
    for _ in range(300):  # shapes and colours enough for the encoders to differ
        x, y = rng.randrange(600), rng.randrange(400)
        draw.ellipse((x, y, x + rng.randrange(5, 90), y + rng.randrange(5, 90)),
                     fill=tuple(rng.randrange(256) for _ in range(3)))
    src.save(tmp_path / "busy.png")
    made = {}
    for effort in (0, 6):
        out = tmp_path / f"e{effort}"
        call(registry, "thumbnail", [asset(tmp_path / "busy.png", "image")], out,
             {"effort": effort})
        with Image.open(out / "thumb.webp") as im:
            assert im.format == "WEBP" and im.size == (256, 171)
        made[effort] = (out / "thumb.webp").read_bytes()
    assert len(made[6]) < len(made[0])  # the most effort, the smallest file
    # the default is recorded with every thumbnail (it is part of the reuse key)
    assert registry.get("thumbnail").resolve_params({})["effort"] == 2
    with pytest.raises(UsageError, match="effort"):
        registry.get("thumbnail").resolve_params({"effort": 7})


def test_a_thumbnail_shows_the_colours_its_pictures_profile_gives(registry: Registry,
                                                                tmp_path: Path) -> None:
    """A phone's photo keeps its numbers in Display P3; shown as they are by a browser (as
    sRGB: a thumbnail carries no profile) its colours come out washed out. The thumbnail
    has them in sRGB, as a colour-managed viewer shows the original. Without a profile,
    with sRGB's own or with one LittleCMS cannot read, the numbers stay as they are."""
    import io

    from PIL import ImageCms

    from tests.fixtures.icc import rgb_profile

    p3 = rgb_profile()
    colours = [(200, 100, 100), (60, 160, 90), (90, 110, 200)]
    src = Image.new("RGB", (300, 100))
    for i, c in enumerate(colours):
        src.paste(c, (i * 100, 0, i * 100 + 100, 100))
    to_srgb = ImageCms.buildTransform(ImageCms.ImageCmsProfile(io.BytesIO(p3)),
                                      ImageCms.createProfile("sRGB"), "RGB", "RGB")
    shown = [ImageCms.applyTransform(Image.new("RGB", (1, 1), c), to_srgb).getpixel((0, 0))
             for c in colours]
    assert max(abs(a - b) for s, c in zip(shown, colours, strict=True)
               for a, b in zip(s, c, strict=True)) > 40  # P3 and sRGB differ that much here
    src.save(tmp_path / "p3.jpg", quality=95, icc_profile=p3)
    src.convert("RGBA").save(tmp_path / "p3.png", icc_profile=p3)
    src.save(tmp_path / "broken.jpg", quality=95, icc_profile=b"no profile" * 20)
    src.save(tmp_path / "none.jpg", quality=95)
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src.save(tmp_path / "srgb.jpg", quality=95, icc_profile=srgb)  # as many cameras do
    for name, want in (("p3.jpg", shown), ("p3.png", shown), ("broken.jpg", colours),
                       ("none.jpg", colours), ("srgb.jpg", colours)):
        out = tmp_path / name.replace(".", "-")
        call(registry, "thumbnail", [asset(tmp_path / name, "image")], out, {"quality": 95})
        with Image.open(out / "thumb.webp") as im:
            assert "icc_profile" not in im.info, name  # sRGB, as a browser takes it
            got = [im.convert("RGB").getpixel((x, im.height // 2)) for x in (42, 128, 213)]
        for g, w in zip(got, want, strict=True):
            assert max(abs(a - b) for a, b in zip(g, w, strict=True)) <= 6, (name, got, want)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_thumbnail_of_a_corrupt_image_is_bad_input(registry: Registry, media: dict[str, Path],
                                                   tmp_path: Path, damage: str) -> None:
    good = media["jpeg"].read_bytes()
    bad = tmp_path / "bad.jpg"
    bad.write_bytes({"garbage": good[:2] + os.urandom(4000),
                     "truncated": good[: len(good) // 2],
                     "empty": b""}[damage])
    with pytest.raises(BadInput, match="cannot decode image"):
        call(registry, "thumbnail", [asset(bad, "image")], tmp_path / "out")


@pytest.mark.parametrize(("tool", "kind"), [("thumbnail", "image"), ("keyframes", "video"),
                                          ("scenes", "video"), ("audio", "audio")])
def test_a_decoders_failure_speaks_of_the_content_not_the_file(
        registry: Registry, tmp_path: Path, tool: str, kind: str) -> None:
    """Pillow names the file it was given, FFmpeg prints its errno and the file: a failure
    is recorded for the content (which may sit at other paths, or move), so neither
    stays in the message."""
    bad = tmp_path / "archive" / f"damaged.{'jpg' if kind == 'image' else 'mp4'}"
    bad.parent.mkdir()
    bad.write_bytes(b"\0" * 64 + random.Random(1).randbytes(3000))
    with pytest.raises(BadInput) as e:
        call(registry, tool, [asset(bad, kind)], tmp_path / "out")
    message = str(e.value)
    assert message.startswith(f"cannot decode {kind}: "), message
    assert str(tmp_path) not in message and "Errno" not in message, message


def test_thumbnail_missing_file_is_not_bad_input(registry: Registry, tmp_path: Path) -> None:
    # a vanished file or a failing disk may recover: it must stay retryable
    with pytest.raises(FileNotFoundError):
        call(registry, "thumbnail", [asset(tmp_path / "gone.jpg", "image")], tmp_path / "o")


def test_thumbnail_of_a_video(registry: Registry, media: dict[str, Path],
                              tmp_path: Path) -> None:
    res = call(registry, "thumbnail", [asset(media["video"], "video")], tmp_path / "v",
               {"size": 64})
    (art,) = res.artifacts
    assert art.meta == {"width": 64, "height": 48, "format": "webp", "source": "decoded"}
    # with an upstream keyframe artifact the video is not decoded at all
    frame = tmp_path / "frame.jpg"
    picture(9, (200, 100)).save(frame)
    inp = asset(media["video"], "video",
                keyframe=InputArtifact(id="k1", kind="keyframe", path=str(frame)))
    res = call(registry, "thumbnail", [inp], tmp_path / "k", {"size": 64})
    assert res.artifacts[0].meta["source"] == "keyframe"
    assert (res.artifacts[0].meta["width"], res.artifacts[0].meta["height"]) == (64, 32)


# --------------------------------------------------------------------------- phash


def _hashes(registry: Registry, inp: ToolInput, out: Path) -> tuple[int, int]:
    (art,) = call(registry, "phash", [inp], out).artifacts
    assert art.kind == "phash" and len(art.data["phash"]) == 16 and len(art.data["dhash"]) == 16
    return int(art.data["phash"], 16), int(art.data["dhash"], 16)


def _dist(a: int, b: int) -> int:
    return (a ^ b).bit_count()


def test_phash_is_robust_to_reencoding_and_tells_pictures_apart(
        registry: Registry, tmp_path: Path) -> None:
    original, again, other = tmp_path / "a.jpg", tmp_path / "a50.jpg", tmp_path / "b.jpg"
    picture(10, (640, 480)).save(original, quality=95)
    with Image.open(original) as im:
        im.resize((480, 360)).save(again, quality=50)  # smaller and heavily recompressed
    picture(11, (640, 480)).save(other, quality=95)
    pa, da = _hashes(registry, asset(original, "image"), tmp_path / "1")
    pb, db = _hashes(registry, asset(again, "image"), tmp_path / "2")
    pc, dc = _hashes(registry, asset(other, "image"), tmp_path / "3")
    assert _dist(pa, pb) <= 6 and _dist(da, db) <= 6
    assert _dist(pa, pc) > 10 and _dist(da, dc) > 10


def test_phash_of_a_lab_picture_is_the_hash_of_its_colours(registry: Registry,
                                                           tmp_path: Path) -> None:
    """A CIE L*a*b* TIFF (some scanners, print work) hashes as the same picture in RGB."""
    from PIL import ImageCms

    src = picture(5)
    to_lab = ImageCms.buildTransform(ImageCms.createProfile("sRGB"),
                                     ImageCms.createProfile("LAB"), "RGB", "LAB")
    ImageCms.applyTransform(src, to_lab).save(tmp_path / "lab.tif")
    src.save(tmp_path / "rgb.png")
    hashes = [int(call(registry, "phash", [asset(tmp_path / n, "image")], tmp_path
                       ).artifacts[0].data["phash"], 16) for n in ("lab.tif", "rgb.png")]
    assert bin(hashes[0] ^ hashes[1]).count("1") <= 4


def test_phash_from_the_thumbnail_artifact_matches_the_original(
        registry: Registry, media: dict[str, Path], tmp_path: Path) -> None:
    thumbs = tmp_path / "t"
    call(registry, "thumbnail", [asset(media["jpeg"], "image")], thumbs)
    direct = _hashes(registry, asset(media["jpeg"], "image"), tmp_path / "1")
    thumb = InputArtifact(id="t1", kind="thumbnail", path=str(thumbs / "thumb.webp"))
    res = call(registry, "phash", [asset(media["jpeg"], "image", thumbnail=thumb)], tmp_path / "2")
    assert res.artifacts[0].meta["source"] == "thumbnail"
    via = int(res.artifacts[0].data["phash"], 16)
    assert _dist(direct[0], via) <= 4


# --------------------------------------------------------------------------- duplicates


def _phash_input(name: str, value: int, paths: list[str] | None = None) -> ToolInput:
    art = InputArtifact(id=f"p-{name}", kind="phash", data={"phash": f"{value:016x}",
                                                            "dhash": "0" * 16})
    return ToolInput(asset=name, kind="image", mime="image/jpeg", path=f"/a/{name}.jpg",
                     meta={"paths": paths or [f"/a/{name}.jpg"]}, artifacts={"phash": art})


def _flip(value: int, *bits: int) -> int:
    for b in bits:
        value ^= 1 << b
    return value


def test_duplicates_exact_and_near_groups(registry: Registry, tmp_path: Path) -> None:
    base = 0x0123_4567_89AB_CDEF
    far = 0xFEDC_BA98_7654_3210
    inputs = [
        _phash_input("a", base, ["/a/a.jpg", "/b/copy of a.jpg"]),  # exact: two paths
        _phash_input("b", _flip(base, 1, 9, 30)),  # 3 bits from a
        _phash_input("c", _flip(base, 1, 9, 30, 40, 50, 60, 62)),  # 4 from b, 7 from a: chained
        _phash_input("d", far),
        _phash_input("e", _flip(far, 0, 1, 2, 3, 4, 5, 6)),  # 7 bits: too far
        _phash_input("f", far),  # identical hash to d, different content
        ToolInput(asset="v", kind="video", mime="video/mp4", path="/a/v.mp4",
                  meta={"paths": ["/a/v.mp4", "/old/v.mp4"]}),  # no phash: exact only
        ToolInput(asset="x", kind="image", mime="image/png", path="/a/x.png",
                  artifacts={"phash": InputArtifact(id="bad", kind="phash", data={"phash": "zz"})}),
    ]
    res = call(registry, "duplicates", inputs, tmp_path)
    groups = [(a.data["type"], a.members) for a in res.artifacts]
    assert groups == [("exact", ["a"]), ("exact", ["v"]),
                      ("near", ["a", "b", "c"]), ("near", ["d", "f"])]
    assert all(a.kind == "duplicate-group" and a.asset is None for a in res.artifacts)
    assert res.artifacts[0].data["paths"] == ["/a/a.jpg", "/b/copy of a.jpg"]
    abc = res.artifacts[2].data
    assert abc["max_distance"] == 6 and abc["pair_count"] == 2
    assert abc["pairs"] == [["a", "b", 3], ["b", "c", 4]]
    assert res.artifacts[3].data["pairs"] == [["d", "f", 0]]
    assert set(res.failed) == {"x"}
    # a wider distance joins e as well
    res = call(registry, "duplicates", inputs, tmp_path, {"max_distance": 7})
    assert ("near", ["d", "e", "f"]) in [(a.data["type"], a.members) for a in res.artifacts]


def _components(values: list[int], d: int) -> set[frozenset[int]]:
    parent = list(range(len(values)))

    def find(i: int) -> int:
        while parent[i] != i:
            i = parent[i]
        return i

    for i, j in itertools.combinations(range(len(values)), 2):
        if _dist(values[i], values[j]) <= d:
            parent[find(i)] = find(j)
    groups: dict[int, set[int]] = {}
    for i in range(len(values)):
        groups.setdefault(find(i), set()).add(i)
    return {frozenset(g) for g in groups.values() if len(g) > 1}


@pytest.mark.parametrize("d", [0, 3, 6, 12])
def test_duplicates_band_search_finds_what_brute_force_finds(
        registry: Registry, tmp_path: Path, d: int) -> None:
    rng = random.Random(d)
    values = [rng.getrandbits(64) for _ in range(300)]
    for _ in range(150):  # plant near copies at every distance around d
        values.append(_flip(rng.choice(values), *rng.sample(range(64), rng.randrange(0, d + 3))))
    res = call(registry, "duplicates", [_phash_input(str(i), v) for i, v in enumerate(values)],
               tmp_path, {"max_distance": d})
    found = {frozenset(int(m) for m in a.members) for a in res.artifacts}
    assert found == _components(values, d)


def test_duplicates_over_5000_inputs_is_not_quadratic(registry: Registry, tmp_path: Path) -> None:
    rng = random.Random(5)
    values = [rng.getrandbits(64) for _ in range(4900)]
    values += [_flip(values[i], *rng.sample(range(64), 4)) for i in range(100)]
    inputs = [_phash_input(f"{i:05d}", v) for i, v in enumerate(values)]
    t0 = time.monotonic()
    res = call(registry, "duplicates", inputs, tmp_path)
    elapsed = time.monotonic() - t0
    near = [a for a in res.artifacts if a.data["type"] == "near"]
    assert len(near) >= 100 - 2  # planted pairs (two may merge by chance: still found)
    assert all(len(a.members) >= 2 for a in near)
    print(f"duplicates over 5000 inputs: {elapsed:.2f}s")  # shown with -s


# --------------------------------------------------------------------------- video


def test_keyframes_one_per_second(registry: Registry, media: dict[str, Path],
                                  tmp_path: Path) -> None:
    progress: list[float] = []
    res = call(registry, "keyframes", [asset(media["video"], "video")], tmp_path,
               progress=lambda f, _m: progress.append(f))
    assert [a.meta["t"] for a in res.artifacts] == [0.0, 1.0, 2.0]
    assert [a.file for a in res.artifacts] == ["frame-0001.jpg", "frame-0002.jpg",
                                                "frame-0003.jpg"]
    for i, art in enumerate(res.artifacts, start=1):
        assert art.kind == "keyframe" and art.asset == "id-clip.mp4" and art.meta["index"] == i
        with Image.open(tmp_path / art.file) as im:  # 160x120 is below size: kept as is
            assert im.format == "JPEG" and im.size == (art.meta["width"], art.meta["height"])
            assert im.size == (160, 120)
    assert progress[-1] == 1.0


def test_keyframes_sampling_size_and_limit(registry: Registry, media: dict[str, Path],
                                           tmp_path: Path) -> None:
    res = call(registry, "keyframes", [asset(media["video"], "video")], tmp_path / "a",
               {"keyframes_only": False, "fps": 2.0, "size": 80})
    assert [a.meta["t"] for a in res.artifacts] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert {(a.meta["width"], a.meta["height"]) for a in res.artifacts} == {(80, 60)}
    res = call(registry, "keyframes", [asset(media["video"], "video")], tmp_path / "b",
               {"keyframes_only": False, "fps": 0.0, "max_frames": 4})
    assert [a.meta["t"] for a in res.artifacts] == [0.0, 0.1, 0.2, 0.3]


def test_keyframes_apply_the_display_rotation(registry: Registry, media: dict[str, Path],
                                              tmp_path: Path) -> None:
    (art,) = call(registry, "keyframes", [asset(media["rotated"], "video")], tmp_path).artifacts
    # stored 160x120, display matrix: turn 90° clockwise -> shown 120x160, red top-right
    assert (art.meta["width"], art.meta["height"]) == (120, 160)
    with Image.open(tmp_path / art.file) as im:
        r, g, b = im.convert("RGB").getpixel((im.width - 6, 6))
        assert r > 180 and g < 80 and b < 80


def test_keyframes_of_a_non_video_is_bad_input(registry: Registry, media: dict[str, Path],
                                               tmp_path: Path) -> None:
    with pytest.raises(BadInput):
        call(registry, "keyframes", [asset(media["text"], "video")], tmp_path)


def _held(path: Path) -> bool:
    """Whether this process has ``path`` open or mapped (a file of the archive held)."""
    fds = Path("/proc/self/fd")
    opened = set()
    for fd in fds.iterdir():
        try:
            opened.add(os.readlink(fd))
        except OSError:
            pass  # the listing's own descriptor, closed by now
    return str(path) in opened or str(path) in Path("/proc/self/maps").read_text()


def test_an_image_is_loaded_upright_whole_and_lets_go_of_its_file(tmp_path: Path) -> None:
    """``load_image`` against Pillow's own full decode turned by ``exif_transpose``, for
    every EXIF orientation and for formats Pillow reads differently: a mapped raw BMP,
    an animated GIF and a multi-page TIFF (their first frame), 16-bit and transparent
    PNGs, WebP. The pixels are the same and the file is neither open nor mapped after."""
    from PIL import ImageOps

    from mstore.tools.views import load_image

    files = [exif_photo(tmp_path / f"o{o}.jpg", orientation=o) for o in range(1, 9)]
    base = picture(3, (64, 48))
    base.save(tmp_path / "raw.bmp")
    base.save(tmp_path / "x.webp", quality=90)
    base.convert("RGBA").save(tmp_path / "alpha.png")
    base.convert("I;16").save(tmp_path / "deep.png")
    frames = [picture(s, (64, 48)).convert("P") for s in (4, 5)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    frames[0].save(tmp_path / "pages.tif", save_all=True, append_images=frames[1:],
                   compression="tiff_lzw")
    base.save(tmp_path / "one.tif")
    files += [tmp_path / n for n in ("raw.bmp", "x.webp", "alpha.png", "deep.png", "anim.gif",
                                     "pages.tif", "one.tif")]
    for f in files:
        got = load_image(str(f))
        assert not _held(f), f"{f.name} is still open or mapped"
        small = load_image(str(f), size=16)  # a draft where the format has one
        assert small.size[0] >= 16 and small.size[1] >= 12 and not _held(f), f
        with Image.open(f) as im:  # (which may leave the file open: it is the last look)
            want = ImageOps.exif_transpose(im)
        assert (got.mode, got.size, got.tobytes()) == (want.mode, want.size, want.tobytes()), f
    # turned upright: the stored 400x200 with orientation 6 is shown 200x400
    assert load_image(str(tmp_path / "o6.jpg")).size == (200, 400)


def test_frame_source_views(media: dict[str, Path], tmp_path: Path) -> None:
    files = []
    for i in range(4):
        p = tmp_path / f"f{i}.png"
        picture(i, (400, 200)).save(p)
        files.append([i * 0.5, str(p)])
    req = ToolRequest(tool="t", version="1", params={}, out_dir=str(tmp_path),
                      inputs=[asset(media["video"], "video")],
                      views={"frames": {"files": files, "size": 100, "fps": 1.0}})
    src = frame_source(req, req.inputs[0], max_frames=16)
    assert src.policy.mode == "materialized"  # files given: no decoding
    frames = list(src)
    assert [t for t, _ in frames] == [0.0, 1.0]  # fps 1 keeps one per second
    assert all(img.size == (100, 50) for _, img in frames)
    # the view wins over the tool's defaults; the defaults fill what it leaves out
    decode_view = msgspec.structs.replace(req, views={"frames": {"mode": "decode", "size": 64}})
    pol = frame_policy(decode_view, size=320, max_frames=2)
    assert (pol.mode, pol.size, pol.max_frames, pol.keyframes_only) == ("decode", 64, 2, True)
    decoded = list(FrameSource(str(media["video"]), FramePolicy(max_frames=2, size=32)))
    assert [(t, img.size) for t, img in decoded] == [(0.0, (32, 24)), (1.0, (32, 24))]
    with pytest.raises(BadInput):
        frame_policy(ToolRequest(tool="t", version="1", params={}, out_dir="/", inputs=[],
                                 views={"frames": {"mode": "stream"}}))


def test_audio_to_16k_mono_wav(registry: Registry, media: dict[str, Path],
                               tmp_path: Path) -> None:
    (art,) = call(registry, "audio", [asset(media["video"], "video")], tmp_path).artifacts
    assert art.kind == "audio16k" and art.file == "audio.wav"
    with wave.open(str(tmp_path / "audio.wav")) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (16000, 1, 2)
        frames = w.getnframes()
    assert abs(frames / 16000 - 3.0) < 0.1  # AAC priming/padding: a few ms either way
    assert art.meta["sample_rate"] == 16000 and art.meta["duration"] == round(frames / 16000, 3)


def test_audio_of_a_video_without_sound_does_not_apply(registry: Registry,
                                                      media: dict[str, Path],
                                                      tmp_path: Path) -> None:
    """A silent video is valid input that the audio step has nothing to do for: not a bad
    input (a failure), but NotApplicable (recorded "skipped")."""
    with pytest.raises(NotApplicable, match="no audio track"):
        call(registry, "audio", [asset(media["silent"], "video")], tmp_path)


# --------------------------------------------------------------------------- metadata


def test_metadata_of_a_photo(registry: Registry, media: dict[str, Path], tmp_path: Path) -> None:
    (art,) = call(registry, "metadata", [asset(media["jpeg"], "image")], tmp_path).artifacts
    data = art.data
    assert art.kind == "metadata" and art.file is None
    ifd0, gps = data["exif"]["IFD0"], data["exif"]["GPS"]
    assert (ifd0["Make"], ifd0["Model"], ifd0["Orientation"]) == ("TestMake", "TestModel 1", 6)
    assert data["exif"]["Exif"]["DateTimeOriginal"] == "2021:06:01 12:00:00"
    assert gps["GPSLatitudeRef"] == "N" and gps["GPSLatitude"] == [52.0, 31.0, 12.5]
    assert gps["GPSLongitude"] == [13.0, 24.0, 0.0]
    assert "<rating>4</rating>" in data["xmp"]
    assert (data["width"], data["height"]) == (400, 200)  # stored size, as the file says
    # everything survives the trip through JSON (the exec protocol and the store)
    assert msgspec.json.decode(msgspec.json.encode(data)) == data


def test_metadata_of_a_raw_pillow_does_not_open(registry: Registry, tmp_path: Path) -> None:
    """Sony's ARW gives no picture size in IFD0, so Pillow does not open it: its EXIF
    directories are read as the EXIF block they are (and those of CR3, RAF, RW2, ORF
    where each keeps them). A CR2, which it opens, has a JPEG
    thumbnail in IFD1 without a size, which Pillow fails on when it counts frames."""
    from tests.fixtures import raws

    (tmp_path / "c.cr2").write_bytes(raws.cr2())
    (art,) = call(registry, "metadata", [asset(tmp_path / "c.cr2", "image",
                                                "image/x-canon-cr2")], tmp_path).artifacts
    assert art.data["exif"]["IFD0"]["Make"] == "Canon" and "frames" not in art.data
    (tmp_path / "a.arw").write_bytes(raws.arw(orientation=6))
    (art,) = call(registry, "metadata", [asset(tmp_path / "a.arw", "image",
                                                "image/x-sony-arw")], tmp_path).artifacts
    exif = art.data["exif"]
    assert (exif["IFD0"]["Make"], exif["IFD0"]["Model"], exif["IFD0"]["Orientation"]) == (
        "SONY", "ILCE-7M3", 6)
    assert exif["Exif"]["DateTimeOriginal"] == "2023:07:14 18:30:05"
    # a CR3 keeps IFD0, the EXIF and the GPS directory as three TIFF structures; a RAF's
    # EXIF is the camera's JPEG's; ORF and RW2 are TIFF behind magic numbers of their own
    for make, mime, fmt, make_tag, taken in (
            ("cr3", "image/x-canon-cr3", "CR3", "Canon", "2024:02:10 16:45:30"),
            ("raf", "image/x-fuji-raf", "RAF", "FUJIFILM", "2022:05:03 09:15:00"),
            ("rw2", "image/x-panasonic-rw2", "RW2", "Panasonic", "2021:09:18 11:05:00"),
            ("orf", "image/x-olympus-orf", "ORF", "OLYMPUS CORPORATION",
             "2020:12:24 18:00:00")):
        (tmp_path / f"x.{make}").write_bytes(getattr(raws, make)(orientation=8))
        (art,) = call(registry, "metadata", [asset(tmp_path / f"x.{make}", "image", mime)],
                      tmp_path).artifacts
        exif = art.data["exif"]
        assert art.data["format"] == fmt
        assert (exif["IFD0"]["Make"], exif["IFD0"]["Orientation"]) == (make_tag, 8), make
        assert exif["Exif"]["DateTimeOriginal"] == taken, make
        if make == "cr3":
            assert exif["GPS"]["GPSLatitudeRef"] == "N"
            assert exif["GPS"]["GPSLatitude"] == [48.0, 8.0, 30.0]
    # a file that only starts like one is still not an image
    (tmp_path / "b.arw").write_bytes(b"II*\x00" + bytes(100))
    with pytest.raises(BadInput, match="cannot decode image"):
        call(registry, "metadata", [asset(tmp_path / "b.arw", "image", "image/x-sony-arw")],
             tmp_path)


def test_metadata_of_a_video(registry: Registry, media: dict[str, Path], tmp_path: Path) -> None:
    (art,) = call(registry, "metadata", [asset(media["video"], "video")], tmp_path).artifacts
    c, streams = art.data["container"], art.data["streams"]
    assert "mp4" in c["format"] and abs(c["duration"] - 3.0) < 0.2
    assert "major_brand" in c["tags"]
    assert [s["type"] for s in streams] == ["video", "audio"]
    assert (streams[0]["width"], streams[0]["height"]) == (160, 120)
    assert streams[1]["codec"] == "aac" and streams[1]["sample_rate"] == 22050


def test_metadata_json_safety() -> None:
    from PIL.TiffImagePlugin import IFDRational

    mod = _tool_module("metadata")
    assert mod.json_safe(IFDRational(1, 0)) is None
    assert mod.json_safe((IFDRational(1, 4), b"0231")) == [0.25, "0231"]
    assert mod.json_safe(b"\x00\xff\x10") == "00ff10"
    assert mod.json_safe(b"x" * 10_000) == "<10000 bytes>"
    assert mod.json_safe(b"ASCII\x00\x00\x00hello", tag=0x9286) == "hello"
    assert mod.json_safe(float("nan")) is None


def _tool_module(name: str) -> Any:
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"_test_{name}", BUILTIN / name / "tool.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# --------------------------------------------------------------------------- exec + noop


def _wordcount_inputs(media: dict[str, Path], tmp_path: Path) -> tuple[list[ToolInput], Path]:
    other = tmp_path / "other file.txt"  # a space in the path
    other.write_bytes(b"a b c")  # no final newline: 0 lines
    return [asset(media["text"], "text", name="t1"), asset(other, "text", name="t2")], other


def test_wordcount_through_the_exec_protocol(registry: Registry, media: dict[str, Path],
                                             tmp_path: Path) -> None:
    script = registry.get("wordcount").folder / "wordcount.sh"
    assert script.stat().st_mode & stat.S_IXUSR  # git keeps the mode; the runner needs it
    inputs, _ = _wordcount_inputs(media, tmp_path)
    res = call(registry, "wordcount", inputs, tmp_path / "out")
    assert [(a.kind, a.asset, a.data) for a in res.artifacts] == [
        ("wordcount", "t1", {"lines": 4, "words": 6, "bytes": 29}),
        ("wordcount", "t2", {"lines": 0, "words": 3, "bytes": 5}),
    ]
    with pytest.raises(BadInput):  # exit 2
        call(registry, "wordcount", [asset(tmp_path / "missing.txt", "text")], tmp_path / "o")



def test_wordcount_progress_lines_reach_the_callback(registry: Registry, media: dict[str, Path],
                                                     tmp_path: Path) -> None:
    inputs, other = _wordcount_inputs(media, tmp_path)
    for _ in range(5):  # several runs: one lucky run must not pass a racy reader
        seen: list[tuple[float, str]] = []
        call(registry, "wordcount", inputs, tmp_path / "out", progress=lambda f, m, s=seen:
             s.append((f, m)))
        assert seen == [(0.5, f"counted {inputs[0].path}"), (1.0, f"counted {other}")]


def test_wordcount_unreadable_file_message(registry: Registry, tmp_path: Path) -> None:
    for _ in range(5):
        with pytest.raises(BadInput, match="unreadable file: .*missing.txt"):
            call(registry, "wordcount", [asset(tmp_path / "missing.txt", "text")],
                 tmp_path / "o")


def test_noop(registry: Registry, media: dict[str, Path], tmp_path: Path) -> None:
    res = call(registry, "noop", [asset(media["text"], "text")], tmp_path)
    assert [(a.kind, a.asset, a.data) for a in res.artifacts] == [("noop", "id-notes.txt",
                                                                   {"ok": True})]
    with pytest.raises(BadInput):
        call(registry, "noop", [asset(media["text"], "text")], tmp_path, {"fail_on": ".txt"})
    # a batch keeps going: the failing input is reported, the others succeed
    res = call(registry, "noop", [asset(media["text"], "text"), asset(media["png"], "image")],
               tmp_path, {"fail_on": ".txt", "sleep": 0.01})
    assert [a.asset for a in res.artifacts] == ["id-alpha.png"]
    assert list(res.failed) == ["id-notes.txt"]


def test_heic_thumbnail_when_the_encoder_is_available(registry: Registry,
                                                      tmp_path: Path) -> None:
    import pillow_heif

    img = picture(4, (300, 200))
    try:
        heif = pillow_heif.from_pillow(img)
        buf = io.BytesIO()
        heif.save(buf, quality=60)
    except Exception:
        pytest.skip("no HEIF encoder in this pillow-heif build")
    path = tmp_path / "p.heic"
    path.write_bytes(buf.getvalue())
    res = call(registry, "thumbnail", [asset(path, "image")], tmp_path / "o", {"size": 150})
    assert (res.artifacts[0].meta["width"], res.artifacts[0].meta["height"]) == (150, 100)


@pytest.mark.parametrize("make", ["nef", "cr2", "arw", "dng", "cr3", "raf", "rw2", "orf"])
def test_a_camera_raws_thumbnail_is_its_preview_turned_upright(registry: Registry,
                                                               tmp_path: Path,
                                                               make: str) -> None:
    """A raw's own picture is the sensor's data; what a viewer shows is the JPEG preview
    the camera stored in it (green here, 1200x800, red in its stored top-left corner),
    not the small picture in IFD0 (blue) that Pillow reads, nor nothing (CR2, ARW: a
    compression Pillow does not read; CR3, RAF, RW2, ORF: files Pillow does not open).
    Orientation 6 is the raw's (a RAF's, its JPEG's EXIF's): the camera turns neither
    picture."""
    from tests.fixtures import raws

    path = tmp_path / f"photo.{make}"
    path.write_bytes(getattr(raws, make)(orientation=6))
    (art,) = call(registry, "thumbnail", [asset(path, "image")], tmp_path / "t").artifacts
    assert (art.meta["width"], art.meta["height"]) == (171, 256)  # 1200x800 turned, fitted
    with Image.open(tmp_path / "t" / art.file) as im:
        rgb = im.convert("RGB")
        centre, corner = rgb.getpixel((85, 128)), rgb.getpixel((165, 5))
    assert centre[1] > 120 and centre[0] < 60 and centre[2] < 60, centre  # the preview
    assert corner[0] > 180 and corner[1] < 80, corner  # its top-left, turned to top-right


def test_a_raw_without_a_larger_preview_and_other_tiffs_read_as_before(registry: Registry,
                                                                      tmp_path: Path) -> None:
    """A DNG without a preview beyond IFD0's, a plain TIFF whose SubIFD holds a smaller
    JPEG (a scanner's thumbnail), a raw whose preview is damaged: IFD0's picture."""
    from tests.fixtures import raws

    cases = {"bare.dng": raws.dng(None), "scan.tif": raws.tiff_with_thumbnail()}
    damaged = bytearray(raws.nef())
    at = damaged.index(b"\xff\xd8\xff", 1000)  # the preview JPEG
    damaged[at + 200: at + 2000] = bytes(1800)
    cases["damaged.nef"] = bytes(damaged)
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        out = tmp_path / name.replace(".", "-")
        (art,) = call(registry, "thumbnail", [asset(tmp_path / name, "image")], out).artifacts
        with Image.open(out / art.file) as im:
            r, g, b = im.convert("RGB").getpixel((im.width // 2, im.height // 2))
        assert b > 180 and r < 60 and g < 60, (name, (r, g, b))  # IFD0's blue


def hdr_video(path: Path, transfer: int, signal: float, frames: int = 3) -> Path:
    """A grey of HDR ``signal`` (0..1) as phones film it: HEVC in 10 bits, BT.2020
    primaries and matrix, ``transfer`` 18 (HLG) or 16 (PQ)."""
    names = {18: "arib-std-b67", 16: "smpte2084"}
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx265", rate=10)
        s.width, s.height, s.pix_fmt = 64, 48, "yuv420p10le"
        cc = s.codec_context
        cc.color_primaries, cc.color_trc, cc.colorspace = 9, transfer, 9
        s.options = {"x265-params": f"log-level=error:colorprim=bt2020:"
                                    f"transfer={names[transfer]}:colormatrix=bt2020nc"}
        luma = round(64 + signal * 876).to_bytes(2, "little") * (64 * 48)  # limited range
        chroma = (512).to_bytes(2, "little") * (32 * 24)
        for i in range(frames):
            frame = av.VideoFrame(64, 48, "yuv420p10le")
            for plane, data in zip(frame.planes, (luma, chroma, chroma), strict=True):
                plane.update(data)
            frame.pts, frame.time_base = i, Fraction(1, 10)
            out.mux(s.encode(frame))
        out.mux(s.encode(None))
    return path


def test_hdr_video_frames_look_as_on_an_ordinary_screen(registry: Registry,
                                                        tmp_path: Path) -> None:
    """A phone's HDR video (HLG or PQ, BT.2020) converted as it is comes out grey and
    washed out: HLG puts paper white at 75 % of its signal (191 of 255 shown as it is).
    Its keyframes and thumbnail show it as a viewer does on an ordinary screen: HDR
    reference white near white, black black."""
    for name, transfer, signal, (low, high) in (("hlg", 18, 0.75, (235, 255)),
                                                 ("pq", 16, 0.58, (235, 255)),
                                                 ("dark", 18, 0.0, (0, 8))):
        path = hdr_video(tmp_path / f"{name}.mp4", transfer, signal)
        with av.open(str(path)) as c:  # what a decoder gives, converted as it is
            naive = next(c.decode(video=0)).to_image().convert("L").getpixel((32, 24))
        arts = call(registry, "keyframes", [asset(path, "video")], tmp_path / name).artifacts
        (thumb,) = call(registry, "thumbnail", [asset(path, "video")],
                        tmp_path / f"{name}-t").artifacts
        for made in (tmp_path / name / arts[0].file, tmp_path / f"{name}-t" / thumb.file):
            with Image.open(made) as im:
                grey = im.convert("L").getpixel((im.width // 2, im.height // 2))
            assert low <= grey <= high, (name, made.name, grey)
        if signal:
            assert naive < 200, naive  # and without the mapping it would not be


def test_every_tool_reads_a_raw_whose_own_picture_does_not_decode(registry: Registry,
                                                                  tmp_path: Path) -> None:
    """Without asking for previews, a raw whose own picture Pillow does not decode (an
    ARW gives none; real CR2s an old-style JPEG Pillow fails on, though this one's
    decodes) is read from its preview, so faces, embeddings and hashes of it are made; a
    raw whose own picture decodes (NEF: 160x120) is read as it always was."""
    from mstore.tools.views import load_image
    from tests.fixtures import raws

    for make in ("cr2", "arw", "nef", "cr3", "raf", "rw2", "orf"):
        (tmp_path / f"a.{make}").write_bytes(getattr(raws, make)(preview=(1200, 800),
                                                                 orientation=6))
    assert load_image(str(tmp_path / "a.cr2")).size == (800, 1200)
    assert load_image(str(tmp_path / "a.arw"), size=256).size == (400, 600)  # a 1/2 draft
    for make in ("cr3", "raf", "rw2", "orf"):  # Pillow does not open these at all
        assert load_image(str(tmp_path / f"a.{make}")).size == (800, 1200), make
    assert load_image(str(tmp_path / "a.nef")).size == (120, 160)
    (art,) = call(registry, "phash", [asset(tmp_path / "a.arw", "image")], tmp_path).artifacts
    assert art.meta["source"] == "original" and len(art.data["phash"]) == 16
    (tmp_path / "junk.arw").write_bytes(b"II*\x00" + bytes(64))  # no preview: still bad
    with pytest.raises(BadInput):
        load_image(str(tmp_path / "junk.arw"))
