"""msgspec decoders made on first use.

Building a decoder evaluates its types' annotations (strings, under ``from __future__
import annotations``: each is compiled and evaluated once), about 0.2 ms per struct type.
A module that makes its decoders at import pays that for every type it might ever
decode, in every command; ``mstore status`` decodes three of them.
"""

from __future__ import annotations

from typing import Any

import msgspec


class LazyDecoder:
    """Like ``msgspec.msgpack.Decoder(type_)``, built on first use.

    Once built, ``decode`` is the built decoder's own method (an instance attribute
    shadowing the class's), so calls cost what they cost on a plain decoder. A loop
    binds ``get().decode``, not ``decode`` before the first call, which stays the
    forwarding method."""

    def __init__(self, type_: Any) -> None:
        self._type = type_
        self._dec: msgspec.msgpack.Decoder | None = None

    def get(self) -> msgspec.msgpack.Decoder:
        if self._dec is None:
            self._dec = msgspec.msgpack.Decoder(self._type)
            self.decode = self._dec.decode  # type: ignore[method-assign]
        return self._dec

    def decode(self, raw: Any) -> Any:
        return self.get().decode(raw)
