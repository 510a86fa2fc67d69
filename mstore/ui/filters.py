"""Jinja2 filters of the UI's templates (the formatting itself is ``mstore.present``'s,
shared with the command line)."""

from __future__ import annotations

from mstore import present


def human_size(n: int | None) -> str:
    return "-" if n is None else present.human_size(n)


def ms_time(ms: int | None) -> str:
    return present.ms_time(ms) if ms else "-"


def path_text(p: bytes | str) -> str:
    return present.path_text(p) if isinstance(p, bytes) else p


FOLDER_CHARS = 32  # a tile's folder line: about what fits under a thumbnail


def file_name(path: str) -> str:
    """The last part of a "root/dir/name" path."""
    return path.rsplit("/", 1)[-1]


def folder(path: str) -> str:
    """The directory of a "root/dir/name" path (the root name first)."""
    return path.rsplit("/", 1)[0] if "/" in path else ""


def short_folder(path: str, limit: int = FOLDER_CHARS) -> str:
    """The directory of a "root/dir/name" path, cut at the front when longer than
    ``limit`` ("…/2019/vacation"; at a "/" when one is near the cut): the nearest
    folders are what tell two same-named files apart."""
    d = folder(path)
    if len(d) <= limit:
        return d
    tail = d[-(limit - 1):]
    slash = tail.find("/")
    return "…" + (tail[slash:] if 0 <= slash <= limit // 3 else tail)


MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December")


def month_name(date: str) -> str:
    """A timeline heading for a "YYYY-MM-DD" capture date: "June 2019"; "" (no capture
    time) as such."""
    if len(date) < 7:
        return "no capture time"
    return f"{MONTHS[int(date[5:7]) - 1]} {date[:4]}"


FILTERS = {"human_size": human_size, "ms_time": ms_time, "fmt_secs": present.duration,
           "seconds": present.seconds_text, "ms": present.ms_text,
           "param": present.param_text,
           "path_text": path_text, "file_name": file_name, "folder": folder,
           "short_folder": short_folder, "month_name": month_name}
