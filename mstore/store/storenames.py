"""The exact names of the files mstore writes under ``objects/`` and ``records/``
(docs/format.md sections 1, 3.1, 5 and 6.1). Readers accept these and nothing else, so a
sync tool's conflict copy or temp file beside them (``foreign.py``) is never read as one.

Patterns are ASCII and matched whole (``fullmatch``): ``\\d`` would take other scripts'
digits and ``$`` a trailing newline.
"""

from __future__ import annotations

import re

# a records/ lane: a machine id, optionally a lane name (records/<machine>.<lane>)
LANE_RE = re.compile(r"[0-9a-f]{12}(\.[A-Za-z0-9_-]{1,32})?")
SEGMENT_RE = re.compile(r"([0-9]{10})\.seg")
PACK_RE = re.compile(r"[0-9a-f]{64}\.pack")
OBJECT_ID_RE = re.compile(r"[0-9a-f]{64}")
FANOUT_RE = re.compile(r"[0-9a-f]{2}")  # objects/<ab>/<cd>/


def is_lane(name: str) -> bool:
    return LANE_RE.fullmatch(name) is not None


def segment_seq(name: str) -> int | None:
    """The sequence number a segment file name carries; None for any other name."""
    m = SEGMENT_RE.fullmatch(name)
    return int(m.group(1)) if m else None


def is_segment_name(name: str) -> bool:
    return SEGMENT_RE.fullmatch(name) is not None


def is_pack_name(name: str) -> bool:
    return PACK_RE.fullmatch(name) is not None


def is_fanout(name: str) -> bool:
    return FANOUT_RE.fullmatch(name) is not None


def is_loose_name(name: str, prefix: str) -> bool:
    """Whether ``name`` is a loose object's name in ``objects/<prefix[:2]>/<prefix[2:]>/``."""
    return OBJECT_ID_RE.fullmatch(name) is not None and name[:4] == prefix
