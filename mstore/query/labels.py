"""``label:`` terms: assets by a person's marks (the index's labels table).

``label:KEY`` matches assets whose newest mark under KEY (whatever it was made
about) has a non-empty value; ``label:KEY=VALUE`` those whose newest value is VALUE.
Keys and values compare case-insensitively, like every term.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mstore.store.store import Store


class Labels:
    """The labels of one store, read once on the first ``label:`` term."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._newest: dict[tuple[bytes, str], tuple[int, str]] | None = None

    def _load(self) -> dict[tuple[bytes, str], tuple[int, str]]:
        if self._newest is None:
            newest: dict[tuple[bytes, str], tuple[int, str]] = {}
            with self.store.reader() as r:
                for lab in r.all_labels():
                    k = (bytes.fromhex(lab.asset), lab.key.lower())
                    if k not in newest or newest[k][0] < lab.hlc:
                        newest[k] = (lab.hlc, lab.value.lower())
            self._newest = newest
        return self._newest

    def assets(self, value: str) -> set[bytes]:
        """Ids (32 bytes) of the assets a ``label:`` term value matches."""
        key, eq, want = value.partition("=")
        return {aid for (aid, k), (_, v) in self._load().items()
                if k == key and v and (not eq or v == want)}
