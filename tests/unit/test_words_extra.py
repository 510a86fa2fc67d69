"""The words tools without their libraries, and their models kept per process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from tests.helpers import REPO

SCRIPT = textwrap.dedent("""
    import sys
    for name in ("rapidocr_onnxruntime", "faster_whisper", "scenedetect"):
        sys.modules[name] = None  # the 'words' extra is not installed
    from mstore.tools.api import BadInput, ToolInput, ToolRequest
    from mstore.tools.registry import Registry
    from mstore.tools.runner import run_tool

    reg = Registry.for_store(None)
    for tool, kind, path in (("ocr", "image", sys.argv[1]), ("transcribe", "audio", sys.argv[2]),
                             ("scenes", "video", sys.argv[2])):
        m = reg.get(tool)
        req = ToolRequest(tool=tool, version=m.version, params=m.resolve_params({}),
                          out_dir=sys.argv[3], inputs=[ToolInput(asset="a" * 64, kind=kind,
                                                                 mime="", path=path)])
        try:
            run_tool(m, req, None)
        except BadInput as e:
            print(e)
""")


def test_without_the_extra_each_tool_fails_with_one_line_naming_it(tmp_path: Path) -> None:
    img = Image.new("RGB", (400, 120), "white")
    ImageDraw.Draw(img).text((10, 40), "Some words here", fill="black")
    img.save(tmp_path / "t.png")
    (tmp_path / "a.wav").write_bytes(b"RIFF")  # never read: the library is missing first
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path / "t.png"),
                          str(tmp_path / "a.wav"), str(tmp_path)], cwd=REPO,
                         capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        f"{tool} needs the 'words' extra: pip install 'mstore[words]'"
        for tool in ("ocr", "transcribe", "scenes")]


@pytest.mark.parametrize("tool, kind, mime, data", [
    ("ocr", "image", "image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 200),
    ("ocr", "document", "application/pdf", b"%PDF-1.4\n" + b"garbage " * 50),
    ("transcribe", "audio", "audio/mpeg", b"ID3" + b"\x00" * 500),
    ("scenes", "video", "video/mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 500),
])
def test_a_corrupt_file_is_bad_input_with_one_line(tmp_path: Path, tool: str, kind: str,
                                                   mime: str, data: bytes) -> None:
    """Not retried, and the message a person reads in `mstore show RUN` is one line."""
    from mstore.tools.api import BadInput, ToolInput, ToolRequest
    from mstore.tools.registry import Registry
    from mstore.tools.runner import run_tool

    (tmp_path / "bad").write_bytes(data)
    m = Registry.for_store(None).get(tool)
    req = ToolRequest(tool=tool, version=m.version, params=m.resolve_params({}),
                      out_dir=str(tmp_path), inputs=[ToolInput(
                          asset="a" * 64, kind=kind, mime=mime, path=str(tmp_path / "bad"))])
    with pytest.raises(BadInput) as e:
        run_tool(m, req, None)
    assert str(e.value).startswith("cannot decode") and "\n" not in str(e.value)
