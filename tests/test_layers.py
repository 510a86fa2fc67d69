"""The layers of mstore (docs/architecture.md), checked over every import of every module,
including the ones inside functions: dependencies point one way only."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.helpers import REPO

# lower numbers are lower layers; a package may import its own modules and lower layers
RANK = {
    "errors": 0, "model": 0,
    "store": 1, "shipped": 1,
    "query": 2, "tools": 2, "hooks": 2, "present": 2,
    "catalog": 3, "runs": 3, "sync": 3,
    "orchestration": 4,
    "services": 5,
    "ui": 6, "cli": 6,
    "__main__": 7,
}
ALSO_ALLOWED = {("cli", "ui")}  # `mstore ui` starts the web server; the UI never imports the CLI
# the index's internals: only the store itself reads LMDB, through these
STORE_INTERNALS = {"mstore.store.index", "mstore.store.index_runs", "mstore.store.index_links",
                   "mstore.store.path_cache",
                   "mstore.store.keys", "mstore.store.scan", "mstore.store.index_file"}
# modules outside store/ that still read the index's internals, each on its way to
# store.reader(); the list only shrinks
NOT_YET: set[str] = set()


def _modules() -> Iterator[tuple[str, Path]]:
    for path in sorted((REPO / "mstore").rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        yield name, path


def _imports(path: Path, module: str) -> Iterator[tuple[str, int]]:
    """(imported module, line) of every import, top-level or inside a function."""
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            yield base, node.lineno
            for alias in node.names:  # `from a import b`: b may be a module of a
                yield f"{base}.{alias.name}", node.lineno


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "mstore"


def test_every_package_has_a_layer() -> None:
    layers = {_layer(m) for m, _ in _modules()} - {"mstore"}
    assert layers <= RANK.keys(), f"packages without a layer: {sorted(layers - RANK.keys())}"


def test_dependencies_point_one_way() -> None:
    wrong = []
    for module, path in _modules():
        src = _layer(module)
        if src == "mstore":
            continue
        for target, line in _imports(path, module):
            if not target.startswith("mstore.") or target == "mstore.__version__":
                continue  # `from mstore import __version__`, and other libraries
            dst = _layer(target)
            if dst == src or (src, dst) in ALSO_ALLOWED:
                continue
            if RANK.get(dst, 99) >= RANK[src]:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {src} imports {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_only_the_store_reads_the_index_tables() -> None:
    wrong = []
    for module, path in _modules():
        if _layer(module) == "store" or module in NOT_YET:
            continue
        for target, line in _imports(path, module):
            if target in STORE_INTERNALS:
                wrong.append(f"{path.relative_to(REPO)}:{line}: imports {target} (use "
                             "store.reader())")
    assert not wrong, "\n".join(wrong)


def test_the_exceptions_are_still_needed() -> None:
    """NOT_YET only shrinks: a module that no longer needs its exception loses it."""
    still = set()
    for module, path in _modules():
        if module in NOT_YET and any(t in STORE_INTERNALS for t, _ in _imports(path, module)):
            still.add(module)
    assert still == NOT_YET, f"remove from NOT_YET: {sorted(NOT_YET - still)}"
