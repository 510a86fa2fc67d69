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

CUT = 384
DIGEST = 16
BOUNDED_MAX = CUT + DIGEST


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
    """labels: bounded(asset NUL key NUL about)."""
    return bounded(f"{asset}\0{key}\0{about}".encode())


def label_prefix(asset: str) -> bytes:
    """The prefix of one asset's labels (an asset id is short: never cut by bounded)."""
    return f"{asset}\0".encode()


def collection_key(name: str) -> bytes:
    """collections: bounded(name)."""
    return bounded(name.encode())


# -- composite keys of the index's databases (mstore/store/index*.py) -------------------
# Each builder's docstring is the key layout; the parsers below are its inverses. Ids are
# hex text except where noted; NUL separates parts that may vary in length.

def run_key(run: str) -> bytes:
    """runs: run id."""
    return run.encode()


def unit_key(run: str, step: str = "", unit: str = "") -> bytes:
    """units, run_failures: run NUL step NUL unit. With an empty ``unit`` (and ``step``),
    the prefix of one step's (one run's) entries."""
    if not step:
        return f"{run}\0".encode()
    return f"{run}\0{step}\0{unit}".encode()


def split_unit_key(key: bytes) -> tuple[str, str, str]:
    run, step, unit = bytes(key).decode().split("\0", 2)
    return run, step, unit


def unit_status_key(run: str, unit: str) -> bytes:
    """unit_status: run NUL unit."""
    return f"{run}\0{unit}".encode()


def kind_pending_key(unit: str, run: str = "") -> bytes:
    """kind_pending: unit NUL run (with no run: the prefix of one unit's entries)."""
    return f"{unit}\0{run}".encode()


def artifact_key(art_id: str) -> bytes:
    """artifacts, dropped: artifact id."""
    return art_id.encode()


def asset_art_key(subject: str, kind: str = "", art_id: str = "") -> bytes:
    """asset_arts: asset id (32 raw bytes) + kind NUL artifact id (prefixes: the asset's
    entries; of one kind)."""
    key = bytes.fromhex(subject)
    if kind:
        key += kind.encode() + b"\0" + art_id.encode()
    return key


def asset_art_id(key: bytes) -> str:
    return bytes(key)[32:].split(b"\0", 1)[1].decode()


def run_art_key(run: str, hlc: int | None = None, art_id: str = "") -> bytes:
    """run_arts: run NUL hlc (8 bytes, big-endian) + artifact id, so a run's results sort
    in the order they were made (with no hlc: the prefix of the run's entries)."""
    key = run.encode() + b"\0"
    if hlc is not None:
        key += hlc.to_bytes(8, "big") + art_id.encode()
    return key


def run_art_id(run: str, key: bytes) -> str:
    return bytes(key)[len(run.encode()) + 9:].decode()


def member_key(first: str, art_id: str = "") -> bytes:
    """reuse (reuse key NUL artifact id) and derived (input id NUL artifact id): an id and
    the artifacts filed under it (with no artifact: the prefix of its entries)."""
    return f"{first}\0{art_id}".encode()


def member_id(first: str, key: bytes) -> str:
    return bytes(key)[len(first) + 1:].decode()


def asset_path_key(aid: str, path_part: bytes) -> bytes:
    """asset_paths: asset id (32 raw bytes) + the bounded path key."""
    return bytes.fromhex(aid) + path_part


def history_key(path_part: bytes, hlc: int | None = None, machine: str = "") -> bytes:
    """history: bounded path key NUL hlc (8 bytes, big-endian) + machine (with no hlc: the
    prefix of one path's events)."""
    key = path_part + b"\0"
    if hlc is not None:
        key += hlc.to_bytes(8, "big") + machine.encode()
    return key


def split_history_key(path_part: bytes, key: bytes) -> tuple[int, str] | None:
    rest = bytes(key)[len(path_part) + 1:]
    if len(rest) < 8:
        return None
    return int.from_bytes(rest[:8], "big"), rest[8:].decode()


def segment_key(lane: str, seq: int) -> bytes:
    """segments: lane / sequence number (10 digits)."""
    return f"{lane}/{seq:010d}".encode()


def dirty_key(kind: bytes, part: bytes) -> bytes:
    """dirty: b"a" + asset id (32 raw bytes), or b"e" + a bounded path key."""
    return kind + part
