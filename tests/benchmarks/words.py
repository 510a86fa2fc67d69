"""Words benchmarks: the ocr, transcribe and scenes tools in a run against bare loops of the
same model calls over the same files, in the same process and run.

    python -m tests.benchmarks.words [--pictures N] [--clips N] [--videos N] [--keep DIR]

Each tool runs as a run executes it (``DirectRun``: plan, the per-unit executor with its
reuse keys, artifacts and records written to the store; no Temporal, whose cost per unit
tests/benchmarks/runs.py measures). The bare loops load the same model once and call it
on the same files: RapidOCR with the same PP-OCRv5 weights and detector size; faster-
whisper with VAD and beam 5; PySceneDetect's ContentDetector on the PyAV backend. Target
(the words issue): each tool >= 0.9x its bare loop.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

Row = tuple[str, str, str, str, str]
PHRASES = ["Invoice total {n}.50 EUR", "Meeting moved to room {n}", "Grüße aus München {n}",
           "El niño comió piñata {n}", "Le garçon très élève à Noël {n}"]
SPEECH = ["The quick brown fox jumps over the lazy dog number {n}.",
          "My grandmother lived in a small house near the river for {n} years."]


def build(root: Path, pictures: int, clips: int, videos: int) -> None:
    from PIL import Image, ImageDraw, ImageFont

    from tests.unit.test_words_scenes import cut_video

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 28)
    (root / "pictures").mkdir(parents=True)
    for i in range(pictures):
        img = Image.new("RGB", (1280, 720), "white")
        d = ImageDraw.Draw(img)
        for j, phrase in enumerate(PHRASES):
            d.text((40, 40 + 60 * j), phrase.format(n=i * 10 + j), fill="black", font=font)
        img.save(root / "pictures" / f"shot-{i:03d}.png")
    (root / "speech").mkdir()
    for i in range(clips):
        subprocess.run(["espeak-ng", "-v", "en", "-w", str(root / "speech" / f"memo-{i}.wav"),
                        " ".join(s.format(n=i + 2) for s in SPEECH)], check=True)
    (root / "videos").mkdir()
    for i in range(videos):
        # a size of its own: identical files would be one asset, run once
        cut_video(root / "videos" / f"cuts-{i}.mp4", size=(640 + 16 * i, 360), repeat=3)


def bare_ocr(files: list[Path]) -> float:
    from rapidocr_onnxruntime import RapidOCR
    from rapidocr_onnxruntime.ch_ppocr_det.utils import DetPreProcess

    tool = _tool("ocr")
    engine = RapidOCR(det_limit_type="max", **tool.model_files())
    det = engine.text_det
    det.get_preprocess = lambda _wh: DetPreProcess(960, "max", det.mean, det.std)
    engine(str(files[0]))  # warm, as the tool's process is after its first unit
    t = time.perf_counter()
    for f in files:
        engine(str(f))
    return time.perf_counter() - t


def bare_transcribe(files: list[Path]) -> float:
    from faster_whisper import WhisperModel

    model = WhisperModel(str(_tool("transcribe").model_dir()), device="cpu",
                         compute_type="int8")
    list(model.transcribe(str(files[0]), vad_filter=True, beam_size=5)[0])  # warm
    t = time.perf_counter()
    for f in files:
        segments, _ = model.transcribe(str(f), vad_filter=True, beam_size=5)
        list(segments)
    return time.perf_counter() - t


def bare_scenes(files: list[Path]) -> float:
    from scenedetect import ContentDetector, SceneManager, open_video

    t = time.perf_counter()
    for f in files:
        manager = SceneManager()
        manager.add_detector(ContentDetector(threshold=27.0, min_scene_len=15))
        manager.detect_scenes(open_video(str(f), backend="pyav"))
        manager.get_scene_list(start_in_scene=True)
    return time.perf_counter() - t


def _tool(name: str) -> Any:
    """The tool's module as runs load it (one module per process and tool version)."""
    import sys

    from mstore.tools.loader import load_function
    from mstore.tools.registry import Registry

    m = Registry.for_store(None).get(name)
    return sys.modules[load_function(m.folder, "tool:run", m.id, m.version).__module__]


PIPELINES = {
    "bench-ocr": 'tool = "ocr"\nkinds = ["image"]',
    "bench-speech": 'tool = "transcribe"\nkinds = ["audio"]',
    "bench-scenes": 'tool = "scenes"\nkinds = ["video"]',
}


def timed_run(store: Path, pipeline: str, selection: str, params: dict) -> float:
    """Seconds a production run of ``pipeline`` takes over its units. ``params`` must make
    each call's reuse key new (a value that changes nothing for these files), so nothing
    is reused; a sandbox run of one unit first loads the tool and its model in this
    process, as a tool process has them after its first unit."""
    from tests.integration.test_run_reading import DirectRun

    DirectRun(store, pipeline, selection=selection, policy="sandbox", sample="1",
              params={"step": params}).units().close()
    run = DirectRun(store, pipeline, selection=selection, params={"step": params})
    try:
        t = time.perf_counter()
        run.units()
        return time.perf_counter() - t
    finally:
        run.close()


ROUNDS = 2  # tool and bare loop alternate; the best of each (the machine may be shared)


def best_of(tool: Any, bare: Any) -> tuple[float, float]:
    times = [(tool(i), bare()) for i in range(ROUNDS)]
    return min(t for t, _ in times), min(b for _, b in times)


def benchmarks(work: Path, pictures: int = 20, clips: int = 4, videos: int = 4) -> list[Row]:
    from tests.helpers import mstore

    root = work / "archive"
    if not root.exists():
        build(root, pictures, clips, videos)
    store = work / "store"
    shutil.rmtree(store, ignore_errors=True)
    assert mstore("init", "--store", store, root).code == 0
    assert mstore("add", store=store).code == 0
    (store / "pipelines").mkdir()
    for name, step in PIPELINES.items():
        (store / "pipelines" / f"{name}.toml").write_text(
            f'name = "{name}"\n\n[[steps]]\nname = "step"\n{step}\n')
    pics = sorted((root / "pictures").glob("*.png"))
    memos = sorted((root / "speech").glob("*.wav"))
    vids = sorted((root / "videos").glob("*.mp4"))
    audio_s = sum(_seconds(m) for m in memos)
    rows: list[Row] = []
    # each round a value that changes nothing here: pictures have no pages, the clips
    # and videos are far shorter than the window
    t_ocr, t_bare = best_of(
        lambda i: timed_run(store, "bench-ocr", "kind:image", {"max_pages": 50 + i}),
        lambda: bare_ocr(pics))
    rows.append((f"ocr, {len(pics)} screenshots 1280x720", f"{len(pics) / t_ocr:.2f} pictures/s",
                 f"{len(pics) / t_bare:.2f} pictures/s", f"{t_bare / t_ocr:.2f}x", ">= 0.9x"))
    t_sp, t_bare = best_of(
        lambda i: timed_run(store, "bench-speech", "kind:audio", {"max_seconds": 3600.0 + i}),
        lambda: bare_transcribe(memos))
    rows.append((f"transcribe, {len(memos)} clips, {audio_s:.0f} s of speech",
                 f"{audio_s / t_sp:.1f}x real time", f"{audio_s / t_bare:.1f}x real time",
                 f"{t_bare / t_sp:.2f}x", ">= 0.9x"))
    t_sc, t_bare = best_of(
        lambda i: timed_run(store, "bench-scenes", "kind:video", {"max_seconds": 3600.0 + i}),
        lambda: bare_scenes(vids))
    frames = len(vids) * 720
    rows.append((f"scenes, {len(vids)} videos of 720 frames, ~640x360",
                 f"{frames / t_sc:,.0f} frames/s", f"{frames / t_bare:,.0f} frames/s",
                 f"{t_bare / t_sc:.2f}x", ">= 0.9x"))
    rows += phrase_rows(work / "phrases")
    return rows


def phrase_rows(work: Path) -> list[Row]:
    """The issue's quality bar for search: exact phrases found (tests/unit/
    test_words_phrases.py makes the sources and reads them with the real tools)."""
    from mstore.tools.registry import Registry
    from tests.unit.test_words_phrases import phrase_recall

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    recall = phrase_recall(Registry.for_store(None), work)
    what = {"screenshot": "screenshots (ocr)", "photo": "photographed pages (ocr)",
            "pdf": "PDF text layers (doctext)", "speech": "a voice memo (transcribe)"}
    rows: list[Row] = []
    for source, label in what.items():
        total = len(recall.phrases[source])
        found = total - len(recall.missed[source])
        missed = "; missed: " + ", ".join(f'"{p}"' for p in recall.missed[source]) \
            if recall.missed[source] else ""
        rows.append((f"exact phrases found by text:, {label}{missed}", f"{found}/{total}",
                     "-", f"{found / total:.0%}", ">= 95%"))
    return rows


def _seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def main() -> None:
    from tests.benchmarks.__main__ import print_table

    ap = argparse.ArgumentParser()
    ap.add_argument("--pictures", type=int, default=20)
    ap.add_argument("--clips", type=int, default=4)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--keep", type=Path, default=None, help="work directory to keep")
    args = ap.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="mstore-wordsbench-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        print_table(benchmarks(work, args.pictures, args.clips, args.videos))
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
