"""The doctext tool, called the way runs call it (registry + runner), on PDFs and text
files written here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mstore.tools.api import BadInput, ToolInput, ToolRequest
from mstore.tools.registry import Registry
from mstore.tools.runner import run_tool
from tests.fixtures.archive import make_pdf


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.for_store(None)


def doctext(registry: Registry, path: Path, kind: str, out: Path, meta: dict | None = None,
            **params: object) -> dict:
    m = registry.get("doctext")
    out.mkdir(exist_ok=True)
    req = ToolRequest(tool=m.id, version=m.version, params=m.resolve_params(params),
                      inputs=[ToolInput(asset="a1", kind=kind, mime="", path=str(path),
                                        meta=meta or {})], out_dir=str(out))
    result = run_tool(m, req, None)
    (art,) = result.artifacts
    assert art.kind == "doctext" and art.file == "text.json"
    return json.loads((out / art.file).read_text(encoding="utf-8"))


def test_pdf_text_layer_page_by_page_and_pages_without_one(registry: Registry,
                                                           tmp_path: Path) -> None:
    pdf = tmp_path / "letter.pdf"
    pdf.write_bytes(make_pdf(texts=["Dear Anna,\nthe garden is blooming", None,
                                    "See you at the caf\u00e9 on Friday"]))
    p = doctext(registry, pdf, "document", tmp_path / "out")
    assert p["version"] == 1 and p["source"] == "pdf" and p["lang"] is None
    assert [(b["page"], b["text"]) for b in p["blocks"]] == [
        (1, "Dear Anna,\nthe garden is blooming"), (3, "See you at the caf\u00e9 on Friday")]
    assert p["pages_without_text"] == [2]
    assert all(b["box"] is None and b["start"] is None and b["conf"] is None
               for b in p["blocks"])


def test_max_pages_reads_the_first_pages_only(registry: Registry, tmp_path: Path) -> None:
    pdf = tmp_path / "long.pdf"
    pdf.write_bytes(make_pdf(texts=[f"page number {i}" for i in range(1, 8)]))
    p = doctext(registry, pdf, "document", tmp_path / "out", max_pages=3)
    assert [b["page"] for b in p["blocks"]] == [1, 2, 3]
    assert p["pages"] == 7 and p["pages_read"] == 3


@pytest.mark.parametrize(("encoding", "bom", "meta_encoding"), [
    ("latin-1", b"", "latin-1"),
    ("utf-16-le", b"\xff\xfe", "utf-16-le"),
    ("utf-16-be", b"\xfe\xff", "utf-16-be"),
    ("utf-8", b"\xef\xbb\xbf", "utf-8-sig"),
])
def test_text_files_in_their_encoding_one_block_per_paragraph(
        registry: Registry, tmp_path: Path, encoding: str, bom: bytes,
        meta_encoding: str | None) -> None:
    text = ("Cr\u00e8me br\u00fbl\u00e9e for the caf\u00e9\r\nsecond line\r\n\r\n\r\n"
            "Na\u00efve end\r\n")
    f = tmp_path / "note.txt"
    f.write_bytes(bom + text.encode(encoding))
    meta = {"encoding": meta_encoding} if meta_encoding else {}
    p = doctext(registry, f, "text", tmp_path / "out", meta)
    assert p["source"] == "text"
    assert [b["text"] for b in p["blocks"]] == [
        "Cr\u00e8me br\u00fbl\u00e9e for the caf\u00e9\nsecond line", "Na\u00efve end"]


def test_a_damaged_pdf_is_bad_input(registry: Registry, tmp_path: Path) -> None:
    pdf = tmp_path / "cut.pdf"
    pdf.write_bytes(make_pdf(texts=["some words"])[:60])
    with pytest.raises(BadInput, match="PDF"):
        doctext(registry, pdf, "document", tmp_path / "out")


def test_a_pdf_that_needs_a_password_is_bad_input(registry: Registry, tmp_path: Path) -> None:
    import io

    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(make_pdf(texts=["secret words"]))).pages:
        writer.add_page(page)
    writer.encrypt(user_password="s3cret", algorithm="RC4-128")
    pdf = tmp_path / "locked.pdf"
    with open(pdf, "wb") as f:
        writer.write(f)
    with pytest.raises(BadInput, match="needs a password"):
        doctext(registry, pdf, "document", tmp_path / "out")
