"""Technical metadata of one asset, as probed from its content."""

from __future__ import annotations

import msgspec

KINDS = ("image", "video", "audio", "text", "document", "other")
# Raised when probing learns something it could not tell before (a new kind, a new check),
# so that ``mstore add --verify`` records the better facts of content already cataloged.
# 1: documents, truncated GIF/WebP/HEIC/audio, cp1252, Google Takeout sidecars
PROBE_VERSION = 1


class SidecarFacts(msgspec.Struct, omit_defaults=True, kw_only=True):
    """What a metadata sidecar file (its content) says about the media file it describes.

    Lent to that file where it has no such fact of its own, when the catalog is read
    (the pairing goes by file names; see mstore/query/related.py).
    """

    format: str  # "google-takeout"
    taken: str | None = None  # as Meta.taken
    gps_lat: float | None = None
    gps_lon: float | None = None
    gps_alt: float | None = None


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
    # capture time, "YYYY-MM-DDTHH:MM:SS" local time, plus "+HH:MM" when the offset is known
    # (a document's: its creation date)
    taken: str | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    gps_lat: float | None = None
    gps_lon: float | None = None
    gps_alt: float | None = None
    frames: int | None = None  # animated images: frame count (> 1)
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
    # a metadata sidecar (a Google Takeout JSON): what it says about its media file
    sidecar: SidecarFacts | None = None
    # set when the content could be hashed but not (fully) understood
    error: str | None = None
