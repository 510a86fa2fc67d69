"""How the index turns names into LMDB keys (docs/format.md §6.1).

LMDB keys are at most 511 bytes, but a path may be 4096 bytes and a label key or a
collection name is whatever a person typed. Every free-form part of a key goes through
``bounded``: kept as is up to ``CUT`` bytes, else its first ``CUT`` bytes followed by a
16-byte BLAKE3 digest of the whole. So:

- a bounded part is at most ``BOUNDED_MAX`` bytes, and composite keys built from one
  bounded part plus fixed-size ids stay under LMDB's limit;
- a part longer than ``CUT`` bytes is always the hashed form, so a key tells by its length
  alone whether it is hashed (and ``long_keys`` maps it back to the full value);
- a prefix of at most ``CUT`` bytes still selects exactly the keys whose full value
  starts with it (the hashed form keeps the first ``CUT`` bytes), so prefix scans stay
  correct; a longer prefix scans its first ``CUT`` bytes and filters on the full value
  (``scan_prefix``).

Machine-made parts (asset, artifact and run ids, step names, kinds) are not bounded:
they are checked where they are made, and a record that still does not fit is set
aside by the index instead of stopping it.
"""

from __future__ import annotations

import re

CUT = 384
DIGEST = 16
BOUNDED_MAX = CUT + DIGEST
# the name of a records/ lane: a machine id, optionally a lane name (records/<machine>.<lane>)
LANE_RE = re.compile(r"^[0-9a-f]{12}(\.[A-Za-z0-9_-]{1,32})?$")


def bounded(raw: bytes) -> bytes:
    """``raw`` itself when short enough, else its first CUT bytes + a digest of it all."""
    if len(raw) <= CUT:
        return raw
    import blake3  # here: read commands that meet no long key start without it

    return raw[:CUT] + blake3.blake3(raw).digest(length=DIGEST)


def is_hashed(part: bytes) -> bool:
    return len(part) > CUT


def scan_prefix(raw_prefix: bytes) -> tuple[bytes, bool]:
    """The key prefix to scan for entries whose full value starts with ``raw_prefix``, and
    whether each hit must be checked against its full value (prefix longer than CUT)."""
    if len(raw_prefix) <= CUT:
        return raw_prefix, False
    return raw_prefix[:CUT], True


def path_key(root: str, path: bytes) -> bytes:
    """The full (unbounded) name of a path: root name, NUL, path relative to the root.
    Paths never contain NUL, so the first NUL splits it."""
    return root.encode() + b"\0" + path


def split_path_key(full: bytes) -> tuple[str, bytes]:
    root, _, path = bytes(full).partition(b"\0")
    return root.decode(), path


def label_key(asset: str, key: str, about: str) -> bytes:
    return bounded(f"{asset}\0{key}\0{about}".encode())


def collection_key(name: str) -> bytes:
    return bounded(name.encode())
