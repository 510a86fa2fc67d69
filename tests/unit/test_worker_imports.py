"""Tools are loaded from their folders like third-party ones: every file under ``workers/``
(tools, UI code, scripts) may use mstore only through its public modules — the ones named
``api`` (``mstore.tools.api``, ``mstore.ui.api``). Anything else would tie a tool to
mstore's internals, which change."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from mstore.tools.registry import BUILTIN

IMPORTERS = ("import_module", "__import__")  # importlib.import_module("mstore.x"), ...


def public(module: str) -> bool:
    return module.rsplit(".", 1)[-1] == "api"


def mstore_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, module) of every mstore module the code imports, wherever the import is
    (module level, inside a function, under ``if TYPE_CHECKING``) and however it is
    spelled (``import a.b``, ``from a import b``, ``importlib.import_module("a.b")``)."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # "from mstore.tools import api" imports mstore.tools.api
            out += [(node.lineno, f"{node.module}.{a.name}"
                     if not public(node.module) else node.module) for a in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name in IMPORTERS and isinstance(node.args[0].value, str):
                out.append((node.lineno, node.args[0].value))
    return [(line, m) for line, m in out if m == "mstore" or m.startswith("mstore.")]


def bad_imports(folder: Path) -> list[str]:
    bad = []
    for path in sorted(folder.rglob("*.py")):
        for line, module in mstore_imports(ast.parse(path.read_text(), str(path))):
            if not public(module):
                bad.append(f"{path.relative_to(folder)}:{line} imports {module}")
    return bad


def test_workers_import_only_public_api_modules() -> None:
    files = {str(f.relative_to(BUILTIN)) for f in BUILTIN.rglob("*.py")}
    assert {"duplicates/tool.py", "duplicates/ui.py", "keyframes/panel.py"} <= files
    assert bad_imports(BUILTIN) == []


def test_the_scan_catches_every_spelling(tmp_path: Path) -> None:
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "ui.py").write_text(
        "import json\n"
        "from mstore.tools.api import BadInput\n"
        "from mstore.ui import api\n"
        "from mstore.ui.api import Page\n"
        "import mstore.tools.views\n"
        "from mstore.services import review\n"
        "from mstore import errors\n"
        "def f():\n"
        "    from mstore.store.reader import Reader\n"
        "    import importlib\n"
        "    return importlib.import_module('mstore.ui.panels')\n"
        "class C:\n"
        "    def m(self):\n"
        "        return __import__('mstore.model.records')\n")
    assert bad_imports(tmp_path) == [
        "t/ui.py:5 imports mstore.tools.views", "t/ui.py:6 imports mstore.services.review",
        "t/ui.py:7 imports mstore.errors", "t/ui.py:9 imports mstore.store.reader.Reader",
        "t/ui.py:11 imports mstore.ui.panels", "t/ui.py:14 imports mstore.model.records"]


def test_the_public_api_modules_are_light() -> None:
    """Importing what tools import does not load the decoders (a UI process, the catalog
    or a planner that lists tools never pays for Pillow or PyAV)."""
    code = ("import sys, mstore.tools.api, mstore.ui.api; "
            "heavy = [m for m in ('PIL', 'av', 'pillow_heif') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr


def test_the_tool_api_offers_the_media_views() -> None:
    """The decoders' helpers reach tools through ``mstore.tools.api`` (loaded on first
    use: the module itself stays light)."""
    from mstore.tools import api, views

    for name in ("decoding", "fit", "load_image", "frame_source", "frame_policy",
                 "FramePolicy", "FrameSource", "register_heif", "to_srgb"):
        assert getattr(api, name) is getattr(views, name), name
        assert name in api.__all__
