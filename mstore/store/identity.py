"""The store's identity: one id shared by every copy of a store (``[store] id``).

Task queues on a Temporal server are named after it (orchestration/settings.py), so a
worker on another host, serving its own copy of the store at another path, serves the
same queues as the copy that started the run, and two stores that are not copies of each
other never share a queue.

``init`` writes a random id into config.toml, which ``clone`` copies. A store made
before ids existed gets one the first time it is needed: derived from its oldest record
segment (the first segment of the lane whose first record is the oldest), which every
copy of the store holds, so copies made before (rsync, a copy of objects/ and records/)
derive the same id on their own; the id is then written into ``[store]`` of config.toml.
A store without any record yet has no history to derive from: it gets a random id.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from mstore.store.segments import read_segment, segment_name
from mstore.store.storenames import is_lane

ID_RE = re.compile(r"^[0-9a-z][0-9a-z-]{0,63}$")  # it goes into task queue names
ID_BYTES = 12


def new_id() -> str:
    return os.urandom(ID_BYTES).hex()


def derived_id(records: Path) -> str:
    """An id every copy of an older store computes alike: from its oldest segment."""
    oldest: tuple[int, str] | None = None
    try:
        lanes = [e.name for e in os.scandir(records) if e.is_dir() and is_lane(e.name)]
    except FileNotFoundError:
        lanes = []
    for lane in sorted(lanes):
        first = records / lane / segment_name(1)
        if not first.exists():
            continue
        try:
            recs = read_segment(first)
        except Exception:  # noqa: BLE001 - a damaged segment: fsck's to report
            continue
        if recs and (oldest is None or (recs[0].hlc, lane) < oldest):
            oldest = (recs[0].hlc, lane)
    if oldest is None:
        return new_id()
    import blake3  # here: every command reads config.toml, few derive an id

    return blake3.blake3(f"{oldest[1]}/{oldest[0]}".encode()).hexdigest()[:2 * ID_BYTES]


def record_id(config: Path, store_id: str) -> bool:
    """Write ``id = "..."`` into the ``[store]`` table of config.toml, keeping the rest
    of the file as the person wrote it. False when the file cannot be written here (a
    read-only store: the id is derived again next time, alike)."""
    try:
        text = config.read_text()
    except OSError:
        return False
    line = f'id = "{store_id}"'
    m = re.search(r"(?m)^\[store\][ \t]*(#.*)?$", text)
    if m:
        new = text[:m.end()] + "\n" + line + text[m.end():]
    else:
        new = f"[store]\n{line}\n\n" + text
    tmp = config.with_name(f".{config.name}.{os.getpid()}")
    try:
        tmp.write_text(new)
        os.replace(tmp, config)
    except OSError:
        tmp.unlink(missing_ok=True)
        return False
    return True
