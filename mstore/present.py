"""Rendering for people and for scripts, shared by the command line and the web UI.

Human output quotes unusual paths like git does (C-style, in double quotes) so a
name with a newline or an escape sequence cannot forge lines on a terminal.
JSON output is one stable object shape per command (documented in docs/cli.md);
bytes that are not UTF-8 appear as ``\\xNN`` escapes.
"""

from __future__ import annotations

import datetime as dt
import sys

import msgspec

_SAFE = {i for i in range(0x20, 0x7F)} - {ord('"'), ord("\\")}
_ESC = {ord("\n"): "\\n", ord("\t"): "\\t", ord("\r"): "\\r", ord('"'): '\\"', ord("\\"): "\\\\"}


def path_text(path: bytes) -> str:
    """A path for JSON: UTF-8 decoded, undecodable bytes as \\xNN."""
    return path.decode("utf-8", "backslashreplace")


def quote_path(path: bytes) -> str:
    """A path for a terminal: as is when plain, else C-quoted."""
    try:
        text = path.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None and text.isprintable() and '"' not in text and "\\" not in text:
        return text
    out = []
    for ch in path.decode("utf-8", "surrogateescape"):
        o = ord(ch)
        if o in _ESC:
            out.append(_ESC[o])
        elif 0xDC80 <= o <= 0xDCFF:  # an undecodable byte
            out.append(f"\\x{o - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(f"\\u{o:04x}" if o < 0x10000 else f"\\U{o:08x}")
    return '"' + "".join(out) + '"'


def human_size(n: int) -> str:
    x = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(x) < 1000 or unit == "TB":
            return f"{x:.0f} {unit}" if unit == "B" else f"{x:.1f} {unit}"
        x /= 1000
    return f"{n} B"


def duration(seconds: float | None) -> str:
    """"4m05s", "2h07m"; "-" when unknown."""
    if seconds is None:
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def seconds_text(seconds: float) -> str:
    """A short time to the tenth of a second ("0.4 s", "12.0 s"), a longer one as
    ``duration`` has it ("4m05s")."""
    return f"{seconds:.1f} s" if seconds < 60 else duration(seconds)


def ms_text(ms: float) -> str:
    """A time given in milliseconds: "4 ms" under a second, else as ``seconds_text``."""
    return f"{ms:.0f} ms" if ms < 1000 else seconds_text(ms / 1000)


def param_text(value: object) -> str:
    """A run parameter's value as a comparison shows it: "(unset)" where a run has none."""
    return "(unset)" if value is None else str(value)


def taken_text(taken: int, *, date_only: bool = False) -> str | None:
    """The catalog table's ``taken`` column (YYYYmmddHHMMSS as an int, 0: unknown) as
    "YYYY-mm-ddTHH:MM:SS" (or its date); None when unknown."""
    if not taken:
        return None
    date = f"{taken // 10**10:04d}-{taken // 10**8 % 100:02d}-{taken // 10**6 % 100:02d}"
    if date_only:
        return date
    return (f"{date}T{taken // 10**4 % 100:02d}:{taken // 100 % 100:02d}:"
            f"{taken % 100:02d}")


def ms_time(ms: int) -> str:
    return dt.datetime.fromtimestamp(ms / 1000).strftime("%Y-%m-%d %H:%M:%S")


def hlc_time(hlc: int) -> str:
    return ms_time(hlc >> 16)


def emit_json(obj: object) -> None:
    sys.stdout.write(msgspec.json.encode(obj).decode() + "\n")


def emit_json_pretty(obj: object) -> None:
    sys.stdout.write(msgspec.json.format(msgspec.json.encode(obj).decode(), indent=2) + "\n")


# (key, label, unit) of the technical facts shown, in this order, after the dimensions
_META_FACTS = [("taken", "taken", ""), ("camera_make", "make", ""),
               ("camera_model", "model", ""), ("frames", "frames", ""),
               ("duration", "duration", " s"), ("video_codec", "video", ""),
               ("audio_codec", "audio", ""), ("fps", "fps", ""), ("rotation", "rotation", ""),
               ("sample_rate", "sample rate", " Hz"), ("channels", "channels", ""),
               ("encoding", "encoding", ""), ("lines", "lines", ""), ("pages", "pages", "")]


def meta_lines(meta: dict) -> list[tuple[str, str]]:
    """(label, value) lines of an asset's metadata: its dimensions, technical facts (a
    capture time and place with where they came from), then its words. Shared by
    ``mstore show`` and the asset page."""
    out = []
    if meta.get("width"):
        out.append(("dimensions", f"{meta['width']}x{meta['height']}"
                    + (f" (orientation {meta['orientation']})" if meta.get("orientation") else "")))
    for key, label, unit in _META_FACTS:
        if meta.get(key) is not None:
            val = meta[key]
            text = (f"{val:.3f}".rstrip("0").rstrip(".") if isinstance(val, float)
                    else str(val))
            out.append((label, text + unit + (_source(meta, "taken") if key == "taken" else "")))
    if meta.get("motion_video"):
        out.append(("motion", f"motion photo: a {human_size(meta['motion_video'])} video "
                              "appended to the picture"))
    if meta.get("text_layer") is not None:
        out.append(("text layer", "yes" if meta["text_layer"] else "no (pictures of pages)"))
    if meta.get("gps_lat") is not None:
        gps = f"{meta['gps_lat']:.6f}, {meta['gps_lon']:.6f}"
        if meta.get("gps_alt") is not None:
            gps += f" ({meta['gps_alt']:.1f} m)"
        out.append(("gps", gps + _source(meta, "gps")))
    return out + words_lines(meta)


def _source(meta: dict, fact: str) -> str:
    """Where a shown capture time or place came from: "  (exif)", "  (from sidecar ...)",
    "  (from the file name)"."""
    source = meta.get(f"{fact}_source")
    if source == "sidecar":
        return f"  (from sidecar {quote_path(meta['sidecar_path'].encode())})"
    if source == "filename":
        return "  (from the file name)"
    return f"  ({source})" if source else ""


def words_lines(meta: dict) -> list[tuple[str, str]]:
    """(label, value) lines of the words given to a picture: its own title, caption and
    keywords, then those of its sidecars (``meta["sidecar_words"]``, from ``show``), each
    followed by the sidecar it is from. Shared by ``mstore show`` and the asset page."""
    out = []
    sources = [(meta, "")] + [(w, f"  (from sidecar {quote_path(w['path'].encode())})")
                              for w in meta.get("sidecar_words") or ()]
    for words, where in sources:
        for key, label in (("title", "title"), ("description", "caption")):
            if words.get(key):
                out.append((label, words[key] + where))
        if words.get("keywords"):
            out.append(("keywords", ", ".join(words["keywords"]) + where))
    return out
