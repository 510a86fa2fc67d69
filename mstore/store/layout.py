"""Where things live inside a store directory (see docs/format.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STORE_DIRNAME = ".mstore"


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "config.toml"

    @property
    def objects(self) -> Path:
        return self.root / "objects"

    @property
    def records(self) -> Path:
        return self.root / "records"

    @property
    def hooks(self) -> Path:
        return self.root / "hooks"

    @property
    def local(self) -> Path:
        return self.root / "local"

    @property
    def index(self) -> Path:
        return self.local / "index"

    @property
    def locks(self) -> Path:
        return self.local / "locks"

    @property
    def tmp(self) -> Path:
        return self.local / "tmp"

    @property
    def quarantine(self) -> Path:
        return self.local / "quarantine"

    @property
    def machine_id(self) -> Path:
        return self.local / "machine-id"

    @property
    def watch_state(self) -> Path:
        return self.local / "watch"
