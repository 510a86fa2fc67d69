"""The tool registry: every folder with a ``manifest.toml`` on the tool path.

Search order (later entries override earlier ones of the same id): the built-in
``workers/`` (shipped with the package, see ``mstore.shipped``), ``$MSTORE_TOOLS_PATH``
(colon-separated), then the store's ``tools/`` folder.
"""

from __future__ import annotations

import os
from pathlib import Path

from mstore.errors import UsageError
from mstore.shipped import shipped_dir
from mstore.tools.manifest import Manifest, load_manifest

BUILTIN = shipped_dir("workers")


def tool_dirs(store_root: Path | None = None) -> list[Path]:
    dirs = [BUILTIN]
    dirs += [Path(p) for p in os.environ.get("MSTORE_TOOLS_PATH", "").split(":") if p]
    if store_root is not None:
        dirs.append(store_root / "tools")
    return dirs


class Registry:
    def __init__(self, dirs: list[Path]) -> None:
        self.tools: dict[str, Manifest] = {}
        for d in dirs:
            if not d.is_dir():
                continue
            for manifest in sorted(d.glob("*/manifest.toml")):
                m = load_manifest(manifest)
                self.tools[m.id] = m

    @classmethod
    def for_store(cls, store_root: Path | None) -> Registry:
        return cls(tool_dirs(store_root))

    def get(self, tool_id: str) -> Manifest:
        try:
            return self.tools[tool_id]
        except KeyError:
            raise UsageError(f"unknown tool '{tool_id}' (known: "
                             f"{', '.join(sorted(self.tools)) or 'none'})") from None
