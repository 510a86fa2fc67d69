"""The ``ocr`` tool on pictures and PDFs drawn here with Pillow: the real model reads them
(one engine per test module, as a tool process keeps it)."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from mstore.tools.api import NotApplicable, ToolInput, ToolRequest
from mstore.tools.registry import Registry
from mstore.tools.runner import run_tool

FONTS = Path("/usr/share/fonts/truetype/dejavu")
LINES = ["Invoice total 42.50 EUR", "Grüße aus München", "El niño comió piñata",
         "Le garçon très élève à Noël"]


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.for_store(None)


def ocr(registry: Registry, path: Path, out: Path, mime: str = "image/png",
        kind: str = "image", **params: Any) -> tuple[dict, dict]:
    m = registry.get("ocr")
    out.mkdir(parents=True, exist_ok=True)
    req = ToolRequest(tool="ocr", version=m.version, params=m.resolve_params(params),
                      inputs=[ToolInput(asset="a" * 64, kind=kind, mime=mime, path=str(path))],
                      out_dir=str(out))
    result = run_tool(m, req, None)
    (art,) = result.artifacts
    assert art.kind == "ocr" and art.file == "ocr.json"
    return json.loads((out / art.file).read_text()), art.meta


def screenshot(path: Path, font_name: str = "DejaVuSans.ttf", size: int = 30) -> Path:
    """Black text on white, as an app's window shows it."""
    font = ImageFont.truetype(str(FONTS / font_name), size)
    img = Image.new("RGB", (1000, 320), "white")
    d = ImageDraw.Draw(img)
    for i, line in enumerate(LINES):
        d.text((30, 30 + 70 * i), line, fill="black", font=font)
    img.save(path)
    return path


def photo(path: Path, *, turn: int, orientation: int | None = None) -> Path:
    """Printed text photographed: a grey-beige sheet tilted by 4°, soft focus, JPEG; the
    camera held ``turn`` degrees off, the EXIF orientation tag set to ``orientation``."""
    font = ImageFont.truetype(str(FONTS / "DejaVuSans.ttf"), 40)
    img = Image.new("RGB", (1100, 500), (205, 200, 185))
    d = ImageDraw.Draw(img)
    for i, line in enumerate(LINES):
        d.text((60, 60 + 90 * i), line, fill=(40, 40, 50), font=font)
    img = img.rotate(4, expand=True, fillcolor=(120, 110, 100)).filter(
        ImageFilter.GaussianBlur(0.7))
    img = img.rotate(turn, expand=True)
    exif = Image.Exif()
    if orientation:
        exif[0x0112] = orientation
    img.save(path, quality=85, exif=exif)
    return path


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, a, b).ratio()


def check_screenshot_text(texts: list[str]) -> None:
    """Every line, in reading order; English and digits exactly, and the issue's bar for
    screenshots (character similarity >= 0.95) per line: the recogniser still misreads an
    ß or an ë now and then (docs/words.md)."""
    assert len(texts) == len(LINES) and texts[0] == LINES[0]
    assert similarity("\n".join(texts), "\n".join(LINES)) >= 0.95, texts


def test_a_screenshot_is_read_with_boxes_around_each_line(
        registry: Registry, tmp_path: Path) -> None:
    payload, meta = ocr(registry, screenshot(tmp_path / "shot.png"), tmp_path / "out")
    assert payload["version"] == 1 and payload["source"] == "ocr" and payload["lang"] is None
    check_screenshot_text([b["text"] for b in payload["blocks"]])
    assert meta["lines"] == 4 and meta["rotation"] == 0
    for i, b in enumerate(payload["blocks"]):
        x0, y0, x1, y1 = b["box"]
        # each line was drawn at (30, 30 + 70 i), about 36 px high
        assert abs(x0 - 30) <= 8 and abs(y0 - (30 + 70 * i)) <= 10
        assert 30 <= y1 - y0 <= 50 and x1 > x0 + 200
        assert b["page"] is None and b["start"] is None and b["end"] is None
        assert 0.5 <= b["conf"] <= 1.0


@pytest.mark.parametrize("font_name, size", [("DejaVuSans.ttf", 26), ("DejaVuSans.ttf", 36),
                                             ("DejaVuSerif.ttf", 32)])
def test_screenshots_in_other_fonts_and_sizes(registry: Registry, tmp_path: Path,
                                              font_name: str, size: int) -> None:
    payload, _ = ocr(registry, screenshot(tmp_path / "s.png", font_name, size), tmp_path / "o")
    check_screenshot_text([b["text"] for b in payload["blocks"]])


def test_a_photo_stored_sideways_is_read_upright_by_its_exif_orientation(
        registry: Registry, tmp_path: Path) -> None:
    # stored turned 90° counterclockwise; orientation 6 says "turn 90° clockwise to view"
    payload, meta = ocr(registry, photo(tmp_path / "p.jpg", turn=90, orientation=6),
                        tmp_path / "out")
    texts = [b["text"] for b in payload["blocks"]]
    assert meta["rotation"] == 0 and meta["width"] > meta["height"]  # upright by EXIF alone
    check_photo_text(texts)


@pytest.mark.parametrize("turn, expected", [(180, 180), (90, 90)])
def test_a_photo_lying_sideways_or_upside_down_is_turned_by_its_text(
        registry: Registry, tmp_path: Path, turn: int, expected: int) -> None:
    payload, meta = ocr(registry, photo(tmp_path / "p.jpg", turn=turn), tmp_path / "out")
    assert meta["rotation"] == expected
    assert meta["width"] > meta["height"]  # the upright page is landscape
    check_photo_text([b["text"] for b in payload["blocks"]])
    for b in payload["blocks"]:  # boxes are in the upright picture's pixels
        x0, y0, x1, y1 = b["box"]
        assert 0 <= x0 < x1 <= meta["width"] and 0 <= y0 < y1 <= meta["height"]
        assert x1 - x0 > 2 * (y1 - y0)  # lines run across the upright page


def check_photo_text(texts: list[str]) -> None:
    """Every line in reading order; the issue's bar for photographed text is a character
    similarity of 0.85. English words and digits come out exactly."""
    assert len(texts) == len(LINES)
    assert texts[0] == LINES[0]
    assert similarity("\n".join(texts), "\n".join(LINES)) >= 0.85, texts
    assert "München" in texts[1] and "très élève à Noël" in texts[3]


def test_a_picture_without_text_is_skipped_before_any_model_runs(
        registry: Registry, tmp_path: Path) -> None:
    Image.new("RGB", (1200, 900), (120, 160, 200)).save(tmp_path / "sky.png")
    payload, meta = ocr(registry, tmp_path / "sky.png", tmp_path / "out")
    assert payload["blocks"] == [] and meta["skipped"] == "blank" and meta["lines"] == 0


def test_a_textless_photo_stops_after_the_detector(registry: Registry, tmp_path: Path) -> None:
    img = Image.new("RGB", (900, 600), (90, 120, 60))
    d = ImageDraw.Draw(img)
    for i in range(6):  # hills: sharp edges, but no writing
        d.ellipse((i * 150 - 100, 300 + 20 * i, i * 150 + 300, 900), fill=(60 + 20 * i, 140, 70))
    grass = Image.effect_noise((900, 600), 40).convert("RGB")  # texture: many edges
    Image.blend(img, grass, 0.3).save(tmp_path / "hills.jpg", quality=90)
    payload, meta = ocr(registry, tmp_path / "hills.jpg", tmp_path / "out")
    assert payload["blocks"] == [] and meta["skipped"] == "no text"


def text_pdf(path: Path, text: str) -> Path:
    """A one-page PDF with a real text layer (Helvetica), written by hand."""
    stream = f"BT /F1 24 Tf 72 700 Td ({text}) Tj ET".encode()
    objs = [b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>",
            b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
            b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % i + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objs) + 1, xref)
    path.write_bytes(bytes(out))
    return path


def mixed_pdf(picture: Path, path: Path) -> Path:
    """A two-page PDF: a typed page ("Typed letter", a text layer), then ``picture`` as a
    page that is one image, as a scanner writes it (its parts are left beside ``path``)."""
    from pypdf import PdfReader, PdfWriter

    scan = path.with_name(f"{path.stem}-scan.pdf")
    Image.open(picture).save(scan, resolution=150, quality=95)  # Pillow: a page that is one image
    writer = PdfWriter()
    for part in (text_pdf(path.with_name(f"{path.stem}-text.pdf"), "Typed letter"), scan):
        for page in PdfReader(part).pages:
            writer.add_page(page)
    with open(path, "wb") as f:
        writer.write(f)
    return path


def test_the_image_only_page_of_a_pdf_is_read_and_its_text_page_left_to_doctext(
        registry: Registry, tmp_path: Path) -> None:
    mixed_pdf(screenshot(tmp_path / "shot.png"), tmp_path / "mixed.pdf")
    payload, meta = ocr(registry, tmp_path / "mixed.pdf", tmp_path / "out",
                        mime="application/pdf", kind="document")
    check_screenshot_text([b["text"] for b in payload["blocks"]])
    assert {b["page"] for b in payload["blocks"]} == {2}
    assert meta["pages"] == 2 and meta["ocr_pages"] == [2]


def test_a_pdf_whose_pages_all_have_text_is_not_applicable(
        registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(NotApplicable, match="text layer"):
        ocr(registry, text_pdf(tmp_path / "t.pdf", "Hello"), tmp_path / "out",
            mime="application/pdf", kind="document")


def test_sandbox_sized_input_still_reads_a_screenshot(registry: Registry,
                                                      tmp_path: Path) -> None:
    # the shipped sandbox params: a smaller picture and detector input
    payload, _ = ocr(registry, screenshot(tmp_path / "shot.png"), tmp_path / "out",
                     max_side=1024, det_side=640)
    assert [b["text"] for b in payload["blocks"]][0] == LINES[0]


def test_the_engine_is_loaded_once_per_process(registry: Registry, tmp_path: Path) -> None:
    import sys

    from mstore.tools.loader import load_function

    m = registry.get("ocr")
    module = sys.modules[load_function(m.folder, "tool:run", m.id, m.version).__module__]
    ocr(registry, screenshot(tmp_path / "a.png"), tmp_path / "a")
    engine = module._engine
    ocr(registry, screenshot(tmp_path / "b.png", size=34), tmp_path / "b")
    assert engine is not None and module._engine is engine


def test_a_large_photo_decoded_small_still_gets_boxes_in_its_own_pixels(
        registry: Registry, tmp_path: Path) -> None:
    """A JPEG at least twice the model's input is decoded at a fraction of its size (draft):
    the boxes are still in the full picture's pixels."""
    font = ImageFont.truetype(str(FONTS / "DejaVuSans.ttf"), 64)
    img = Image.new("RGB", (2700, 2700), "white")
    d = ImageDraw.Draw(img)
    for i, line in enumerate(LINES):
        d.text((100, 200 + 200 * i), line, fill="black", font=font)
    img.save(tmp_path / "poster.jpg", quality=90)
    payload, meta = ocr(registry, tmp_path / "poster.jpg", tmp_path / "out", max_side=1280)
    assert (meta["width"], meta["height"]) == (2700, 2700)
    check_screenshot_text([b["text"] for b in payload["blocks"]])
    for i, b in enumerate(payload["blocks"]):
        x0, y0, x1, y1 = b["box"]
        assert abs(x0 - 100) <= 16 and abs(y0 - (200 + 200 * i)) <= 24, b["box"]
        assert 60 <= y1 - y0 <= 110


def test_a_scanned_page_fed_in_upside_down_is_read_and_says_so(registry: Registry,
                                                                tmp_path: Path) -> None:
    Image.open(screenshot(tmp_path / "shot.png")).rotate(180).save(
        tmp_path / "scan.pdf", resolution=150, quality=95)
    payload, meta = ocr(registry, tmp_path / "scan.pdf", tmp_path / "out",
                        mime="application/pdf", kind="document")
    check_screenshot_text([b["text"] for b in payload["blocks"]])
    assert meta["turned_pages"] == {"1": 180} and meta["ocr_pages"] == [1]
