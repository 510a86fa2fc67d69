"""faces: every face in a photo, or in a video's frames, as one ``faces`` artifact per asset.

Each face: ``box`` (x, y, w, h as fractions of the upright image), ``landmarks`` (dlib's 5
points: eye corners and the base of the nose, fractions too), ``score`` (the detector's),
``size`` (the face's width in pixels of the original), ``sharpness`` (variance of the
Laplacian), ``quality`` (0-1: ``min(1, size / 80) * min(1, sharpness / 100)`` — small or
blurred faces embed badly), ``embedding`` (128 float32, little-endian, base64) and, for a
video, ``t`` (seconds). An asset without a face gets an artifact with ``faces: []``, so
"no face here" is a result, not a gap in coverage.

The models load on the first call and stay for the tool process's life.

Detection: MediaPipe's BlazeFace *full-range* model (``model_selection=1``: faces up to
about 5 m from the camera), whose weights ship inside the ``mediapipe==0.10.21`` wheel.
BlazeFace looks at a 192 x 192 copy of what it is given and finds faces down to about 7%
of it, so a face of 40 px in a 4000 px photo is lost in one look at the whole photo: with
``min_face`` > 0 it also looks at overlapping tiles of the full-resolution image, each
``14 * min_face`` px wide (a 12 MP photo: ~50 tiles at 40 px, ~10 ms each), and boxes found
twice are merged (IoU > 0.3, or mostly inside a better one: the higher score kept).

Landmarks and embedding: dlib's 5-point shape predictor and its ResNet face recognition
model (128-d, same person at L2 distance < 0.6 on LFW), both from the
``face-recognition-models`` wheel. They run on a crop of the full-resolution image around
each face, so the embedding sees the face at its real resolution, not the detector's copy.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from mstore.tools.api import (
    BadInput,
    OutputArtifact,
    Progress,
    ToolRequest,
    ToolResult,
    box_iou,
    decoding,
    fit,
    frame_source,
    load_image,
)

MODEL = "blazeface-full-range+dlib-resnet-v1"
EXTRA = ("the faces tool needs the 'faces' extra: pip install 'mstore[faces]' "
         "and pip install --no-deps mediapipe==0.10.21")
NMS_IOU = 0.3
# BlazeFace (full range) finds faces down to about 7% of what it is shown (measured on
# scikit-image's astronaut pasted small): a tile 14 x min_face wide shows them at that
TILE_PER_FACE = 14
CHIP = 150  # dlib's alignment chip is 150 px: crops are scaled so the face is about that


@dataclass
class Face:
    box: tuple[float, float, float, float]  # x, y, w, h in pixels of the full image
    score: float


class Models:
    """Detector, landmark predictor and embedder: one of each per process."""

    def __init__(self) -> None:
        try:
            import dlib
            import face_recognition_models as weights
            import mediapipe as mp
        except ImportError as e:
            raise BadInput(f"{EXTRA} ({e})") from None
        self.dlib = dlib
        self.detector = mp.solutions.face_detection.FaceDetection(
            model_selection=1, min_detection_confidence=0.3)
        self.landmarks = dlib.shape_predictor(weights.pose_predictor_five_point_model_location())
        self.embedder = dlib.face_recognition_model_v1(weights.face_recognition_model_location())

    def detect(self, full: Any, size: int, min_face: int, min_score: float) -> list[Face]:
        """Faces in ``full`` (an upright RGB PIL image), boxes in its pixels: one pass over
        the whole image at ``size``, then, for faces down to ``min_face`` pixels, passes
        over overlapping tiles of the full image small enough for BlazeFace to see them."""
        import numpy as np

        small = fit(full, size)
        k = full.width / small.width
        found = [Face(tuple(v * k for v in f.box), f.score)  # type: ignore[misc]
                 for f in self._detect_in(np.asarray(small), 0, 0)]
        side = min_face * TILE_PER_FACE
        if min_face > 0 and max(full.size) > side * 1.25:
            rgb = np.asarray(full)
            for x0, y0 in _tiles(full.width, full.height, side):
                found += self._detect_in(rgb[y0:y0 + side, x0:x0 + side], x0, y0)
        return _suppress([f for f in found if f.score >= min_score])

    def _detect_in(self, rgb: Any, x0: int, y0: int) -> list[Face]:
        import numpy as np

        h, w = rgb.shape[:2]
        result = self.detector.process(np.ascontiguousarray(rgb))
        out = []
        for d in result.detections or []:
            bb = d.location_data.relative_bounding_box
            x, y = max(0.0, bb.xmin * w), max(0.0, bb.ymin * h)
            bw, bh = min(w - x, bb.width * w), min(h - y, bb.height * h)
            if bw >= 4 and bh >= 4:
                out.append(Face((x0 + x, y0 + y, bw, bh), float(d.score[0])))
        return out

    def describe(self, rgb: Any, box: tuple[float, float, float, float]
                 ) -> tuple[list[tuple[float, float]], Any, float]:
        """(5 landmarks in ``rgb``'s pixels, the 128-d embedding, sharpness) of one face."""
        import numpy as np
        from PIL import Image

        x, y, w, h = box
        side = max(w, h) * 2.0  # context around the face: the predictor wants the whole head
        cx, cy = x + w / 2, y + h / 2
        H, W = rgb.shape[:2]
        left, top = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
        right, bottom = int(min(W, cx + side / 2)), int(min(H, cy + side / 2))
        crop = rgb[top:bottom, left:right]
        scale = min(1.0, 2 * CHIP / max(w, h))  # shrink big faces; small ones stay as they are
        if scale < 1.0:
            img = Image.fromarray(crop).resize(
                (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))),
                Image.BILINEAR)
            crop = np.asarray(img)
        crop = np.ascontiguousarray(crop)
        fx, fy = (x - left) * scale, (y - top) * scale
        rect = self.dlib.rectangle(int(fx), int(fy), int(fx + w * scale), int(fy + h * scale))
        shape = self.landmarks(crop, rect)
        points = [(left + shape.part(i).x / scale, top + shape.part(i).y / scale)
                  for i in range(shape.num_parts)]
        vector = np.asarray(self.embedder.compute_face_descriptor(crop, shape), dtype=np.float32)
        return points, vector, sharpness(crop, rect)


def sharpness(crop: Any, rect: Any) -> float:
    """Variance of the Laplacian of the face (grey, 96 x 96): about 0-20 for a blurred
    face, hundreds for a sharp one."""
    import numpy as np
    from PIL import Image

    face = crop[max(0, rect.top()):rect.bottom(), max(0, rect.left()):rect.right()]
    if face.size == 0:
        return 0.0
    g = np.asarray(Image.fromarray(face).convert("L").resize((96, 96), Image.BILINEAR),
                   dtype=np.float32)
    lap = (g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4 * g[1:-1, 1:-1])
    return float(lap.var())


def _tiles(w: int, h: int, side: int) -> list[tuple[int, int]]:
    """Top-left corners of tiles of ``side`` px covering w x h, overlapping by a quarter
    (a face cut by one tile's edge is whole in the next)."""
    def starts(n: int) -> list[int]:
        if n <= side:
            return [0]
        count = 1 + -(-(n - side) // (side * 3 // 4))
        return [round(i * (n - side) / (count - 1)) for i in range(count)]
    return [(x, y) for y in starts(h) for x in starts(w)]


def _suppress(faces: list[Face]) -> list[Face]:
    """One box per face: of boxes overlapping more than NMS_IOU, the best-scored one."""
    kept: list[Face] = []
    for f in sorted(faces, key=lambda f: -f.score):
        if all(box_iou(f.box, k.box) <= NMS_IOU and not _inside(f.box, k.box) for k in kept):
            kept.append(f)
    return kept


def _inside(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    """Whether most of box ``a`` lies in ``b`` (a tile's cut-off half face)."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    ih = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return iw * ih > 0.6 * aw * ah


FULL = 4096  # embeddings are taken from the image at most this big (enough for any face)
_models: Any = None


def models() -> Any:
    global _models
    if _models is None:
        _models = Models()
    return _models


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    if len(req.inputs) != 1:
        raise BadInput(f"faces is per-asset: expected 1 input, got {len(req.inputs)}")
    inp = req.inputs[0]
    p = req.params
    size, min_face = int(p.get("size", 1024)), int(p.get("min_face", 40))
    min_score = float(p.get("min_score", 0.6))
    m = models()
    faces: list[dict] = []
    if inp.kind == "video":
        max_frames = int(p.get("max_frames", 8))
        frames = frame_source(req, inp, size=size, max_frames=max_frames, keyframes_only=True)
        n = 0
        for n, (t, img) in enumerate(frames, start=1):
            faces += find(m, img, size, min_face, min_score, t=round(t, 3))
            progress(min(0.99, n / max_frames), f"frame {n}: {len(faces)} faces so far")
        if n == 0:
            raise BadInput("no decodable video frame")
        width, height = inp.meta.get("width"), inp.meta.get("height")
    else:
        full = load_image(inp.path, size=FULL)
        with decoding("image"):
            full = fit(full.convert("RGB"), FULL)
        width, height = full.size
        faces = find(m, full, size, min_face, min_score)
    progress(1.0, f"{len(faces)} faces")
    return ToolResult(artifacts=[OutputArtifact(
        kind="faces", asset=inp.asset,
        data={"model": MODEL, "faces": faces},
        meta={"count": len(faces), "width": width, "height": height})])


def find(m: Any, full: Any, size: int, min_face: int, min_score: float,
         t: float | None = None) -> list[dict]:
    """The faces of one picture, described from its full resolution."""
    import numpy as np

    with decoding("image"):
        full = full.convert("RGB")
        full_rgb = np.asarray(full)
    W, H = full.width, full.height
    out = []
    for f in m.detect(full, size, min_face, min_score):
        box = f.box
        points, vector, sharp = m.describe(full_rgb, box)
        face: dict[str, Any] = {
            "box": [round(box[0] / W, 4), round(box[1] / H, 4), round(box[2] / W, 4),
                    round(box[3] / H, 4)],
            "landmarks": [[round(x / W, 4), round(y / H, 4)] for x, y in points],
            "score": round(f.score, 3),
            "size": round(box[2]),
            "sharpness": round(sharp, 1),
            "quality": round(min(1.0, box[2] / 80) * min(1.0, sharp / 100), 3),
            "embedding": base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii"),
        }
        if t is not None:
            face["t"] = t
        out.append(face)
    out.sort(key=lambda f: (f["box"][0], f["box"][1]))  # left to right: stable numbering
    return out
