"""Jinja2 filters of the UI's templates."""

from __future__ import annotations


def human_size(n: int | None) -> str:
    if n is None:
        return "-"
    from mstore.cli.output import human_size as hs

    return hs(n)


def ms_time(ms: int | None) -> str:
    if not ms:
        return "-"
    from mstore.cli.output import ms_time as mt

    return mt(ms)


def fmt_secs(s: float | None) -> str:
    if s is None:
        return "-"
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def path_text(p: bytes | str) -> str:
    return p.decode("utf-8", "backslashreplace") if isinstance(p, bytes) else p


FILTERS = {"human_size": human_size, "ms_time": ms_time, "fmt_secs": fmt_secs,
           "path_text": path_text}
