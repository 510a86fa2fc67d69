"""Media views handed to tools: video frames (:class:`FrameSource`) and decoded images.

A frame-consuming tool should not care whether its frames come from decoding the
original video now or from files an upstream step already made (``keyframe``
artifacts). The orchestrator states which in the request (``req.views["frames"]``)
and :func:`frame_source` turns that into a :class:`FrameSource`::

    for t, image in frame_source(req, req.inputs[0], size=224, max_frames=8):
        ...

``frames`` view keys (all optional)::

    {"mode": "decode" | "materialized",   # default: materialized when files are given
     "fps": 1.0,             # at most this many frames per second (0 = no limit)
     "size": 320,            # longest side in pixels (never upscaled)
     "max_frames": 16,       # stop after this many (0 = no limit)
     "keyframes_only": true, # decode: only keyframes (~7x cheaper than a full decode)
     "files": [[t, path], ...],  # materialized: frame files with their timestamps
     "times": [t, ...]}      # decode: one frame at each of these times (one per scene)

A step that needs the ``scenes`` step is offered ``times``: the middle of each scene the
scene list found, so it gets one frame per scene (``offer``).

Decoding errors (corrupt or unsupported content) surface as :class:`BadInput`, so
they are not retried; file-system errors (``OSError`` with an errno) stay what
they are and are retried as transient.

Heavy imports (PyAV, Pillow) happen inside functions: importing this module is
cheap, so listing tools or planning runs never pays for them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from mstore.tools.api import BadInput, InputArtifact, ToolInput, ToolRequest
from mstore.tools.hdr import HDR_TRANSFERS
from mstore.tools.hdr import to_sdr as hdr_to_sdr

if TYPE_CHECKING:  # pragma: no cover - typing only
    from PIL.Image import Image

MODES = ("decode", "materialized")
VIEWS = ("frames",)  # the media views a manifest may name (``views``, ``provides``)

_heif_registered = False


@contextmanager
def decoding(what: str) -> Iterator[None]:
    """Turn decoder failures inside the block into BadInput("cannot decode <what>: ...").

    The rule: an ``OSError`` carrying an errno comes from the file system (EIO, a
    vanished mount, EACCES) and may succeed on retry, so it propagates unchanged.
    Pillow and FFmpeg report broken content as exceptions without an errno
    (``UnidentifiedImageError``, "image file is truncated", ``InvalidDataError``,
    ``SyntaxError``, ``struct.error``, ...): retrying those cannot help.
    """
    try:
        yield
    except BadInput:
        raise
    except MemoryError:
        raise  # the machine may just be busy; let it be retried
    except OSError as e:
        if e.errno is not None:
            raise
        raise BadInput(f"cannot decode {what}: {_message(e)}") from e
    except Exception as e:
        raise BadInput(f"cannot decode {what}: {_message(e)}") from e


def _message(e: BaseException) -> str:
    text = decoder_message(e)
    return text if len(text) <= 200 else text[:197] + "..."


_QUOTED_PATH = re.compile(r"\s*'/[^']*'")
_ERRNO = re.compile(r"^\[Errno -?\d+\]\s*")  # also where a library passed FFmpeg's text on


def decoder_message(e: BaseException) -> str:
    """What a decoder's exception says about the content, and only that: FFmpeg's
    errors print as "[Errno 1094995529] Invalid data found when processing input:
    '/archive/x.mp4'" (their ``strerror`` is the message), Pillow's name the file it
    was given ("cannot identify image file '/archive/x.jpg'"). A failure belongs to
    the content, which may be at other paths (or moved since)."""
    strerror = getattr(e, "strerror", None)
    text = strerror if isinstance(strerror, str) and strerror else str(e)
    text = _QUOTED_PATH.sub("", _ERRNO.sub("", text.strip())).strip().removesuffix(":")
    return text or type(e).__name__


# --------------------------------------------------------------------------- images


ORIENTATION = 0x0112  # the EXIF tag
# what turns a picture upright, by its EXIF orientation (as ImageOps.exif_transpose does;
# 1 is upright)
_UPRIGHT = {2: "FLIP_LEFT_RIGHT", 3: "ROTATE_180", 4: "FLIP_TOP_BOTTOM", 5: "TRANSPOSE",
            6: "ROTATE_270", 7: "TRANSVERSE", 8: "ROTATE_90"}


def register_heif() -> None:
    """Let ``PIL.Image.open`` read HEIC/HEIF/AVIF (idempotent)."""
    global _heif_registered
    if not _heif_registered:
        import pillow_heif

        pillow_heif.register_heif_opener()
        _heif_registered = True


def load_image(path: str, *, size: int | None = None, mode: str = "RGB",
               preview: bool = False) -> Image:
    """An image file decoded upright (EXIF orientation applied), loaded into memory.

    With ``size``, decoding uses Pillow's draft mode: a JPEG is decoded at the
    smallest 1/2, 1/4 or 1/8 scale that still covers ``size`` (DCT scaling: ~6x
    less CPU and memory than a full 12 MP decode), a HEIF at its embedded
    thumbnail when that is big enough. The result is then at least ``size`` on its
    shorter side where the original allows, but not shrunk further: callers resize.
    ``mode`` is a hint for the draft ("RGB" or "L"); the returned image's mode is
    whatever the file decodes to (callers convert).

    A camera raw holds the sensor's data, which nothing here decodes, perhaps a picture
    Pillow finds in IFD0 — a 160x120 thumbnail (NEF, PEF), a 256x171 one (DNG) or one in
    a compression Pillow does not read (CR2, ARW); none in a CR3, RAF, RW2 or ORF, which
    Pillow does not open — and the JPEG preview the camera rendered (``rawpreview``).
    Where the file's own picture does not decode, that preview is the picture, turned by
    the raw's orientation; with ``preview``, it is wherever it is larger than IFD0's
    picture. A file without such a preview, or whose preview does not decode, is read
    as without.
    """
    register_heif()
    if preview:
        shown = _raw_preview(path, size, mode)
        if shown is not None:
            return shown
    try:
        return _decoded(path, size, mode)
    except BadInput:
        # a camera raw whose own picture Pillow does not decode (CR2, ARW): its preview,
        # so every tool reads them; a file that decodes is read as it always was
        shown = None if preview else _raw_preview(path, size, mode)
        if shown is None:
            raise
        return shown


def _decoded(path: str, size: int | None, mode: str) -> Image:
    from PIL import Image, ImageOps

    # Leaving the ``with`` closes the file, not the pixels load() decoded: the image
    # is returned as it is unless it must turn, or its pixels are a map of the file
    # (raw BMP/PPM/TIFF: ``readonly``), which would keep the file mapped. Copying
    # every upright picture, as exif_transpose() does, held the pixels twice: an
    # 8000x6000 PNG peaked at 388 MB instead of 205 MB.
    with decoding("image"), Image.open(path) as im:
        if size:
            # draft() is a no-op (returns None) for formats without scaled decoding
            im.draft(mode, (size, size))
        im.load()
        try:
            if im.getexif().get(ORIENTATION, 1) in _UPRIGHT:
                return ImageOps.exif_transpose(im)  # a new image, turned upright
        except Exception:
            pass  # EXIF too broken to read or write an orientation: the pixels are good
        return im.copy() if im.readonly else im


def _raw_preview(path: str, size: int | None, mode: str) -> Image | None:
    """The largest JPEG preview of the camera raw at ``path``, decoded and turned upright;
    None for a file that is not one, has none larger than its own picture or whose
    preview does not decode. (Pillow need not identify the raw: it is not asked to.)"""
    import io
    import os

    from PIL import Image

    from mstore.tools.rawpreview import raw_preview

    with decoding("image"), open(path, "rb") as f:
        found = raw_preview(f, os.fstat(f.fileno()).st_size)
        if found is None:
            return None
        f.seek(found.offset)
        data = f.read(found.length)
    try:
        img = Image.open(io.BytesIO(data), formats=["JPEG"])
        if size:
            img.draft(mode, (size, size))
        img.load()
    except Exception:
        return None  # not a JPEG Pillow reads after all: the file's own picture, as before
    orientation = found.orientation
    if not orientation:  # the camera's own JPEG (RAF): its EXIF says how to turn it
        try:
            orientation = img.getexif().get(ORIENTATION, 1)
        except Exception:
            orientation = 1
    turn = _UPRIGHT.get(orientation)
    return img.transpose(getattr(Image.Transpose, turn)) if turn else img


def raw_exif(path: str) -> dict[str, bytes]:
    """The EXIF of the camera raw at ``path`` as TIFF structures ``PIL.Image.Exif.load``
    reads: "IFD0" the whole block (EXIF and GPS directories reached from IFD0), and
    "Exif" and "GPS" where the raw keeps those as structures of their own (CR3). Empty
    for a file that is not a raw (``rawpreview.exif_tiffs`` says where each keeps it)."""
    import os

    from mstore.tools.rawpreview import exif_tiffs

    with open(path, "rb") as f:
        return exif_tiffs(f, os.fstat(f.fileno()).st_size)


def to_srgb(img: Image) -> Image:
    """``img`` in sRGB, with the colours a colour-managed viewer shows: the ICC profile
    it carries applied (Display P3 from phones, Adobe RGB and ProPhoto from cameras and
    raw editors, a press CMYK). A browser takes an image without a profile for sRGB, so
    a wide-gamut picture shown as it is looks washed out. Images without a profile, in
    modes other than RGB, RGBA and CMYK, or with a profile LittleCMS cannot use (or
    one for another colour space) come back as they are."""
    icc = img.info.get("icc_profile")
    if not icc or img.mode not in _MANAGED:
        return img
    key = (bytes(icc), img.mode)
    if key not in _TO_SRGB:
        if len(_TO_SRGB) >= 64:  # an archive has a handful of profiles; bound the odd one
            _TO_SRGB.clear()
        _TO_SRGB[key] = _srgb_transform(key[0], img.mode)
    transform = _TO_SRGB[key]
    if transform is None:
        return img
    from PIL import ImageCms

    out = ImageCms.applyTransform(img, transform)
    out.info = {k: v for k, v in img.info.items() if k != "icc_profile"}
    return out


_MANAGED = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB"}  # mode -> the mode it becomes
# (profile bytes, mode) -> its transform to sRGB, None when there is none: built once per
# process (~5-20 ms each), applied per picture (~1.5 ms at thumbnail size)
_TO_SRGB: dict[tuple[bytes, str], Any] = {}


def _srgb_transform(icc: bytes, mode: str) -> Any:
    """The transform from ``icc`` to sRGB; None when there is none to make or it would
    change nothing (a profile of sRGB itself, as many cameras embed: applying it costs
    ~1.5 ms a thumbnail for nothing), found by converting a cube of 4096 colours."""
    import io

    from PIL import Image, ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        transform = ImageCms.buildTransform(source, ImageCms.createProfile("sRGB"), mode,
                                            _MANAGED[mode])
        if mode == "CMYK":
            return transform
        cube = Image.frombytes("RGB", (64, 64), bytes(
            v for r in range(8, 256, 16) for g in range(8, 256, 16) for b in range(8, 256, 16)
            for v in (r, g, b))).convert(mode)
        moved = ImageCms.applyTransform(cube, transform)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None  # a damaged profile, or one for another colour space: left as it is
    from PIL import ImageChops

    extrema = ImageChops.difference(cube, moved).getextrema()
    return transform if max(high for _low, high in extrema) > 1 else None


def fit(img: Image, size: int) -> Image:
    """Shrink ``img`` so its longest side is at most ``size`` (never enlarges)."""
    if max(img.size) > size:
        img = img.copy()
        img.thumbnail((size, size))
    return img


# --------------------------------------------------------------------------- frames


@dataclass(frozen=True)
class FramePolicy:
    """How frames are produced; see the module docstring for the meaning of each field."""

    mode: str = "decode"
    fps: float = 1.0
    size: int = 320
    max_frames: int = 16
    keyframes_only: bool = True
    files: tuple[tuple[float, str], ...] = field(default=())
    times: tuple[float, ...] = field(default=())

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise BadInput(f"frames view: mode must be one of {MODES}, not {self.mode!r}")
        if self.size <= 0:
            raise BadInput(f"frames view: size must be positive, not {self.size}")
        if self.fps < 0 or self.max_frames < 0:
            raise BadInput("frames view: fps and max_frames must not be negative")


class FrameSource:
    """Iterate ``(timestamp_seconds, PIL.Image)`` frames of one video under a policy.

    Iteration is lazy: a consumer that needs one frame (a thumbnail) stops after
    decoding one. Each ``iter()`` starts over from the beginning.
    """

    def __init__(self, path: str | None, policy: FramePolicy | None = None,
                 **overrides: Any) -> None:
        self.path = path
        self.policy = replace(policy or FramePolicy(), **overrides)
        if self.policy.mode == "decode" and not path:
            raise BadInput("frames view: decode mode needs the video path")

    def __iter__(self) -> Iterator[tuple[float, Image]]:
        if self.policy.mode == "materialized":
            return self._materialized()
        return self._decoded()

    # -- materialized: frame files made earlier (e.g. upstream keyframe artifacts)

    def _materialized(self) -> Iterator[tuple[float, Image]]:
        p = self.policy
        last: float | None = None
        n = 0
        for t, path in sorted(p.files, key=lambda f: f[0]):
            if p.max_frames and n >= p.max_frames:
                return
            # the same rate limit as decoding, so a policy means the same either way
            if last is not None and p.fps and t - last < 1.0 / p.fps - 1e-6:
                continue
            img = load_image(path, size=p.size).convert("RGB")
            yield float(t), fit(img, p.size)
            last, n = t, n + 1

    # -- decode: frames made now from the original with PyAV

    def _decoded(self) -> Iterator[tuple[float, Image]]:
        if self.policy.times:
            yield from self._decode_at(sorted(self.policy.times))
            return
        n = 0
        for item in self._decode(self.policy.keyframes_only):
            yield item
            n += 1
        if n == 0 and self.policy.keyframes_only:
            # Some streams never flag a keyframe (or the decoder drops all of them
            # under skip_frame); a full decode still gives the consumer its frames.
            yield from self._decode(False)

    def _open(self) -> tuple[Any, Any]:
        """The container and its first video stream (close the container when done)."""
        import av

        assert self.path is not None
        with decoding("video"):
            container = av.open(self.path)
        if not container.streams.video:
            container.close()
            raise BadInput("no video track")
        return container, container.streams.video[0]

    def _decode(self, keyframes_only: bool) -> Iterator[tuple[float, Image]]:
        p = self.policy
        container, stream = self._open()
        try:
            if keyframes_only:
                # the decoder drops everything but keyframes before decoding them
                stream.codec_context.skip_frame = "NONKEY"
            # thread_type stays FFmpeg's default (slice threads): frame threading
            # ("AUTO") measured slower here, in wall and CPU, for keyframe-only decoding
            # of 1080p h264, and it decodes frames ahead that a thumbnail never needs.
            start = stream.start_time or 0
            tb = stream.time_base
            sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
            n, next_t, index = 0, 0.0, 0
            step = 1.0 / p.fps if p.fps else 0.0
            frames = container.decode(stream)
            while not (p.max_frames and n >= p.max_frames):
                with decoding("video"):
                    frame = next(frames, None)
                if frame is None:
                    return
                if keyframes_only and not frame.key_frame:
                    continue  # decoders that ignore skip_frame still flag the frame
                if frame.pts is not None and tb is not None:
                    t = max(0.0, float((frame.pts - start) * tb))
                else:  # no timestamps (raw streams): count frames at the nominal rate
                    rate = stream.average_rate or stream.guessed_rate or 25
                    t = index / float(rate)
                index += 1
                if step and t < next_t - 1e-6:
                    continue
                # next slot on the fps grid after t (not t + step: keeps a steady grid)
                next_t = (math.floor(t / step + 1e-6) + 1) * step if step else 0.0
                with decoding("video"):
                    img = _frame_image(frame, p.size, sar)
                yield t, img
                n += 1
        finally:
            container.close()

    def _decode_at(self, times: list[float]) -> Iterator[tuple[float, Image]]:
        """One frame at each of ``times`` (seconds): the first frame shown at or after it,
        or, past the last frame's start, the last frame (still on screen: a still picture
        with sound, a screen recording whose screen stopped changing). Seeks to the
        keyframe before a time that lies more than a few seconds ahead, then decodes
        forward: a frame between keyframes cannot be had any cheaper."""
        p = self.policy
        container, stream = self._open()
        try:
            start = stream.start_time or 0
            tb = stream.time_base
            sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
            pending = [t for t in times if t >= 0][: p.max_frames or None]
            last_t = -1.0
            passed = None  # (time, frame) of the last frame decoded and not given
            while pending:
                if tb is not None and pending[0] - last_t > SEEK_GAP:
                    with decoding("video"):
                        container.seek(start + int(pending[0] / tb), stream=stream,
                                       backward=True)
                frames = container.decode(stream)
                for frame in frames:
                    if frame.pts is None or tb is None:
                        continue
                    last_t = max(0.0, float((frame.pts - start) * tb))
                    if last_t + 1e-6 < pending[0]:
                        passed = last_t, frame
                        continue
                    passed = None
                    with decoding("video"):
                        img = _frame_image(frame, p.size, sar)
                    yield last_t, img
                    while pending and pending[0] <= last_t + 1e-6:
                        pending.pop(0)  # one frame for times this frame already covers
                    if not pending or pending[0] - last_t > SEEK_GAP:
                        break
                else:
                    # the video ended before the remaining times: its last frame is the
                    # one shown at all of them
                    if passed is not None:
                        with decoding("video"):
                            img = _frame_image(passed[1], p.size, sar)
                        yield passed[0], img
                    return
        finally:
            container.close()


SEEK_GAP = 5.0  # seconds ahead past which seeking beats decoding forward


def _frame_image(frame: Any, size: int, sar: Any = None) -> Image:
    """A decoded frame as an upright RGB image whose longest side is at most ``size``,
    in sRGB (an HDR frame mapped as ``hdr`` says).

    ``sar`` is the stream's sample aspect ratio: anamorphic video (DV, some broadcast
    captures) stores non-square pixels, and the display width is width * sar.
    """
    from PIL import Image as PILImage

    w, h = frame.width, frame.height
    dw = w * float(sar) if sar else float(w)
    rotation = int(frame.rotation or 0) % 360
    scale = min(1.0, size / max(dw, h))
    tw, th = max(2, round(dw * scale)), max(2, round(h * scale))
    # scale in swscale (area filter) while converting to RGB: far cheaper than
    # converting the full-size frame and shrinking it in Pillow
    img = frame.to_image(width=tw, height=th, interpolation="AREA")
    transfer = getattr(frame, "color_trc", None)
    if transfer in HDR_TRANSFERS:  # a phone's HDR video: as an ordinary screen shows it
        img = hdr_to_sdr(img, int(transfer))
    # the display matrix rotates counterclockwise, as PIL's ROTATE_* transposes do
    turn = {90: PILImage.Transpose.ROTATE_90, 180: PILImage.Transpose.ROTATE_180,
            270: PILImage.Transpose.ROTATE_270}.get(rotation)
    return img.transpose(turn) if turn is not None else img


# --------------------------------------------------------------------------- policy


def frame_policy(req: ToolRequest, **defaults: Any) -> FramePolicy:
    """The frames policy for ``req``: ``defaults`` (the tool's wishes, usually its
    params) overlaid with what ``req.views["frames"]`` says (the orchestrator's
    decision wins: it knows whether frames already exist and what a sandbox allows).
    """
    view = req.views.get("frames") or {}
    if not isinstance(view, dict):
        raise BadInput("frames view must be an object")
    known = {"mode", "fps", "size", "max_frames", "keyframes_only", "files", "times"}
    unknown = set(defaults) - known
    if unknown:  # a typo in the calling tool, not in the input
        raise TypeError(f"frame_policy: unknown keys {sorted(unknown)}")
    values: dict[str, Any] = dict(defaults)
    # keys this version does not know are ignored: newer orchestrators may add some
    values.update({k: v for k, v in view.items() if k in known and v is not None})
    files = values.get("files") or ()
    try:
        values["files"] = tuple((float(t), str(path)) for t, path in files)
        values["times"] = tuple(float(t) for t in values.get("times") or ())
        for key, conv in (("fps", float), ("size", int), ("max_frames", int),
                          ("keyframes_only", _bool)):
            if key in values:
                values[key] = conv(values[key])
    except (TypeError, ValueError) as e:
        raise BadInput(f"frames view: {e}") from None
    if "mode" not in values:
        values["mode"] = "materialized" if values["files"] else "decode"
    return FramePolicy(**values)


def _bool(value: Any) -> bool:
    if isinstance(value, str):  # "false" must not be truthy
        return value.strip().lower() in ("1", "true", "yes")
    return bool(value)


def offer(wanted: Iterable[str], provided: dict[str, list[InputArtifact]]) -> dict[str, Any]:
    """What the orchestrator puts in ``req.views`` for a tool whose manifest names the
    views ``wanted``, given the upstream artifacts that materialize each view (the outputs
    of the kind an upstream tool's manifest ``provides`` for it).

    ``frames``: the frame files such artifacts hold — each an image payload with its time
    in ``meta["t"]`` (seconds) — in ``materialized`` mode. A *scene list* instead (an
    artifact with ``meta["scenes"]``, its payload ``{"cuts": [{"start", "end", ...}]}``,
    the ``scenes`` tool's) gives one frame per scene: ``decode`` at the ``times`` in the
    middle of each scene. Without any, ``decode`` (the tool decodes the original)."""
    out: dict[str, Any] = {}
    for view in wanted:
        if view == "frames":
            arts = provided.get(view, [])
            scenes = [a for a in arts if "scenes" in a.meta]
            files = [[float(a.meta.get("t", 0.0)), a.path] for a in arts
                     if a.path and "scenes" not in a.meta]
            if files:
                out[view] = {"mode": "materialized", "files": files}
            elif scenes:
                out[view] = {"mode": "decode", "times": scene_times(scenes[0])}
            else:
                out[view] = {"mode": "decode"}
    return out


def scene_times(art: InputArtifact) -> list[float]:
    """The middle of each scene of a scene list artifact: away from the cut's blends."""
    import json

    doc = art.data
    if doc is None and art.path:
        with open(art.path, "rb") as f:
            doc = json.loads(f.read())
    cuts = (doc or {}).get("cuts") or []
    return [round((float(c["start"]) + float(c["end"])) / 2, 3) for c in cuts]


def frame_source(req: ToolRequest, inp: ToolInput, **defaults: Any) -> FrameSource:
    """Frames of ``inp`` as the request's ``frames`` view (and the tool's defaults) say."""
    policy = frame_policy(req, **defaults)
    return FrameSource(inp.path if policy.mode == "decode" else None, policy)


__all__ = ["VIEWS", "FramePolicy", "FrameSource", "decoding", "fit", "frame_policy",
           "frame_source", "load_image", "offer", "register_heif", "scene_times", "to_srgb"]
