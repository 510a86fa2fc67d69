"""The catalog table: a columnar snapshot of the index that ``find`` and ``status`` scan.

Decoding one msgspec struct per asset costs ~2 us, too slow for 100k assets in
under 100 ms, so the index keeps this columnar copy (rebuilt whenever the index
changes) where most columns load with ``array.frombytes`` and a query is a few
passes over plain Python sequences.

Rows are sorted in output order: by primary path (root name, then path bytes).
A row is either an asset (``ids[i]`` is its 32-byte id) or an error-only entry
for a path that could not be hashed at all (kind ``error``, id all zero bytes).
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

import msgspec

# one byte per row in ``kinds``
KIND_CODES = {"image": 1, "video": 2, "audio": 3, "text": 4, "other": 5, "error": 6}
KIND_NAMES = {v: k for k, v in KIND_CODES.items()}

# bits in ``flags``
F_GPS = 1  # has GPS coordinates
F_MISSING = 2  # every path of the asset is gone
F_ERROR = 4  # a recorded error (probe error on the asset, or a path error)
F_SIDECAR = 8  # a sidecar (.xmp/.aae) sits next to one of its paths
F_LIVE = 16  # part of a Live Photo pair (image + .mov of the same stem)
F_TAKEN = 32  # has a capture time
F_ANIMATED = 64  # image with more than one frame

NO_ID = bytes(32)


@dataclass
class CatalogTable:
    """Columns, one entry per row (``n`` rows)."""

    ids: bytes = b""  # 32 bytes per row
    kinds: bytes = b""  # KIND_CODES, 1 byte per row
    sizes: array = field(default_factory=lambda: array("q"))  # bytes
    # capture time as an integer YYYYMMDDhhmmss (local time), 0 when unknown
    taken: array = field(default_factory=lambda: array("q"))
    flags: array = field(default_factory=lambda: array("I"))
    # camera: index into ``cameras`` ("Make Model" strings), 0 = unknown ("")
    camera: array = field(default_factory=lambda: array("I"))
    cameras: list[str] = field(default_factory=lambda: [""])
    # paths: every current path (or the last known path of a missing asset),
    # as "root/relative-path" bytes, with ``path_rows[j]`` the row owning ``paths[j]``.
    # A row's paths are contiguous and in sorted order; the first one is its primary path.
    paths: list[bytes] = field(default_factory=list)
    path_rows: array = field(default_factory=lambda: array("I"))
    errors: list[str] = field(default_factory=list)  # per row: error reason or ""

    @property
    def n(self) -> int:
        return len(self.kinds)

    def row_id(self, i: int) -> str | None:
        raw = self.ids[32 * i : 32 * i + 32]
        return None if raw == NO_ID else raw.hex()

    # -- serialization: one msgpack map of raw column bytes ------------------
    def to_bytes(self) -> bytes:
        return msgspec.msgpack.encode(
            {
                "ids": self.ids,
                "kinds": self.kinds,
                "sizes": self.sizes.tobytes(),
                "taken": self.taken.tobytes(),
                "flags": self.flags.tobytes(),
                "camera": self.camera.tobytes(),
                "cameras": self.cameras,
                "paths": b"\0".join(self.paths),
                "npaths": len(self.paths),
                "path_rows": self.path_rows.tobytes(),
                "errors": "\0".join(self.errors),
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> CatalogTable:
        d = msgspec.msgpack.decode(data)

        def arr(code: str, raw: bytes) -> array:
            a = array(code)
            a.frombytes(raw)
            return a

        n = len(d["kinds"])
        return cls(
            ids=d["ids"],
            kinds=d["kinds"],
            sizes=arr("q", d["sizes"]),
            taken=arr("q", d["taken"]),
            flags=arr("I", d["flags"]),
            camera=arr("I", d["camera"]),
            cameras=d["cameras"],
            paths=d["paths"].split(b"\0") if d["npaths"] else [],
            path_rows=arr("I", d["path_rows"]),
            errors=d["errors"].split("\0") if n else [],
        )
