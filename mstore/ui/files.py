"""Which file the UI may serve for an asset, and with which content type.

Only an asset's *current* path, resolved under the archive root the store's config names
for it, and only when the real path (every symlink followed) stays inside that root's real
path and is a regular file. The client names an asset id, never a path.
"""

from __future__ import annotations

import os
import re
import stat

from mstore.store.store import Store

ID_RE = re.compile(r"^[0-9a-f]{64}$")

# types a browser may show inline; anything else is sent as an octet-stream download
INLINE_TYPES = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "image/bmp",
    "video/mp4", "video/webm", "video/ogg", "video/quicktime",
    "audio/mpeg", "audio/ogg", "audio/wav", "audio/x-wav", "audio/flac", "audio/mp4",
    "audio/aac", "audio/webm", "text/plain",
})
EXT_TYPES = {
    "jpg": "image/jpeg", "jpeg": "image/jpeg", "png": "image/png", "gif": "image/gif",
    "webp": "image/webp", "avif": "image/avif", "mp4": "video/mp4", "webm": "video/webm",
    "mp3": "audio/mpeg", "ogg": "audio/ogg", "wav": "audio/wav", "flac": "audio/flac",
    "txt": "text/plain", "json": "application/json",
}
BROWSER_IMAGES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif",
                            "image/bmp"})


def safe_type(mime: str) -> tuple[str, bool]:
    """(content type to send, whether it may be shown inline)."""
    mime = (mime or "").split(";")[0].strip().lower()
    if mime in INLINE_TYPES:
        return (mime + "; charset=utf-8" if mime == "text/plain" else mime), True
    return "application/octet-stream", False


def type_of_filename(filename: str) -> str:
    ext = os.path.splitext(filename)[1].lstrip(".").lower()
    return EXT_TYPES.get(ext, "application/octet-stream")


def asset_file(store: Store, aid: str) -> bytes | None:
    """The real path (bytes) of the asset's first current path that resolves inside its
    archive root and is a regular file; None otherwise (unknown id, missing, outside)."""
    if not ID_RE.match(aid):
        return None
    roots = store.config.roots
    with store.reader() as r:
        if r.asset(aid) is None:
            return None
        keys = sorted(r.asset_paths(aid))
        current = [(root, rel) for root, rel in keys
                   if (st := r.path_state(root, rel)) is not None
                   and st.present and st.asset == aid]
    for root, rel in current:
        base = roots.get(root)
        if base is None or rel.startswith(b"/") or b"\0" in rel:
            continue
        real_root = os.path.realpath(os.fsencode(base))
        real = os.path.realpath(os.path.join(real_root, rel))
        if os.path.commonpath([real_root, real]) != real_root or real == real_root:
            continue
        try:
            st = os.stat(real)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            return real
    return None


MAX_MOTION = 256 << 20  # bytes of a motion photo's video served at most


def read_motion_video(path: bytes, back: int) -> bytes | None:
    """The video a motion photo carries: its last ``back`` bytes (``Meta.motion_video``),
    when an MP4 box still starts there (the file may have changed since it was probed)."""
    # imported here: the probers' package is not part of the web server's start-up
    from mstore.catalog.probe.xmp import video_starts

    if not 8 <= back <= MAX_MOTION:
        return None
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or back >= st.st_size:
            return None
        data = os.pread(fd, back, st.st_size - back)
    finally:
        os.close(fd)
    return data if len(data) == back and video_starts(data[:8], back) else None


def read_excerpt(path: bytes, limit: int = 4096) -> str:
    """The start of a text file, decoded leniently (for the text preview)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return ""
        data = os.read(fd, limit)
    finally:
        os.close(fd)
    return data.decode("utf-8", "replace")
