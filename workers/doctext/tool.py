"""doctext: the words of documents, as ``text.json`` (the text payload shared with ``ocr``
and ``transcript`` artifacts; docs/search.md):

    {"version": 1, "lang": null, "source": "pdf" | "text",
     "blocks": [{"text", "page", "box", "start", "end", "conf"}],
     "pages_without_text": [int]}

A PDF gives one block per page that has a text layer (``page`` 1-based); pages whose
text layer is empty are listed in ``pages_without_text`` — scans, which the ``ocr``
tool reads. A text file gives one block per paragraph (lines up to a blank line), decoded
in the encoding the catalog found for it (a BOM's, else UTF-8 when the file is valid
UTF-8, else cp1252 or latin-1: docs/catalog.md). No language is detected (``lang`` is null).
"""

from __future__ import annotations

import codecs
import json
import re
from pathlib import Path

from mstore.tools.api import BadInput, OutputArtifact, Progress, ToolRequest, ToolResult

PAYLOAD = "text.json"
_BLANK_LINES = re.compile(r"\n[ \t\f\v]*\n\s*")


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    if len(req.inputs) != 1:
        raise BadInput(f"doctext is per-asset: expected 1 input, got {len(req.inputs)}")
    inp = req.inputs[0]
    if inp.kind == "document":
        payload = pdf_text(inp.path, int(req.params.get("max_pages", 0)), progress)
    elif inp.kind == "text":
        payload = file_text(inp.path, inp.meta.get("encoding"),
                            int(req.params.get("max_bytes", 16_000_000)))
    else:
        raise BadInput(f"doctext reads documents and text files, not {inp.kind}")
    (Path(req.out_dir) / PAYLOAD).write_text(json.dumps(payload, ensure_ascii=False),
                                             encoding="utf-8")
    chars = sum(len(b["text"]) for b in payload["blocks"])
    meta = {"source": payload["source"], "blocks": len(payload["blocks"]), "chars": chars}
    if payload["source"] == "pdf":
        meta["pages"] = payload["pages"]
        meta["pages_without_text"] = len(payload["pages_without_text"])
    progress(1.0, f"{chars} characters")
    return ToolResult(artifacts=[OutputArtifact(kind="doctext", asset=inp.asset, file=PAYLOAD,
                                                meta=meta)])


def _block(text: str, page: int | None) -> dict:
    return {"text": text, "page": page, "box": None, "start": None, "end": None, "conf": None}


def pdf_text(path: str, max_pages: int, progress: Progress) -> dict:
    """Each page's text layer (pypdf, layout order); empty pages are listed apart."""
    import logging

    from pypdf import PdfReader
    from pypdf.errors import DependencyError, PyPdfError

    # pypdf logs what it repairs and reads on; a page it cannot read is our finding
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    try:
        reader = PdfReader(path)
        if reader.is_encrypted and not reader.decrypt(""):
            raise BadInput("encrypted PDF (needs a password)")
        pages = list(reader.pages)
    except BadInput:
        raise
    except DependencyError as e:  # AES without the cryptography package
        raise BadInput(f"encrypted PDF pypdf cannot open here: {e}") from None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as e:
        raise BadInput(f"unreadable PDF: {e}") from None
    total = len(pages)
    if max_pages:
        pages = pages[:max_pages]
    blocks, empty = [], []
    for n, page in enumerate(pages, start=1):
        try:
            text = page.extract_text() or ""
        except Exception as e:  # noqa: BLE001 - one bad page must not lose the others
            text = ""
            progress(n / max(len(pages), 1), f"page {n}: no text read ({type(e).__name__})")
        text = text.strip()
        if text:
            blocks.append(_block(text, n))
        else:
            empty.append(n)
        if n % 10 == 0:
            progress(min(n / len(pages), 0.99), f"page {n} of {len(pages)}")
    return {"version": 1, "lang": None, "source": "pdf", "blocks": blocks,
            "pages": total, "pages_read": len(pages), "pages_without_text": empty}


def file_text(path: str, encoding: str | None, max_bytes: int) -> dict:
    """A text file's paragraphs, decoded in ``encoding`` (the catalog records one for every
    text file; UTF-8 if there is none), a byte it cannot decode as U+FFFD."""
    try:
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise BadInput(f"unreadable file: {e.strerror or e}") from None
    truncated = len(data) > max_bytes
    data = data[:max_bytes]
    enc = encoding or "utf-8"
    try:
        codecs.lookup(enc)
    except LookupError:
        enc = "utf-8"
    # a cut may split a character: "replace" keeps everything before it
    text = data.decode(enc, errors="replace").lstrip("\ufeff")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = [p.strip() for p in _BLANK_LINES.split(text)]
    out = {"version": 1, "lang": None, "source": "text", "encoding": enc,
           "blocks": [_block(p, None) for p in paragraphs if p]}
    if truncated:
        out["truncated"] = True
    return out
