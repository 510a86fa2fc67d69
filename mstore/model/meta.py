"""Technical metadata of one asset, as probed from its content."""

from __future__ import annotations

import msgspec

KINDS = ("image", "video", "audio", "text", "document", "other")
# Raised when probing learns something it could not tell before (a new kind, a new check),
# so that ``mstore add --verify`` records the better facts of content already cataloged.
# 1: documents, truncated GIF/WebP/HEIC/audio, cp1252, Google Takeout sidecars
# 2: titles, descriptions and keywords (images' EXIF/IPTC/XMP, XMP and Takeout sidecars)
PROBE_VERSION = 6
# Content recorded by probers older than a version is read again only when that version
# can tell more about it: version 2 learned nothing about videos, audio or documents, so
# those stay as recorded by version 1 (``--verify`` writes no new record for them);
# version 3 only reads Sony's raws (ARW), which Pillow does not open, for their EXIF;
# version 4 the other raws Pillow does not open (Canon CR3, Fujifilm RAF, Olympus ORF,
# Panasonic RW2); version 5 content it did not recognise (application/octet-stream:
# icons, Netpbm, PCX, SGI, TGA, QOI and DDS pictures, CAF, AU, WavPack, APE and
# RealMedia audio, Office 97-2003 files, programs and fonts were among it), and MPEG
# transport streams, whose AVCHD recording time it reads from their H.264 stream; version
# 6 the images whose XMP packet it reads (those Pillow opens, and JPEGs), MP4 and MOV
# videos and XMP files, for the capture time and place a packet gives, and the video of
# a motion photo.
_LEARNED_SINCE = {2: frozenset({"image", "application/json", "application/xml"}),
                  3: frozenset({"image/x-sony-arw"}),
                  4: frozenset({"image/x-canon-cr3", "image/x-fuji-raf", "image/x-olympus-orf",
                                "image/x-panasonic-rw2"}),
                  5: frozenset({"application/octet-stream", "video/mp2t"}),
                  6: frozenset({"image/jpeg", "image/png", "image/tiff", "image/webp",
                                "image/gif", "image/heic", "image/heif", "image/avif",
                                "image/x-canon-cr2", "image/x-adobe-dng", "image/x-nikon-nef",
                                "image/x-pentax-pef", "video/mp4", "video/quicktime", "video/x-m4v",
                                "application/xml"})}


def probed_before_news(meta: Meta, probe: int) -> bool:
    """Whether facts recorded by probers of version ``probe`` miss what the current ones
    can tell about this content (so a reread records them again)."""
    if probe < 1:
        return True
    return any(probe < version and (meta.kind in what or meta.mime in what)
               for version, what in _LEARNED_SINCE.items())


TAKEOUT_FORMAT = "google-takeout"  # SidecarFacts.format of a Google Takeout JSON's facts


class SidecarFacts(msgspec.Struct, omit_defaults=True, kw_only=True):
    """What a metadata sidecar file (its content) says about the media file it describes.

    Lent to that file where it has no such fact of its own, when the catalog is read
    (the pairing goes by file names; see mstore/query/related.py).
    """

    format: str  # TAKEOUT_FORMAT or "xmp"
    taken: str | None = None  # as Meta.taken
    gps_lat: float | None = None
    gps_lon: float | None = None
    gps_alt: float | None = None
    # words about the media file, as Meta's (indexed for text: search, never lent)
    title: str | None = None
    description: str | None = None
    keywords: list[str] | None = None


class Meta(msgspec.Struct, omit_defaults=True, kw_only=True):
    """What probing one file's content found.

    Every field but ``kind`` and ``mime`` is optional: a probe fills what the
    format carries. New fields must get defaults so older records still decode.
    """

    kind: str  # one of KINDS, decided by content, never by extension
    mime: str
    # images and videos: displayed size, i.e. after EXIF orientation / rotation
    width: int | None = None
    height: int | None = None
    orientation: int | None = None  # EXIF orientation tag 1..8
    # capture time, "YYYY-MM-DDTHH:MM:SS" local time, plus "+HH:MM" when the offset is known,
    # or "YYYY-MM-DD" when only the day is (an XMP date); a document's: its creation date
    taken: str | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None
    gps_alt: float | None = None
    # "xmp" when the capture time (the place) came from the file's own XMP packet rather
    # than its EXIF or container tags (catalog/probe/xmp.py)
    taken_from: str | None = None
    gps_from: str | None = None
    frames: int | None = None  # animated images: frame count (> 1)
    # a motion photo (a picture with a video appended): its MP4 starts this many bytes
    # before the end of the file (catalog/probe/xmp.py)
    motion_video: int | None = None
    # images: the words people gave them (EXIF, IPTC, embedded XMP; catalog/probe/captions)
    title: str | None = None
    description: str | None = None  # caption
    keywords: list[str] | None = None
    # video / audio
    duration: float | None = None  # seconds
    video_codec: str | None = None
    audio_codec: str | None = None
    fps: float | None = None
    rotation: int | None = None  # degrees, from the display matrix / rotate tag
    sample_rate: int | None = None
    channels: int | None = None
    # text
    encoding: str | None = None
    lines: int | None = None
    # documents
    pages: int | None = None
    text_layer: bool | None = None  # a page has text (fonts), not only pictures of it
    # a metadata sidecar (a Google Takeout JSON, an XMP file): what it says about its media file
    sidecar: SidecarFacts | None = None
    # set when the content could be hashed but not (fully) understood
    error: str | None = None
